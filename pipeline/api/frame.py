"""The unit that flows through the graph: one image plus what the stages learned about it."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Any, Mapping

import cv2
import numpy as np

#: per-box `data` every Detections carries, with the value of a box that does not say.
DATA_DEFAULTS: dict[str, Any] = {
    "source": "",  # the stage that found the box (several detectors can feed one anonymizer)
    "coasted": False,  # predicted by a tracker while the detector had lost the object
}

#: in the jsonl audit, a coasted box's "stage" is "<tracker>:coast" (the format predates `coasted`).
COAST = ":coast"


@dataclass(frozen=True)
class Detections:
    """Boxes found in one frame, in frame pixels (x1, y1, x2, y2), like supervision's Detections:
    every per-box field has one entry per box (checked here), and `+`, indexing and filtering
    keep each entry with its own box. `data` holds per-box arrays by name; `source` and
    `coasted` are always there.

    Immutable: stages add boxes with `+` and tag them with `with_data`, which make new values, so
    branches of a fan-out never see each other's boxes and every frame can start from the one
    shared EMPTY. (`data` is a plain dict, so detections pickle, e.g. to another process: never
    change it in place.)"""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    class_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    #: one per box, "" where unnamed; left out, every box is unnamed.
    class_names: tuple[str, ...] = ()
    _: KW_ONLY
    #: per-box tracker id (-1 where untracked), or None before any tracker.
    track_ids: np.ndarray | None = None
    data: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.boxes)
        if self.boxes.shape[1:] != (4,):
            raise ValueError(f"Detections: boxes must be N x 4, got {self.boxes.shape}")
        names = tuple(self.class_names) or ("",) * n
        data = {key: np.full(n, value) for key, value in DATA_DEFAULTS.items()}
        data.update((key, np.asarray(value)) for key, value in self.data.items())
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "data", data)  # a copy: the caller's dict stays theirs
        columns = {"scores": self.scores, "class_ids": self.class_ids, "class_names": names,
                   "track_ids": self.track_ids, **{f"data[{k!r}]": v for k, v in data.items()}}
        for name, column in columns.items():
            if column is not None and len(column) != n:
                raise ValueError(f"Detections: {len(column)} {name} for {n} boxes")

    @property
    def source(self) -> np.ndarray:
        return self.data["source"]

    @property
    def coasted(self) -> np.ndarray:
        return self.data["coasted"]

    def __len__(self) -> int:
        return len(self.boxes)

    def with_data(self, **values: Any) -> "Detections":
        """The same boxes with these `data` values, one value for every box."""
        return replace(self, data={**self.data, **{k: np.full(len(self), v) for k, v in values.items()}})

    def __getitem__(self, index: Any) -> "Detections":
        """The boxes a mask, indexes or a slice pick, each with all its fields."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        return Detections(self.boxes[index], self.scores[index], self.class_ids[index],
                          tuple(np.array(self.class_names, object)[index]),
                          track_ids=None if self.track_ids is None else self.track_ids[index],
                          data={key: column[index] for key, column in self.data.items()})

    def __add__(self, other: "Detections") -> "Detections":
        if not len(other):
            return self
        if not len(self):
            return other
        tracks = None
        if self.track_ids is not None or other.track_ids is not None:
            tracks = np.concatenate([_tracks(self), _tracks(other)])
        keys = dict.fromkeys([*self.data, *other.data])
        return Detections(
            np.concatenate([self.boxes, other.boxes]),
            np.concatenate([self.scores, other.scores]),
            np.concatenate([self.class_ids, other.class_ids]),
            self.class_names + other.class_names,
            track_ids=tracks,
            data={key: np.concatenate([_column(self, other, key), _column(other, self, key)]) for key in keys},
        )

    def to_json(self) -> list[dict[str, Any]]:
        out = []
        for i in range(len(self)):
            item = {
                "box": [round(float(v), 1) for v in self.boxes[i]],
                "score": round(float(self.scores[i]), 4),
                "class_id": int(self.class_ids[i]),
                "class": self.class_names[i],
                "stage": str(self.source[i]) + (COAST if self.coasted[i] else ""),
            }
            if self.track_ids is not None:
                item["track"] = int(self.track_ids[i])
            out.append(item)
        return out


@dataclass
class Mask:
    """A per-pixel class map at frame size, from a segmentation stage."""

    labels: np.ndarray  # (H, W) uint8 class ids
    classes: tuple[str, ...]  # names by class id

    def of(self, names: list[str] | tuple[str, ...]) -> np.ndarray:
        """Boolean (H, W): pixels of any of these classes."""
        ids = [i for i, c in enumerate(self.classes) if c in names]
        return np.isin(self.labels, ids)


EMPTY = Detections()


def _column(d: Detections, other: Detections, key: str) -> np.ndarray:
    """`d`'s data column `key`; blank (0, False, "") where only `other` has that key."""
    return d.data[key] if key in d.data else np.zeros(len(d), other.data[key].dtype)


def _tracks(d: Detections) -> np.ndarray:
    return d.track_ids if d.track_ids is not None else np.full(len(d), -1, np.int64)


@dataclass
class Frame:
    """One video frame: a BGR uint8 image and its provenance; stages add typed metadata."""

    image: np.ndarray
    source_id: str
    #: index of the frame in its source (0-based; counts decoded frames, drops leave gaps later).
    index: int
    #: presentation timestamp in seconds (None for image folders).
    pts: float | None
    #: time.perf_counter() when the frame was captured, for capture-to-sink latency.
    captured_at: float
    #: time.time() at capture, for logs and jsonl.
    wall_time: float
    #: global sequence number across sources, unique per run (orders fan-in joins).
    seq: int = 0
    #: source file name for image folders (sinks keep names), else "".
    name: str = ""
    #: frames of one clip follow each other in time; each photo of a folder is a clip of its own,
    #: and temporal stages (track, lookahead) start over when it changes.
    clip: int = 0
    detections: Detections = EMPTY
    #: segmentation results by stage name.
    masks: dict[str, Mask] = field(default_factory=dict)
    #: stages that failed on this frame but let it continue marked (fail-closed downstream).
    faults: list[str] = field(default_factory=list)
    #: what anonymization did (for the audit trail in jsonl).
    audit: dict[str, Any] = field(default_factory=dict)
    #: what happened on this frame (a track started, ended, entered a zone), from `events`.
    events: list[dict[str, Any]] = field(default_factory=list)

    def branch(self) -> "Frame":
        """A copy for one branch of a fan-out: metadata containers are new, pixels are shared.

        Stages never draw into `image` in place (they copy first), so sharing it is safe.
        """
        return replace(self, masks=dict(self.masks), faults=list(self.faults), audit=dict(self.audit),
                       events=list(self.events))

    def merge(self, other: "Frame") -> "Frame":
        """Join two branches of the same frame: union of what each branch learned."""
        merged = self.branch()
        merged.detections = self.detections + other.detections
        merged.masks.update(other.masks)
        merged.faults += [f for f in other.faults if f not in merged.faults]
        merged.audit.update(other.audit)
        merged.events += [e for e in other.events if e not in merged.events]
        # Pixels come from the first input: branches that meet again only add metadata.
        return merged

    def resize(self, image: np.ndarray) -> None:
        """Replace the pixels with `image`, the same view at another size, and fit what was found
        in them (boxes, masks) to it: the frame knows what it carries, so an element that resizes
        (upscale) need not, and a new kind of metadata is rescaled in one place."""
        (old_h, old_w), (h, w) = self.image.shape[:2], image.shape[:2]
        self.image = image
        if len(self.detections):
            scale = np.array([w / old_w, h / old_h] * 2, np.float32)
            self.detections = replace(self.detections, boxes=self.detections.boxes * scale)
        self.masks = {name: replace(mask, labels=cv2.resize(mask.labels, (w, h), interpolation=cv2.INTER_NEAREST))
                      for name, mask in self.masks.items()}
