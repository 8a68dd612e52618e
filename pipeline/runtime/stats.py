"""Counters and timings a run collects: per-stage service time, queue occupancy, latency."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: bounded so a monitoring run that lasts for days keeps constant memory.
KEEP = 100_000


@dataclass
class StageStats:
    name: str
    role: str
    frames: int = 0
    errors: int = 0
    skipped: int = 0
    busy: float = 0.0
    service: deque = field(default_factory=lambda: deque(maxlen=KEEP))
    #: frames dropped on this element's input edge (drop_oldest) or misaligned at a join.
    dropped: int = 0
    queue_occupancy: float = 0.0
    queue_size: int = 0
    last_error: str = ""


class RunStats:
    """Shared by all workers; one lock guards the counters (it is taken once per frame per stage,
    far below anything measurable)."""

    def __init__(self, nodes: list[tuple[str, str]], warmup: int = 0):
        self.stages = {name: StageStats(name, role) for name, role in nodes}
        self.warmup = warmup
        self.started = time.perf_counter()
        self.ended: float | None = None
        self._lock = threading.Lock()
        #: per sink: (completion time, capture-to-sink latency) of each frame after warm-up.
        self.completions: dict[str, deque] = {n: deque(maxlen=KEEP) for n, r in nodes if r == "sink"}
        self.sink_frames: dict[str, int] = {n: 0 for n, r in nodes if r == "sink"}

    def record(self, name: str, seconds: float, index: int) -> None:
        s = self.stages[name]
        with self._lock:  # a stage with several workers records from several threads
            s.frames += 1
            if index >= self.warmup:
                s.busy += seconds
                s.service.append(seconds)

    def error(self, name: str, message: str, skipped: bool = False) -> None:
        """An element raised on a frame (and, with `skipped`, the frame was dropped)."""
        s = self.stages[name]
        with self._lock:
            s.errors += 1
            s.skipped += skipped
            s.last_error = message

    def complete(self, sink: str, captured_at: float, index: int) -> None:
        now = time.perf_counter()
        with self._lock:
            self.sink_frames[sink] += 1
            if index >= self.warmup:
                self.completions[sink].append((now, now - captured_at))

    @property
    def frames_out(self) -> int:
        return max(self.sink_frames.values(), default=0)

    def elapsed(self) -> float:
        return (self.ended or time.perf_counter()) - self.started

    def summary(self) -> dict:
        """The figures `vpipe bench` prints and writes: fps, latency percentiles, per stage."""
        sink = max(self.completions, key=lambda n: len(self.completions[n]), default=None)
        done = list(self.completions[sink]) if sink else []
        fps = 0.0
        # From the first measured frame's capture to the last one's completion: a look-ahead lets
        # the frames it held out in a burst, and timed from the first completion, a run no longer
        # than the look-ahead read as hundreds of FPS. This counts the pipeline's delay once (with
        # a 15-frame look-ahead over 200 frames, about 7 % below the steady rate); the old window
        # was as far above it, since the look-ahead's last frames also leave in a burst.
        window = (done[-1][0] - min(t - lat for t, lat in done)) if done else 0.0
        if len(done) >= 2:
            fps = len(done) / max(window, 1e-9)
        latency = _percentiles([lat for _, lat in done])
        wall = self.elapsed()
        # Warm-up frames are excluded from busy time; measure shares over the same window.
        window = window if len(done) >= 2 else wall
        stages: dict[str, dict[str, Any]] = {}
        for s in self.stages.values():
            service = list(s.service)
            stages[s.name] = {
                "role": s.role,
                "frames": s.frames,
                "fps": round(len(service) / s.busy, 2) if s.busy else 0.0,
                "mean_ms": round(1000 * s.busy / len(service), 3) if service else 0.0,
                **_percentiles(service),
                "busy_share": round(s.busy / window, 3) if window > 0 else 0.0,
                "queue_occupancy": round(s.queue_occupancy, 2),
                "queue_size": s.queue_size,
                "dropped": s.dropped,
                "errors": s.errors,
                "skipped": s.skipped,
            }
        slowest = max(stages, key=lambda k: stages[k]["busy_share"], default=None)
        return {
            "fps": round(fps, 2),
            **latency,
            "frames": self.frames_out,
            # the frames the figures come from: those after the warm-up
            "measured_frames": len(done),
            "wall_s": round(wall, 3),
            "slowest_stage": slowest,
            "stages": stages,
        }


def _percentiles(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    p50, p95, p99 = np.percentile(np.asarray(seconds) * 1000.0, [50, 95, 99])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "p99": round(float(p99), 3)}
