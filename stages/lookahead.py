"""Look-ahead: cover an object on the frames *before* its first detection.

A detector finds a plate late: it enters the frame cut off, it is small and far, it is blurred for
a few frames. A tracker only helps after the first detection. This stage holds the last `frames`
(N) frames of each source; when a track id shows up for the first time at frame t, the frames
t-N..t-1 still held get that track's box too, before they go on to the anonymizer.

The back-filled box is the track's box extrapolated backwards at the track's velocity, fitted
(least squares, per coordinate) on every sighting of the track while those frames are held: the
oldest held frame leaves with only the first box (velocity unknown yet), later ones with a better
fit. Each coordinate is fitted on its own, so a plate cut off by the frame edge (x1 stays 0 while
x2 grows) is extrapolated correctly. `extrapolate: false` uses the first box as is (measured in
benchmarks/leak.py: it leaks on fast objects, see docs/anonymization.md).

Boxes are only ever added, never removed. Sits after `track` and before `anonymize`; it delays
output by N frames (files, or live streams that accept the delay).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import Field

from vpipe.pipeline.frame import Detections, Frame
from vpipe.pipeline.registry import register
from vpipe.stages.base import Element, Params


class LookaheadParams(Params):
    #: frames held per source (N): how far back a new track is covered; also the added delay.
    frames: int = Field(10, ge=0, le=1000)
    #: the box back-filled on frames before a track's first detection: its first box unmoved,
    #: the first box moved back at the track's velocity, or the hull of both (see Birth.box_at).
    backfill: Literal["first", "velocity", "hull"] = "hull"


@dataclass
class Birth:
    """A track first seen at frame `index`, and its boxes since, to fit its motion."""

    index: int
    class_id: int
    class_name: str
    score: float
    sightings: list[tuple[int, np.ndarray]] = field(default_factory=list)

    def box_at(self, index: int, mode: str) -> np.ndarray:
        """The track's box on an earlier frame `index`, as `mode` guesses it."""
        first = self.sightings[0][1]
        if mode == "first" or len(self.sightings) < 2:
            return first
        # The centre's velocity, a least-squares line through every sighting so far: the size
        # is kept (a box cut by the frame edge keeps its cut), only the position moves back.
        t = np.array([i for i, _ in self.sightings], np.float64)
        centres = np.stack([(b[:2] + b[2:]) / 2 for _, b in self.sightings]).astype(np.float64)
        velocity = np.polyfit(t, centres, 1)[0]
        shift = np.tile(velocity * (index - self.index), 2)
        moved = first + shift.astype(np.float32)
        if mode == "velocity":
            return moved
        # "hull": from the first box to where the velocity puts it: right when the estimate is
        # right, still covering when it is too fast (two noisy sightings) or the object was still.
        return np.concatenate([np.minimum(first[:2], moved[:2]), np.maximum(first[2:], moved[2:])])


@dataclass
class SourceBuffer:
    frames: deque = field(default_factory=deque)
    #: track id -> frame index where it was last seen (ids unseen for over N frames are forgotten).
    seen: dict[int, int] = field(default_factory=dict)
    #: tracks born while their earlier frames are still held.
    births: dict[int, Birth] = field(default_factory=dict)


@register("lookahead")
class Lookahead(Element):
    """Delays each source by N frames and back-fills new tracks into the frames held."""

    Params = LookaheadParams

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.buffers: dict[str, SourceBuffer] = {}
        self.fill_source = f"{self.name}:backfill"

    def __call__(self, frame: Frame) -> Frame | None:
        buffer = self.buffers.setdefault(frame.source_id, SourceBuffer())
        self._observe(buffer, frame)
        buffer.frames.append(frame)
        if len(buffer.frames) > self.params.frames:
            return self._release(buffer)
        return None

    def flush(self) -> list[Frame]:
        out = []
        for buffer in self.buffers.values():
            while buffer.frames:
                out.append(self._release(buffer))
        # Sources interleave by capture order, as they reached this stage.
        return sorted(out, key=lambda f: f.seq)

    def _observe(self, buffer: SourceBuffer, frame: Frame) -> None:
        dets = frame.detections
        if dets.track_ids is None:
            return
        for i, tid in enumerate(int(t) for t in dets.track_ids):
            if tid < 0:
                continue
            if tid not in buffer.seen:
                name = dets.class_names[i] if i < len(dets.class_names) else ""
                buffer.births[tid] = Birth(frame.index, int(dets.class_ids[i]), name, float(dets.scores[i]))
            buffer.seen[tid] = frame.index
            if tid in buffer.births:
                buffer.births[tid].sightings.append((frame.index, dets.boxes[i].astype(np.float32)))
        horizon = frame.index - self.params.frames - 1
        buffer.seen = {t: i for t, i in buffer.seen.items() if i >= horizon}

    def _release(self, buffer: SourceBuffer) -> Frame:
        """The oldest held frame, with the boxes of the tracks born after it."""
        frame = buffer.frames.popleft()
        height, width = frame.image.shape[:2]
        added = []
        for tid, birth in buffer.births.items():
            if birth.index <= frame.index:
                continue
            box = _clip(birth.box_at(frame.index, self.params.backfill), width, height)
            if box is not None:
                added.append((tid, birth, box))
        # A birth is done once no held frame is older than it.
        oldest = buffer.frames[0].index if buffer.frames else None
        buffer.births = {t: b for t, b in buffer.births.items() if oldest is not None and b.index > oldest}
        if added:
            frame.detections = frame.detections + Detections(
                np.array([b for _, _, b in added], np.float32).reshape(-1, 4),
                np.array([b.score for _, b, _ in added], np.float32),
                np.array([b.class_id for _, b, _ in added], np.int64),
                tuple(b.class_name for _, b, _ in added),
                tuple(self.fill_source for _ in added),
                np.array([t for t, _, _ in added], np.int64),
            )
        return frame


def _clip(box: np.ndarray, width: int, height: int) -> np.ndarray | None:
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = max(0.0, x1), min(float(width), x2)
    y1, y2 = max(0.0, y1), min(float(height), y2)
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    return np.array([x1, y1, x2, y2], np.float32)
