"""`covers`: cover what an audit lists, with no detector (`vpipe apply`, docs/review.md).

Each frame gets exactly the covers its audit line lists, stage by stage in the audit's order,
through that anonymize stage's own effect and shape, so an unedited audit renders the run's
pixels again. Then the reviewer's edits: removals drop listed covers, manual boxes are covered.
A frame the audit does not list is dropped (never written uncovered): an audit of a run cut by
--max-frames gives an output as long as that run's.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from vpipe.pipeline.api.edits import read_edits, removed
from vpipe.pipeline.api.element import Context, Element, Params
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.frame import Detections, Frame
from vpipe.pipeline.api.paths import resolve_path
from vpipe.pipeline.api.registry import register
from vpipe.stages.anonymize import Anonymize, AnonymizeParams, Blur, Pixelate
from vpipe.stages.regions import cover_polygon

#: the audit entry holding the reviewer's covers and removals.
REVIEW = "review"


class CoversParams(Params):
    audit: str = Field(description="the audit to render (a run's, or one with a reviewer's edits).")
    anonymizers: dict[str, AnonymizeParams] = Field(default_factory=dict, description="the run's anonymize stages by name: the effect and shape of each one's covers.")


@register("covers")
class Covers(Element[CoversParams]):
    """Covers the rectangles an audit lists (and a reviewer's edits): re-renders without detecting."""

    Params = CoversParams
    replays = "anonymize"
    fail_closed = True
    thread_safe = True
    changes_pixels = True

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.path = resolve_path(ctx.base_dir, params.audit)
        if not params.anonymizers:
            raise VpipeError("params.anonymizers: the config has no anonymize stage to take the effects from")
        self.stages = {name: Anonymize(Context(name, ctx.base_dir), p) for name, p in params.anonymizers.items()}
        self.records = read_edits(self.path)
        self.by_key = {(r.get("name") or r["index"]): r for r in self.records}
        for r in self.records:
            unknown = [n for n in r.get("audit", {}) if n != REVIEW and n not in self.stages]
            if unknown:
                raise VpipeError(f"{self.path}:{r['line']}: {unknown[0]!r} is not an anonymize stage of the config "
                                 f"({', '.join(self.stages)}): apply it with the config of its run (--config)")

    @property
    def last_index(self) -> int:
        return max(r["index"] for r in self.records)

    def for_class(self, name: str) -> Anonymize:
        """The stage that covers this class in the run (the first one, for a `region`)."""
        return next((s for s in self.stages.values() if s.params.classes and name in s.params.classes),
                    next(iter(self.stages.values())))

    def __call__(self, frame: Frame) -> Frame | None:
        record = self.by_key.get(frame.name or frame.index)
        if record is None:
            return None
        image = frame.image.copy()
        h, w = image.shape[:2]
        removals = record.get("remove", [])
        audit, gone = {}, []
        for name, entry in record.get("audit", {}).items():
            if name == REVIEW:
                continue
            stage = self.stages[name]
            if entry.get("covered") == "whole_frame":  # a fault in the run: covered whole, as it was
                image[:] = Pixelate(4)(Blur(4)(image))
                audit[name] = entry
                continue
            kept = []
            for box in entry.get("boxes", []):
                if removed(box, removals):
                    gone.append(box)
                    continue
                stage.cover(image, _clip(box, w, h))
                kept.append(box)
            polygons = entry.get("polygons") or (stage.regions.polygons() if stage.regions else [])
            for polygon in polygons:
                cover_polygon(image, polygon, stage.effect)
            audit[name] = {**entry, "covered": len(kept), "boxes": kept} | ({"polygons": polygons} if polygons else {})
        review = record.get("audit", {}).get(REVIEW, {})
        manual = [{"box": b, "class": c} for b, c in zip(review.get("boxes", []), review.get("classes", []))]
        boxes, classes = [], []
        # Earlier rounds' covers (the audit's review entry) may be removed; this round's are new.
        for item, earlier in [(m, True) for m in manual] + [(m, False) for m in record.get("manual", [])]:
            box = _clip(item["box"], w, h)
            if box[2] <= box[0] or box[3] <= box[1]:
                raise VpipeError(f"{self.path}:{record['line']}: manual box {item['box']} lies outside the {w}x{h} frame")
            if earlier and removed(item["box"], removals):
                gone.append(item["box"])
                continue
            self.for_class(item["class"]).cover(image, box, "rect" if item["class"] == "region" else None)
            boxes.append(list(box))
            classes.append(item["class"])
        if boxes or gone or review:
            audit[REVIEW] = {"covered": len(boxes), "boxes": boxes, "classes": classes,
                             "removed": review.get("removed", []) + gone}
        frame.image = image
        frame.audit = audit
        frame.detections = _detections(record.get("detections", []))
        return frame


def _clip(box, width: int, height: int) -> tuple[int, int, int, int]:
    """Whole pixels inside the frame, growing outwards (a cover never shrinks)."""
    return (max(0, math.floor(box[0])), max(0, math.floor(box[1])),
            min(width, math.ceil(box[2])), min(height, math.ceil(box[3])))


def _detections(items: list[dict]) -> Detections:
    """The run's detections again, for the new audit (verify's track checks read them)."""
    if not items:
        return Detections()
    tracks = [d.get("track", -1) for d in items]
    return Detections(np.array([d["box"] for d in items], np.float32), np.array([d.get("score", 0) for d in items], np.float32),
                      np.array([d.get("class_id", 0) for d in items], np.int64), tuple(d.get("class", "") for d in items),
                      track_ids=np.array(tracks, np.int64) if any("track" in d for d in items) else None,
                      data={"source": np.array([d.get("stage", "") for d in items])})
