"""Multi-object tracking for anonymization: keep covering an object for a while after the
detector loses it ("coasting"), so a one-frame detector miss never shows a plate or a face.

ByteTrack's association (Zhang et al. 2022) on a constant-velocity Kalman filter, like SORT:

1. every track predicts its box in the new frame;
2. high-score detections are matched to all tracks by IoU;
3. low-score detections (often the occluded or blurred objects) are matched to the tracks left;
4. a confirmed track with no detection keeps going on its prediction for `max_age` frames;
5. only high-score detections start new tracks; by default (`high_threshold: null`) that is every
   box a detector reported: its own threshold already admitted it.

Unlike a tracker for counting, nothing is filtered out: the output is every raw detection (with
its track id, -1 where untracked) plus the predicted box of each coasting track. A tracker may
add boxes, never remove them: a missed box is a leak, an extra box is only a blurred patch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from pydantic import Field, model_validator

from vpipe.pipeline.api.boxes import box_iou
from vpipe.pipeline.api.element import Element, Params
from vpipe.pipeline.api.frame import Detections, Frame
from vpipe.pipeline.api.registry import register
from vpipe.stages.base import PerSource


class TrackParams(Params):
    max_age: int = Field(10, ge=0, le=10_000, description="frames a confirmed track keeps covering its predicted box after its last detection (K).")
    high_threshold: float | None = Field(None, ge=0.0, le=1.0, description="detections at or above this score are matched first and may start tracks; null (the default): every detection may, since its detector's own threshold already admitted it (a box that cannot start a track is never coasted or back-filled, so it flickers).")
    low_threshold: float = Field(0.1, ge=0.0, le=1.0, description="with high_threshold set: detections in [low, high) only extend existing tracks (ByteTrack's second association).")
    match_iou: float = Field(0.2, gt=0.0, le=1.0, description="least IoU between a predicted box and a detection for them to be matched.")
    match_distance: float = Field(1.5, ge=0.0, le=10.0, description="a detection that overlaps no track may still match one whose predicted centre is within this many box sizes (the larger side of either box) of its own: a small, fast object (a 15-px plate moving 15 px a frame, or seen every other frame) overlaps nothing between detections. Overlaps match first. 0: by IoU alone.")
    min_hits: int = Field(1, ge=1, le=100, description="detections a track needs before it may coast; 1 coasts from the first sighting, the safe choice for anonymization (a false positive costs a blurred patch for max_age frames).")
    per_class: bool = Field(True, description="match only detections and tracks of the same class.")
    coast_grow: float = Field(0.05, ge=0.0, le=1.0, description="a coasting box grows by this fraction of its size per side per frame coasted (capped at 50 %): the prediction gets less certain with every frame without a detection.")

    @model_validator(mode="after")
    def _thresholds(self) -> TrackParams:
        if self.high_threshold is not None and self.low_threshold > self.high_threshold:
            raise ValueError("low_threshold must not exceed high_threshold")
        return self


class BoxFilter:
    """Constant-velocity Kalman filter on a box's centre and size, (cx, cy, w, h, and velocities).

    Noise scales with the box (as in SORT/ByteTrack), so a small far plate and a large near one
    are tracked alike; x noise follows the width and y noise the height (plates are wide).
    """

    POS, VEL = 1 / 20, 1 / 160  # ByteTrack's weights: position and velocity std per box size
    #: velocity std of a new track, per box size (ByteTrack's 10 * VEL; 0.5 measured the same in
    #: benchmarks/leak.py).
    INIT_VEL = 10 * VEL

    def __init__(self, box: np.ndarray):
        z = _to_cwh(box)
        self.x = np.concatenate([z, np.zeros(4)])
        scale = _scale(z)
        std = np.concatenate([2 * self.POS * scale, self.INIT_VEL * scale])
        self.P = np.diag(std**2)

    def predict(self, steps: int = 1) -> None:
        """Advance `steps` frames (more than one when frames were dropped upstream)."""
        for _ in range(max(0, steps)):
            F = np.eye(8)
            F[:4, 4:] = np.eye(4)
            scale = _scale(self.x[:4])
            Q = np.diag(np.concatenate([self.POS * scale, self.VEL * scale]) ** 2)
            self.x = F @ self.x
            self.P = F @ self.P @ F.T + Q
            self.x[2:4] = np.maximum(self.x[2:4], 1.0)  # a box never shrinks to nothing

    def update(self, box: np.ndarray) -> None:
        z = _to_cwh(box)
        H = np.eye(4, 8)
        R = np.diag((self.POS * _scale(z)) ** 2)
        S = H @ self.P @ H.T + R
        K = self.P @ H.T @ np.linalg.inv(S)
        self.x = self.x + K @ (z - H @ self.x)
        self.P = (np.eye(8) - K @ H) @ self.P

    @property
    def box(self) -> np.ndarray:
        cx, cy, w, h = self.x[:4]
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


def _to_cwh(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, 1.0), max(y2 - y1, 1.0)])


def _scale(cwh: np.ndarray) -> np.ndarray:
    w, h = max(float(cwh[2]), 1.0), max(float(cwh[3]), 1.0)
    return np.array([w, h, w, h])


@dataclass
class Track:
    id: int
    filter: BoxFilter
    class_id: int
    class_name: str
    key: str  # what per-class matching compares: the class name, or the id where unnamed
    score: float
    last_index: int  # frame index of the last detection
    hits: int = 1
    #: (w, h) of the filtered box at the last detection.
    size: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        self.size = (float(self.filter.x[2]), float(self.filter.x[3]))

    def confirmed(self, min_hits: int) -> bool:
        return self.hits >= min_hits

    def coast_box(self) -> np.ndarray:
        """Where to cover while the detector has lost the object: the predicted box, and the
        same centre at the size last detected, whichever reaches further.

        The size velocity is right for an object coming closer or entering the frame (the
        detector reports the visible part, which grows), but for one leaving the frame it
        shrinks the box to nothing while a sliver is still in view. ByteTrack freezes the size
        of lost tracks; that undercovers entering ones. The hull of both covers either case.
        """
        predicted = self.filter.box
        cx, cy = self.filter.x[:2]
        w, h = self.size
        held = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)
        return np.concatenate([np.minimum(predicted[:2], held[:2]), np.maximum(predicted[2:], held[2:])])


@dataclass
class SourceState:
    """One source's tracks: sources never share ids or motion (a merge interleaves them)."""

    tracks: list[Track] = field(default_factory=list)
    next_id: int = 1
    last_index: int | None = None


@register("track")
class Tracker(Element[TrackParams]):
    """Adds track ids to the detections and the boxes of recently lost objects."""

    Params = TrackParams
    provides = ("tracks",)

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.states = PerSource(SourceState)

    def bridges_frames(self) -> int:
        return self.params.max_age

    def upstream_warning(self, floors: dict[str, float]) -> str | None:
        high = self.params.high_threshold
        weak = {name: floor for name, floor in floors.items() if high is not None and floor < high}
        if not weak:
            return None
        named = ", ".join(f"{name} reports from {floor:g}" for name, floor in sorted(weak.items()))
        return (f"high_threshold {high:g} is above what its detectors report ({named}): a box scored "
                "below it never starts a track, so it is never coasted or back-filled and flickers "
                "between covered and readable; leave high_threshold out to start tracks from every box")

    def __call__(self, frame: Frame) -> Frame:
        state, ended = self.states.at(frame)
        if ended is not None:  # a new clip shares no motion with the last: no track goes on; ids stay unique
            state.next_id = ended.next_id
        steps = 1 if state.last_index is None else frame.index - state.last_index
        state.last_index = frame.index
        for track in state.tracks:
            track.filter.predict(steps)

        dets = frame.detections
        keys = _class_keys(dets)
        ids = np.full(len(dets), -1, np.int64)
        high, low = self._confidence_groups(dets)
        unmatched = self._associate(state, dets, keys, (high, low), ids, frame.index)
        self._start_tracks(state, dets, keys, high, ids, frame.index)
        height, width = frame.image.shape[:2]
        coast = self._coast(state, set(unmatched), frame.index, width, height)
        frame.detections = self._with_coasted(replace(dets, track_ids=ids), coast)
        return frame

    def _confidence_groups(self, dets: Detections) -> tuple[list[int], list[int]]:
        """(confident boxes, weak ones): without high_threshold every box is confident."""
        p, n = self.params, len(dets)
        if p.high_threshold is None:
            return list(range(n)), []
        return ([i for i in range(n) if dets.scores[i] >= p.high_threshold],
                [i for i in range(n) if p.low_threshold <= dets.scores[i] < p.high_threshold])

    def _associate(self, state: SourceState, dets: Detections, keys: list[str], groups: tuple[list[int], list[int]],
                   ids: np.ndarray, index: int) -> list[int]:
        """Extend the tracks the detections match (their ids into `ids`); the tracks left unmatched.

        ByteTrack: the confident detections pick their tracks first; the weak ones may only
        extend a track left over, never start one (that is where false positives come from)."""
        unmatched = list(range(len(state.tracks)))
        for group in groups:
            pairs, unmatched = self._match(state.tracks, unmatched, dets, keys, group)
            for t, d in pairs:
                track = state.tracks[t]
                track.filter.update(dets.boxes[d])
                track.size = (float(track.filter.x[2]), float(track.filter.x[3]))
                track.hits += 1
                track.last_index = index
                track.score = float(dets.scores[d])
                ids[d] = track.id
        return unmatched

    def _start_tracks(self, state: SourceState, dets: Detections, keys: list[str], high: list[int],
                      ids: np.ndarray, index: int) -> None:
        """A new track for each confident detection no track matched."""
        matched_dets = {int(i) for i in np.flatnonzero(ids >= 0)}
        for d in high:
            if d not in matched_dets:
                track = Track(state.next_id, BoxFilter(dets.boxes[d]), int(dets.class_ids[d]), dets.class_names[d],
                              keys[d], float(dets.scores[d]), index)
                state.next_id += 1
                state.tracks.append(track)
                ids[d] = track.id

    def _with_coasted(self, dets: Detections, coast: list[tuple[Track, np.ndarray]]) -> Detections:
        """The detections, then a box for each coasting track (marked `coasted`)."""
        if not coast:
            return dets
        return dets + Detections(
            np.array([b for _, b in coast], np.float32).reshape(-1, 4),
            np.array([t.score for t, _ in coast], np.float32),
            np.array([t.class_id for t, _ in coast], np.int64),
            tuple(t.class_name for t, _ in coast),
            track_ids=np.array([t.id for t, _ in coast], np.int64),
        ).with_data(source=self.name, coasted=True)

    def _coast(self, state: SourceState, lost: set[int], index: int, width: int,
               height: int) -> list[tuple[Track, np.ndarray]]:
        """Boxes for the tracks no detection matched; drops those too old or out of view."""
        coast = []
        kept = []
        for k, track in enumerate(state.tracks):
            if k not in lost:
                kept.append(track)
                continue
            age = index - track.last_index
            # A tentative track that missed is dropped (ByteTrack does the same); a confirmed one
            # coasts until max_age, or until its prediction has left the frame.
            if not track.confirmed(self.params.min_hits) or age > self.params.max_age:
                continue
            box = clip_box(_grow(track.coast_box(), self.params.coast_grow * age), width, height)
            if box is None:
                continue
            kept.append(track)
            coast.append((track, box))
        state.tracks = kept
        return coast

    def _match(self, tracks: list[Track], candidates: list[int], dets: Detections, keys: list[str],
               group: list[int]) -> tuple[list[tuple[int, int]], list[int]]:
        """Greedy matching: pairs (track, detection) and the tracks left unmatched. Pairs that
        overlap by `match_iou` come first, highest IoU first; then pairs of nearby centres
        (`match_distance`), nearest first.

        Greedy instead of the Hungarian algorithm: it needs no scipy, and with boxes this far
        apart between objects (plates, faces) both pick the same pairs; ByteTrack's own simple
        variants and norfair's greedy matcher make the same trade.
        """
        if not candidates or not group:
            return [], candidates
        predicted = np.stack([tracks[t].filter.box for t in candidates])
        boxes = dets.boxes[group]
        iou = box_iou(predicted, boxes)
        # One scale: overlaps score 1 + IoU, near centres 1 - distance / reach (0 out of reach).
        affinity = np.where(iou >= self.params.match_iou, 1.0 + iou, _nearness(predicted, boxes, self.params.match_distance))
        if self.params.per_class:
            same = np.array([[tracks[t].key == keys[d] for d in group] for t in candidates])
            affinity = np.where(same, affinity, 0.0)
        pairs = []
        while affinity.size:
            r, c = np.unravel_index(int(np.argmax(affinity)), affinity.shape)
            if affinity[r, c] <= 0.0:
                break
            pairs.append((candidates[r], group[c]))
            affinity[r, :] = -1.0
            affinity[:, c] = -1.0
        taken = {t for t, _ in pairs}
        return pairs, [t for t in candidates if t not in taken]


def _nearness(a: np.ndarray, b: np.ndarray, reach: float) -> np.ndarray:
    """1 - centre distance / (reach x the larger side of either box), at least 0: (len(a), len(b))."""
    if reach <= 0.0:
        return np.zeros((len(a), len(b)))
    ca, cb = (a[:, :2] + a[:, 2:]) / 2, (b[:, :2] + b[:, 2:]) / 2
    distance = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2)
    side = np.maximum((a[:, 2:] - a[:, :2]).max(axis=1)[:, None], (b[:, 2:] - b[:, :2]).max(axis=1)[None, :])
    return np.clip(1.0 - distance / np.maximum(reach * side, 1e-6), 0.0, None)


def _class_keys(dets: Detections) -> list[str]:
    """Each box's class name where the detector gave one, else its class id as text."""
    return [name or str(int(c)) for name, c in zip(dets.class_names, dets.class_ids)]


def _grow(box: np.ndarray, fraction: float) -> np.ndarray:
    fraction = min(fraction, 0.5)
    x1, y1, x2, y2 = box
    dw, dh = (x2 - x1) * fraction, (y2 - y1) * fraction
    return np.array([x1 - dw, y1 - dh, x2 + dw, y2 + dh], np.float32)


def clip_box(box: np.ndarray, width: int, height: int) -> np.ndarray | None:
    """The box clipped to the image, or None when nothing of it is left inside."""
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = max(0.0, x1), min(float(width), x2)
    y1, y2 = max(0.0, y1), min(float(height), y2)
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    return np.array([x1, y1, x2, y2], np.float32)
