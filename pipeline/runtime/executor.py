"""One step of a run, the same whichever runner schedules it (threads, or `--sequential`).

* A source's captures become frames: numbered across the run, timed, with the source's own
  audit entries (a live stream's gap marker).
* An element runs on a frame or a batch under its error policy (`on_error`): `stop` the run,
  `skip_frame`, or `mark` the frame as faulty and pass it on (anonymizers then fail closed).
  Errors and skips are counted, service times recorded.
* The first fatal error is kept (the one to report) and stops capture; what is in flight
  still drains, and each element is flushed and closed once, its errors reported too.

The runners only decide where frames go next: queues between threads, or a plain loop.
"""

from __future__ import annotations

import itertools
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from vpipe.pipeline.api.errors import StageError, first_line
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.runtime.graph import Graph, Node
from vpipe.pipeline.runtime.nodes import element_of, source_of
from vpipe.pipeline.runtime.stats import RunStats

Emit = Callable[[Frame], None]


class Executor:
    def __init__(self, graph: Graph, stats: RunStats):
        self.graph = graph
        self.stats = stats
        self.error: StageError | None = None
        #: set on the first fatal error (or a signal): the sources stop capturing.
        self.stopping = threading.Event()
        #: a second Ctrl-C: elements stop computing and only drain; sinks still close.
        self.abort = threading.Event()
        self._failed: set[str] = set()
        self._seq = itertools.count()
        #: per element, the start time and frame index of each call in progress (by thread).
        self._calls: dict[str, dict[int, tuple[float, int]]] = {name: {} for name in graph.nodes}

    # -- sources ------------------------------------------------------------------------------

    def run_source(self, node: Node, max_frames: int | None, emit: Emit) -> None:
        """Capture until the source ends, `max_frames`, or a stop; then close the source."""
        with self._failing(node):
            for frame in self._captures(node, max_frames):
                emit(frame)
        self.close(node)

    def _captures(self, node: Node, max_frames: int | None) -> Iterator[Frame]:
        captures = iter(source_of(node).capture())
        count = 0
        while not self.stopping.is_set() and not (max_frames and count >= max_frames):
            start = time.perf_counter()
            captured = next(captures, None)
            if captured is None:
                return
            now = time.perf_counter()
            frame = Frame(captured.image, node.name, count, captured.pts, now, time.time(),
                          seq=next(self._seq), name=captured.name, clip=captured.clip)
            if captured.audit:  # e.g. a live source's gap marker on the first frame after it
                frame.audit.update(captured.audit)
            self.stats.record(node.name, now - start, count)
            count += 1
            yield frame

    # -- elements -----------------------------------------------------------------------------

    def open(self, node: Node) -> None:
        with self._failing(node):
            element_of(node).open()

    def process(self, node: Node, frame: Frame) -> Frame | None:
        """Run the element on one frame under its error policy; None means nothing to pass on."""
        if node.name in self._failed or self.abort.is_set():
            return None  # keep draining so upstream workers never block on us
        start = time.perf_counter()
        try:
            with self._calling(node, start, frame.index):
                out = element_of(node)(frame)
        except Exception as exc:
            if not self._tolerate(node, exc):
                return None
            frame.faults.append(node.name)
            out = frame
        self.stats.record(node.name, time.perf_counter() - start, frame.index)
        if node.role == "sink":
            self.stats.complete(node.name, frame.captured_at, frame.index)
        return out

    def _tolerate(self, node: Node, exc: Exception) -> bool:
        """Count an element's error; True if the frame goes on marked (`on_error: mark`)."""
        skip = node.on_error == "skip_frame"
        self.stats.error(node.name, first_line(exc), skipped=skip)
        if node.on_error not in ("skip_frame", "mark"):
            self.fail(node, exc)
        return node.on_error == "mark"

    def process_batch(self, node: Node, frames: list[Frame]) -> list[Frame | None]:
        """Run the element on a batch; if the batch fails, frame by frame, so the error policy
        applies to the frame at fault and not to its batch-mates."""
        if len(frames) == 1:
            return [self.process(node, frames[0])]
        if node.name in self._failed or self.abort.is_set():
            return []
        start = time.perf_counter()
        out: list[Frame] | None
        try:
            with self._calling(node, start, frames[0].index):
                out = element_of(node).run_batch(frames)
        except Exception:
            out = None
        if out is None:
            return [self.process(node, frame) for frame in frames]
        share = (time.perf_counter() - start) / len(frames)
        for frame in frames:
            self.stats.record(node.name, share, frame.index)
        return list(out)  # a list[Frame] is no list[Frame | None] to the type checker

    def finish(self, node: Node, emit: Emit) -> None:
        """At the end of the element's input: pass on what it held back (look-ahead buffers),
        then close it."""
        if node.name not in self._failed and node.role != "sink":
            with self._failing(node):
                for frame in element_of(node).flush():
                    emit(frame)
        self.close(node)

    def close(self, node: Node) -> None:
        with self._failing(node):
            node.close()

    # -- calls in progress, for the watchdog --------------------------------------------------

    @contextmanager
    def _calling(self, node: Node, start: float, index: int) -> Iterator[None]:
        calls = self._calls[node.name]
        calls[threading.get_ident()] = (start, index)
        try:
            yield
        finally:
            calls.pop(threading.get_ident(), None)

    def overdue(self, node: Node, now: float) -> list[int]:
        """Frame indexes of the element's calls running for longer than its timeout."""
        timeout = node.timeout
        if timeout is None:
            return []
        return [index for start, index in list(self._calls[node.name].values()) if now - start > timeout]

    # -- failing and stopping -----------------------------------------------------------------

    @contextmanager
    def _failing(self, node: Node) -> Iterator[None]:
        """What the element raises here fails it (open, capture, flush, close: no frame to blame)."""
        try:
            yield
        except Exception as exc:
            self.fail(node, exc)

    def fail(self, node: Node, exc: BaseException) -> None:
        """The element is out for the rest of the run; the first such error ends the run."""
        self._failed.add(node.name)
        if self.error is None:
            message = first_line(exc)
            if node.role == "source":  # a stream's URL may hold credentials or ${VAR} values
                message = source_of(node).scrub(message)
            self.error = StageError(node.name, message)
        self.stop()

    def stop(self) -> None:
        """Stop capturing; frames in flight still reach the sinks."""
        self.stopping.set()
        for node in self.graph.sources:
            source_of(node).stop()
