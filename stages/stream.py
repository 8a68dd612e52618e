"""Network cameras (RTSP, RTMP, HTTP) through PyAV/FFmpeg, built to survive drops.

A camera that stalls, drops or reboots must never hang or end the graph: every open and every
read has a timeout, a lost stream is reopened with exponential backoff and jitter (reset as soon
as frames flow again), and each interruption is counted and marked on the first frame after it.

One reader thread owns the FFmpeg container (open, demux, decode, close, reopen); `frames()`
only takes decoded frames from it. That keeps `stop()` prompt: FFmpeg cannot be interrupted
from another thread, and closing a container while it reads is unsafe, so instead the consumer
stops waiting at once and the reader winds down by itself within one read timeout.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from dataclasses import dataclass
from typing import Iterator, Literal, cast

import av
import numpy as np
from pydantic import Field

from vpipe.pipeline.api.element import Captured, Params, Source, StreamInfo
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.registry import register_source
from vpipe.stages.base import CaptureParams
from vpipe.stages.capture import decode_bgr, open_video


class ReconnectParams(Params):
    max_attempts: int | None = Field(None, ge=1, description="connection attempts in a row that deliver no frame before the run fails; None: forever.")
    initial_delay: float = Field(0.5, gt=0, description="first wait after a loss, in seconds; doubled after each failed attempt up to max_delay.")
    max_delay: float = Field(30.0, gt=0)
    jitter: float = Field(0.25, ge=0, le=1, description="each wait is shortened by a random part up to this share, so cameras behind one restarted switch or server do not all reconnect in lockstep.")


class StreamParams(CaptureParams):
    transport: Literal["tcp", "udp"] = "tcp"
    open_timeout: float = Field(10.0, gt=0, description="seconds to wait for the stream to open (connect, describe, first packets).")
    read_timeout: float = Field(5.0, gt=0, description="seconds without data before a read gives up and the stream is reopened.")
    probe: float = Field(0.5, ge=0, description="seconds FFmpeg may analyse a stream on open (its default is 5): this bounds the time a reconnect takes; raise it for cameras whose SDP does not describe the stream.")
    gap_threshold: float = Field(1.0, gt=0, description="a pause between frames (by clock or pts) longer than this counts as a gap.")
    reconnect: ReconnectParams = Field(default_factory=ReconnectParams)
    options: dict[str, str] = Field(default_factory=dict, description="extra FFmpeg options (`-rtsp_flags`, `probesize`, ...), passed to the demuxer as is.")


#: reader threads that have not returned yet; one may sit in a blocked FFmpeg open or read for up
#: to its timeout after the graph has stopped (see `readers_running`).
_running_readers: set[threading.Thread] = set()


def readers_running() -> bool:
    """Whether a camera reader thread is still inside FFmpeg. Python's shutdown must not run
    under one: its interrupt callback takes the GIL while the interpreter tears down, which
    crashes the process now and then (a segfault in about 1 exit of 60 under load), so the CLI
    ends such a process with os._exit once its sinks are finalized."""
    return bool(_running_readers)


class _Failed:
    """Put on the frame queue by the reader when it gives up for good."""

    def __init__(self, message: str):
        self.message = message


@register_source("rtsp")
class NetworkStreamSource(Source[StreamParams]):
    """RTSP/RTMP/HTTP cameras through PyAV (FFmpeg), with timeouts and reconnection."""

    Params = StreamParams
    takes = "url"

    def __init__(self, name, uri, params, base_dir):
        super().__init__(name, uri, params, base_dir)
        self.info = StreamInfo(source_id=name, live=True)
        self._stop = threading.Event()
        #: small: a live consumer takes frames as they come; the runner's queues do the dropping.
        self._frames: queue.Queue = queue.Queue(maxsize=4)
        self._reader: threading.Thread | None = None

    @classmethod
    def with_reconnect_attempts(cls, raw: dict, attempts: int | None) -> dict:
        reconnect = raw.get("reconnect")
        reconnect = dict(reconnect) if isinstance(reconnect, dict) else {}
        return {**raw, "reconnect": {**reconnect, "max_attempts": attempts}}

    # -- consumer side (the runner's source worker) ------------------------------------------

    def frames(self) -> Iterator[Captured]:
        self._reader = threading.Thread(target=self._read_forever, name=f"vpipe-{self.name}-reader",
                                        daemon=True)
        _running_readers.add(self._reader)
        self._reader.start()
        while not self._stop.is_set():
            try:
                item = self._frames.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(item, _Failed):
                raise VpipeError(item.message)
            yield item

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._reader is not None and self._reader is not threading.current_thread():
            # A read in progress ends within read_timeout; do not hold the shutdown for it.
            self._reader.join(timeout=1.0)

    # -- reader thread ------------------------------------------------------------------------

    def _read_forever(self) -> None:
        try:
            self._read_loop()
        except Exception as exc:  # never leave the consumer waiting on a dead reader
            self.info.state = "failed"
            self._put(_Failed(self.scrub(f"{self.safe_uri}: capture failed: {exc}")), force=True)
        finally:
            _running_readers.discard(threading.current_thread())

    def _read_loop(self) -> None:
        """Open, decode, reopen on loss, until stopped or out of attempts."""
        p = self.params.reconnect
        failures = 0  # attempts in a row that delivered no frame
        clock = _Clock()
        while not self._stop.is_set():
            self.info.state = "reconnecting" if clock.ever_connected else "connecting"
            delivered, reason = self._read_connection(clock)
            if self._stop.is_set():
                return
            self.info.last_error = reason
            if delivered:
                failures = 0  # the backoff starts over as soon as frames flow again
            else:
                failures += 1
                if p.max_attempts is not None and failures >= p.max_attempts:
                    self.info.state = "failed"
                    self._put(_Failed(f"{self.safe_uri}: no stream after {failures} attempt"
                                      f"{'s' if failures > 1 else ''}: {reason}"), force=True)
                    return
            delay = min(p.max_delay, p.initial_delay * 2 ** max(failures - 1, 0))
            self._stop.wait(delay * (1 - p.jitter * random.random()))

    def _read_connection(self, clock: _Clock) -> tuple[bool, str]:
        """One connection: open, hand out its frames until it ends or we stop; (whether it
        delivered a frame, why it ended)."""
        try:
            container = self._open()
        except VpipeError as exc:
            return False, str(exc)
        delivered = False
        try:
            clock.connect(1.0 / self.info.fps if self.info.fps else 0.04)
            for decoded, pts in decode_bgr(container, container.streams.video[0]):
                if self._stop.is_set():
                    break
                image = cast(np.ndarray, decoded)  # decode_bgr's frames are BGR arrays
                out, audit = self._stamp(clock, image, pts, first=not delivered)
                delivered = True
                if not self._put(Captured(image, round(out, 6), audit=audit)):
                    break
            return delivered, "stream ended"
        except av.error.FFmpegError as exc:
            return delivered, self.scrub(f"read failed: {_reason(exc)}")
        finally:
            container.close()

    def _stamp(self, clock: _Clock, image: np.ndarray, pts: float | None, first: bool) -> tuple[float, dict | None]:
        """A frame's pts on our timeline, and its audit when a gap came before it (a reconnect,
        a stall that recovered, or the camera skipping ahead)."""
        now = time.monotonic()
        audit = None
        if first:
            self.info.state = "connected"
            self.info.height, self.info.width = image.shape[:2]  # if the probe missed it
            if clock.ever_connected:
                # Back after a loss: resume the timeline after the real gap.
                lost = now - clock.last_frame_at if clock.last_frame_at else 0.0
                self.info.reconnects += 1
                audit = self._gap(lost)
                clock.base = (clock.last_pts or 0.0) + lost
            clock.ever_connected = True
        elif clock.last_frame_at is not None and now - clock.last_frame_at > self.params.gap_threshold:
            audit = self._gap(now - clock.last_frame_at)  # a stall that recovered
        out = clock.rebase(pts, first)
        if pts is not None and audit is None and clock.last_pts is not None \
                and out - clock.last_pts > self.params.gap_threshold:
            audit = self._gap(out - clock.last_pts)  # the camera skipped ahead
        return clock.hand_out(out, now), audit

    def _open(self):
        options = dict(self.params.options)
        if self.uri.startswith("rtsp"):
            options.setdefault("rtsp_transport", self.params.transport)
        options.setdefault("analyzeduration", str(int(self.params.probe * 1_000_000)))
        try:
            container = open_video(self.uri, options,
                                   timeout=(self.params.open_timeout, self.params.read_timeout))
        except VpipeError as exc:
            raise VpipeError(self.scrub(str(exc))) from None
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        self.info.width, self.info.height = stream.codec_context.width, stream.codec_context.height
        self.info.fps = float(rate) if rate else self.info.fps
        self.info.time_base = stream.time_base
        return container

    def _gap(self, seconds: float) -> dict:
        self.info.gaps += 1
        self.info.gap_seconds += seconds
        return {"capture": {"reconnects": self.info.reconnects, "gap_s": round(seconds, 3)}}

    def _put(self, item, force: bool = False) -> bool:
        """Hand a frame to the consumer; False once stopped (a full queue waits, checking)."""
        while force or not self._stop.is_set():
            try:
                self._frames.put(item, timeout=0.1)
                return True
            except queue.Full:
                if force:
                    try:
                        self._frames.get_nowait()  # room for the failure: stale frames matter less
                    except queue.Empty:
                        pass
        return False

    @property
    def safe_uri(self) -> str:
        return self.scrub(self.uri)


@dataclass
class _Clock:
    """The reader's timeline across connections: each connection starts its own clock, rebased so
    that pts keep rising across reconnects (frames without pts get one frame interval)."""

    ever_connected: bool = False
    #: time.monotonic() of the last frame.
    last_frame_at: float | None = None
    #: the last pts handed out (rebased, strictly increasing).
    last_pts: float | None = None
    #: this connection's: where its first frame goes, its stream pts -> our timeline, a frame interval.
    base: float = 0.0
    offset: float | None = None
    step: float = 0.04

    def connect(self, step: float) -> None:
        self.base, self.offset, self.step = self.last_pts or 0.0, None, step

    def rebase(self, pts: float | None, first: bool) -> float:
        expected = self.base if first else (self.last_pts or 0.0) + self.step
        if pts is None:
            return expected
        if self.offset is None:
            self.offset = expected - pts
        return pts + self.offset

    def hand_out(self, out: float, now: float) -> float:
        if self.last_pts is not None and out <= self.last_pts:
            out = self.last_pts + 1e-3  # sinks need strictly increasing pts
        self.last_pts, self.last_frame_at = out, now
        return out


def _reason(exc: av.error.FFmpegError) -> str:
    # strerror leaves out the file name PyAV appends (which holds the URL and its password).
    return getattr(exc, "strerror", None) or type(exc).__name__
