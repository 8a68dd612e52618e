"""Look-ahead: cover an object on the frames *before* its first detection, and across gaps.

A detector finds a plate late: it enters the frame cut off, it is small and far, it is blurred for
a few frames. A tracker only helps after the first detection, and while it has lost an object it
can only guess where the object went. This stage holds the last `frames` (N) frames of each
source, so it knows the near future of every frame it holds:

* when a track id shows up for the first time at frame t, the held frames t-N..t-1 get that
  track's box too (back-fill);
* when a track is detected again at frame t after a gap (frames where the tracker only coasted),
  the held frames of the gap get the box interpolated between the detections on either side.

The back-filled box (`backfill`) is, by default, the hull of the track's first box and that box
moved back at the track's velocity (the centre's least-squares line through its detections while
those frames are held; the oldest held frame leaves before a second detection, with the first box
only). The hull is right when the velocity is right, and still covers when the velocity from two
noisy detections is too fast or the object was still; "first" and "velocity" alone are measured
in benchmarks/leak.py (docs/anonymization.md).

Boxes are only ever added, never removed. Sits after `track` and before `anonymize`; it delays
each source by N frames (files, or live streams that accept the delay). When the clip changes
(each photo of an image folder is one), what it knows of tracks starts over: a box is only ever
carried to frames of the clip it was seen in, while the frames held keep their order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import Field

from vpipe.pipeline.api.element import Element, Params
from vpipe.pipeline.api.frame import Detections, Frame
from vpipe.pipeline.api.registry import register
from vpipe.stages.base import PerSource
from vpipe.stages.track import clip_box


class LookaheadParams(Params):
    frames: int = Field(15, ge=0, le=250, description="frames held per source (N): how far back a new track is covered; also the added delay. At most 250 (10 s at 25 FPS): each held frame is a whole picture in memory.")
    backfill: Literal["first", "velocity", "hull"] = Field("hull", description="the box back-filled before a track's first detection: its first box unmoved, the first box moved back at the track's velocity, or the hull of both (see Birth.box_at).")
    interpolate: bool = Field(True, description="fill the frames where a track was lost and found again with the interpolated box.")


@dataclass
class Sighting:
    index: int
    box: np.ndarray
    class_id: int
    class_name: str
    score: float


@dataclass
class Birth:
    """A track first detected at frame `index`, and its detections since, to fit its motion."""

    index: int
    sightings: list[Sighting] = field(default_factory=list)

    def box_at(self, index: int, mode: str) -> np.ndarray:
        """The track's box on an earlier frame `index`, as `mode` guesses it."""
        first = self.sightings[0].box
        if mode == "first" or len(self.sightings) < 2:
            return first
        # The centre's velocity; the size is kept (a box cut by the frame edge keeps its cut,
        # and moving back it slides out of the frame as the object did).
        t = np.array([s.index for s in self.sightings], np.float64)
        centres = np.stack([(s.box[:2] + s.box[2:]) / 2 for s in self.sightings]).astype(np.float64)
        velocity = np.polyfit(t, centres, 1)[0]
        moved = first + np.tile(velocity * (index - self.index), 2).astype(np.float32)
        if mode == "velocity":
            return moved
        return np.concatenate([np.minimum(first[:2], moved[:2]), np.maximum(first[2:], moved[2:])])


@dataclass
class SourceBuffer:
    frames: deque = field(default_factory=deque)
    #: track id -> frame index where it was last seen (ids unseen for over N frames are forgotten).
    seen: dict[int, int] = field(default_factory=dict)
    #: track id -> its last detection (not a coasted box), to interpolate over gaps.
    last: dict[int, Sighting] = field(default_factory=dict)
    #: tracks born while their earlier frames are still held, by (clip, track id).
    births: dict[tuple[int, int], Birth] = field(default_factory=dict)


@register("lookahead")
class Lookahead(Element[LookaheadParams]):
    """Delays each source by N frames and covers new and re-found tracks in the frames held."""

    Params = LookaheadParams
    requires = ("tracks",)  # it follows track ids

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.buffers = PerSource(SourceBuffer)
        self.fill_source = f"{self.name}:backfill"
        self.gap_source = f"{self.name}:interpolate"

    def bridges_frames(self) -> int:
        # A track found again after a gap is interpolated; one the tracker dropped is a new
        # track, back-filled: either way the N frames before a detection are covered.
        return self.params.frames

    def __call__(self, frame: Frame) -> Frame | None:
        buffer, ended = self.buffers.at(frame)
        if ended is not None:
            # Tracks of another clip are other objects: forget them (the frames still held, and
            # their births, tied to their own clip, stay).
            buffer.frames, buffer.births = ended.frames, ended.births
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
        """Note the tracks of a new frame; fill the gaps it closes in the frames held."""
        dets = frame.detections
        if dets.track_ids is not None:
            for i, tid in enumerate(int(t) for t in dets.track_ids):
                if tid < 0:
                    continue
                new = tid not in buffer.seen
                buffer.seen[tid] = frame.index
                if dets.coasted[i]:
                    continue  # a prediction, not something the detector saw
                now = Sighting(frame.index, dets.boxes[i].astype(np.float32), int(dets.class_ids[i]),
                               dets.class_names[i], float(dets.scores[i]))
                key = (frame.clip, tid)
                if new:
                    buffer.births[key] = Birth(frame.index)
                if key in buffer.births:
                    buffer.births[key].sightings.append(now)
                before = buffer.last.get(tid)
                if self.params.interpolate and before is not None and now.index - before.index > 1:
                    self._fill_gap(buffer, tid, before, now)
                buffer.last[tid] = now
        horizon = frame.index - self.params.frames - 1
        buffer.seen = {t: i for t, i in buffer.seen.items() if i >= horizon}
        buffer.last = {t: s for t, s in buffer.last.items() if t in buffer.seen}

    def _fill_gap(self, buffer: SourceBuffer, tid: int, before: Sighting, after: Sighting) -> None:
        """Held frames between two detections of a track get the box interpolated between them:
        better than the tracker's coasting guess, which only knew the past."""
        span = after.index - before.index
        for frame in buffer.frames:
            if before.index < frame.index < after.index:
                a = (frame.index - before.index) / span
                box = (1 - a) * before.box + a * after.box
                self._add(frame, [(tid, after, box)], self.gap_source)

    def _release(self, buffer: SourceBuffer) -> Frame:
        """The oldest held frame, with the boxes of the tracks born after it."""
        frame = buffer.frames.popleft()
        added = [(tid, birth.sightings[0], birth.box_at(frame.index, self.params.backfill))
                 for (clip, tid), birth in buffer.births.items()
                 if birth.index > frame.index and clip == frame.clip]
        self._add(frame, added, self.fill_source)
        # A birth is done once no held frame is older than it.
        oldest = buffer.frames[0].index if buffer.frames else None
        buffer.births = {t: b for t, b in buffer.births.items() if oldest is not None and b.index > oldest}
        return frame

    @staticmethod
    def _add(frame: Frame, boxes: list[tuple[int, Sighting, np.ndarray]], source: str) -> None:
        """Append boxes (clipped to the image; those wholly outside are left out) to a frame."""
        height, width = frame.image.shape[:2]
        kept = [(tid, s, c) for tid, s, box in boxes if (c := clip_box(box, width, height)) is not None]
        if not kept:
            return
        frame.detections = frame.detections + Detections(
            np.array([c for _, _, c in kept], np.float32).reshape(-1, 4),
            np.array([s.score for _, s, _ in kept], np.float32),
            np.array([s.class_id for _, s, _ in kept], np.int64),
            tuple(s.class_name for _, s, _ in kept),
            track_ids=np.array([tid for tid, _, _ in kept], np.int64),
        ).with_data(source=source)

