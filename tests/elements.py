"""Elements for tests only: they misbehave on purpose (fail on chosen frames, run slowly)."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np

from vpipe.pipeline.api.element import Element, Params
from vpipe.pipeline.api.frame import Detections, Frame
from vpipe.pipeline.api.registry import ELEMENTS, register
from vpipe.stages.anonymize import Anonymize, AnonymizeParams


class FailParams(Params):
    frames: list[int] = []
    every: int = 0


class Flaky(Element):
    """Raises on the chosen frame indices, like a detector hitting a CUDA error."""

    Params = FailParams
    thread_safe = True

    def __call__(self, frame: Frame) -> Frame:
        p = self.params
        if frame.index in p.frames or (p.every and frame.index % p.every == 0):
            raise RuntimeError(f"injected failure on frame {frame.index}")
        return frame


class SlowParams(Params):
    ms: float = 5.0


class Slow(Element):
    """Sleeps (releasing the GIL like real inference) and records concurrency."""

    Params = SlowParams
    thread_safe = True
    active = 0
    peak = 0
    lock = threading.Lock()

    def __call__(self, frame: Frame) -> Frame:
        with Slow.lock:
            Slow.active += 1
            Slow.peak = max(Slow.peak, Slow.active)
        # Vary the time so parallel workers finish out of order.
        time.sleep(self.params.ms / 1000 * (1 + (frame.index % 3)))
        with Slow.lock:
            Slow.active -= 1
        return frame


class HangParams(Params):
    frame: int = 5
    seconds: float = 10.0


class Hang(Element):
    """Blocks on one frame, like a wedged GPU driver."""

    Params = HangParams

    def __call__(self, frame: Frame) -> Frame:
        if frame.index == self.params.frame:
            time.sleep(self.params.seconds)
        return frame


class BoxParams(Params):
    box: list[float] = [10, 10, 60, 40]
    label: str = "plate"
    #: frame indexes to report the box on (None: every frame).
    frames: list[int] | None = None


class FixedBox(Element):
    """A 'detector' that reports one known box on every frame (for anonymizer tests)."""

    Params = BoxParams
    thread_safe = True
    provides = ("detections",)

    def class_names(self) -> tuple[str, ...]:
        return (self.params.label,)

    def __call__(self, frame: Frame) -> Frame:
        if self.params.frames is not None and frame.index not in self.params.frames:
            return frame
        found = Detections(np.array([self.params.box], np.float32), np.array([0.9], np.float32),
                           np.array([1]), (self.params.label,)).with_data(source=self.name)
        frame.detections = frame.detections + found
        return frame


class BatchFlaky(Flaky):
    """Flaky, and takes batches (records their sizes); a batch with a bad frame raises whole."""

    sizes: list[int] = []

    def batch_error(self, size: int) -> str | None:
        return None

    # One engine run costs the same for one frame or a batch, and more than decoding a frame, so
    # frames pile up behind it and batches form (with 5 ms on batches only, a fast decoder could
    # keep the stage on its single-frame path for a whole run: a CI flake).
    def __call__(self, frame: Frame) -> Frame:
        time.sleep(0.02)
        return super().__call__(frame)

    def run_batch(self, frames: list[Frame]) -> list[Frame]:
        BatchFlaky.sizes.append(len(frames))
        time.sleep(0.02)
        return [Flaky.__call__(self, frame) for frame in frames]


class FaultyAnonymizeParams(AnonymizeParams):
    #: frames passed on as they came, the audit saying so (the anonymizer off).
    skip: list[int] = []
    #: frames whose audit lists the covered boxes while the pixels stay as they came (a lie).
    unblur: list[int] = []


class FaultyAnonymize(Anonymize):
    """An anonymizer with faults injected on chosen frames, for `vpipe verify` to catch."""

    Params = FaultyAnonymizeParams

    def __call__(self, frame: Frame) -> Frame | None:
        if frame.index in self.params.skip:
            frame.audit[self.name] = {"covered": 0, "boxes": []}
            return frame
        before = frame.image
        frame = super().__call__(frame)
        if frame is not None and frame.index in self.params.unblur:
            frame.image = before
        return frame


class KillOnceParams(Params):
    marker: str
    frame: int = 10


class KillOnce(Element):
    """SIGKILLs its own process on frame `frame`, once: the marker file says it happened already
    (a worker lost mid-file, for the Ray batch's retries)."""

    Params = KillOnceParams

    def __call__(self, frame: Frame) -> Frame:
        if frame.index != self.params.frame:
            return frame
        try:  # O_EXCL: of two workers at this frame at once, only one may claim the kill
            claim = os.open(self.params.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return frame
        os.write(claim, str(os.getpid()).encode())
        os.close(claim)
        os.kill(os.getpid(), signal.SIGKILL)


def in_ray_worker() -> None:
    """Ray's worker setup hook (`elements.in_ray_worker`): importing this module registered them."""


for name, cls in {"test_kill_once": KillOnce, "test_faulty_anonymize": FaultyAnonymize, "test_batch_flaky": BatchFlaky, "test_flaky": Flaky, "test_slow": Slow, "test_box": FixedBox, "test_hang": Hang}.items():
    if name not in ELEMENTS:
        cls.listed = False  # test doubles: not in `vpipe elements`
        register(name)(cls)
