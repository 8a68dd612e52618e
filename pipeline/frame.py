"""The unit that flows through the graph: one image plus what the stages learned about it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np


@dataclass(frozen=True)
class Detections:
    """Boxes found in one frame, in frame pixels (x1, y1, x2, y2), like torchvision's output.

    Immutable: stages add boxes with `+`, which makes a new value, so branches of a fan-out
    never see each other's boxes and every frame can start from the one shared EMPTY."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    class_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    class_names: tuple[str, ...] = ()
    #: which stage found each box (several detectors can feed one anonymizer).
    sources: tuple[str, ...] = ()
    #: optional per-box tracker id (-1 where untracked).
    track_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        # Per-box fields must line up with the boxes; names and sources may be left out (empty).
        n = len(self.boxes)
        if self.boxes.shape[1:] != (4,):
            raise ValueError(f"Detections: boxes must be N x 4, got {self.boxes.shape}")
        for field_name in ("scores", "class_ids", "track_ids", "class_names", "sources"):
            value = getattr(self, field_name)
            if value is not None and len(value) != n and not (field_name in ("class_names", "sources") and not len(value)):
                raise ValueError(f"Detections: {len(value)} {field_name} for {n} boxes")

    def __len__(self) -> int:
        return len(self.boxes)

    def __add__(self, other: "Detections") -> "Detections":
        if not len(other):
            return self
        if not len(self):
            return other
        tracks = None
        if self.track_ids is not None or other.track_ids is not None:
            tracks = np.concatenate([_tracks(self), _tracks(other)])
        return Detections(
            boxes=np.concatenate([self.boxes, other.boxes]),
            scores=np.concatenate([self.scores, other.scores]),
            class_ids=np.concatenate([self.class_ids, other.class_ids]),
            # Unnamed boxes get "" so each label stays with its own box.
            class_names=_per_box(self, "class_names") + _per_box(other, "class_names"),
            sources=_per_box(self, "sources") + _per_box(other, "sources"),
            track_ids=tracks,
        )

    def to_json(self) -> list[dict[str, Any]]:
        out = []
        for i in range(len(self)):
            item = {
                "box": [round(float(v), 1) for v in self.boxes[i]],
                "score": round(float(self.scores[i]), 4),
                "class_id": int(self.class_ids[i]),
                "class": self.class_names[i] if i < len(self.class_names) else "",
                "stage": self.sources[i] if i < len(self.sources) else "",
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


def _per_box(d: Detections, field_name: str) -> tuple[str, ...]:
    values = getattr(d, field_name)
    return tuple(values) if len(values) == len(d) else ("",) * len(d)


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
