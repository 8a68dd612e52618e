"""Anonymization: cover detected regions so they cannot be recovered. Fails closed.

One small class per effect with one uniform call (like supervision's annotators); the stage picks
one by name. Strength scales with the box, so a large face is as unreadable as a small plate.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from vpipe.pipeline.api.boxes import ellipse_mask
from vpipe.pipeline.api.element import Element, Params
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.api.registry import register
from vpipe.stages.regions import Regions, RegionsParams, cover_polygon


class Blur:
    """Downsample to a few pixels across the region, blur, upsample: the detail is gone, not
    just softened, and it costs the same for any box size (a 15 px kernel is not enough)."""

    def __init__(self, cells: int = 6):
        self.cells = cells

    def __call__(self, region: np.ndarray) -> np.ndarray:
        h, w = region.shape[:2]
        small = cv2.resize(region, (max(1, w * self.cells // max(h, w)), max(1, h * self.cells // max(h, w))),
                           interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (3, 3), 0)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


class Pixelate:
    """Mosaic with about `cells` blocks along the longer side of the region."""

    def __init__(self, cells: int = 8):
        self.cells = cells

    def __call__(self, region: np.ndarray) -> np.ndarray:
        h, w = region.shape[:2]
        cell = max(2, max(h, w) // self.cells)
        small = cv2.resize(region, (max(1, w // cell), max(1, h // cell)), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


class Fill:
    def __init__(self, color: tuple[int, int, int] = (0, 0, 0)):
        self.color = np.array(color, np.uint8)

    def __call__(self, region: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.color, region.shape)


EFFECTS = {"blur": Blur, "pixelate": Pixelate, "fill": Fill}
#: the most blocks across a box without `strength_override`: above it, plate characters can be
#: told apart (docs/anonymization.md, "How strong"; benchmarks/cells_legibility.py).
SAFE_CELLS = 8


class AnonymizeParams(Params):
    method: Literal["blur", "pixelate", "fill"] = "blur"
    padding: float = Field(0.15, ge=0.0, le=2.0, description="grow each box by this fraction of its size on every side (detectors cut boxes tight).")
    shape: Literal["rect", "ellipse"] = Field("rect", description="\"ellipse\" suits faces; plates are rectangles.")
    cells: int = Field(6, ge=2, le=64, description=f"how coarse blur/pixelate are: blocks along the longer side of the box (fewer = stronger); above {SAFE_CELLS} needs strength_override.")
    strength_override: bool = Field(False, description=f"accept cells above {SAFE_CELLS}, which can leave plates legible.")
    color: tuple[int, int, int] = Field((0, 0, 0), description="fill colour, BGR.")
    classes: list[str] | None = Field(None, description="cover only these class names (None: every detection).")
    mask_classes: list[str] | None = Field(None, description="also cover the pixels a segmentation stage labelled with these classes (pixel-exact instead of boxes, e.g. [person]); the effect is the same as for boxes.")
    on_fault: Literal["obscure_frame", "drop", "stop"] = Field("obscure_frame", description="a frame an upstream stage failed on (on_error: mark): cover all of it, drop it, or stop.")
    regions: RegionsParams | None = Field(None, description="static polygons: `always` covered on every frame, `never` no detection covered (stages/regions.py).")


class UpstreamFault(Exception):
    pass


@register("anonymize")
class Anonymize(Element[AnonymizeParams]):
    """Covers every detected box (blur, pixelate or fill); covers the whole frame on a fault."""

    Params = AnonymizeParams
    fail_closed = True
    thread_safe = True
    changes_pixels = True

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        p = params
        if p.method != "fill" and p.cells > SAFE_CELLS and not p.strength_override:
            raise VpipeError(f"params.cells: {p.cells} blocks across a box can leave a plate legible (at most "
                             f"{SAFE_CELLS}, docs/anonymization.md); set strength_override: true to accept it")
        self.effect = Fill(p.color) if p.method == "fill" else EFFECTS[p.method](p.cells)
        first = next(iter(ctx.streams.values()), None)
        self.regions = Regions(p.regions, first and first.width, first and first.height) if p.regions else None

    def upstream_error(self, upstream: dict[str, set[str]]) -> str | None:
        # With nothing upstream to find regions, it would pass every frame as it came, audited as covered.
        # Fixed `always` regions are something to cover on their own (a dashcam's overlay).
        always = self.params.regions is not None and bool(self.params.regions.always)
        if not (self.params.mask_classes or "detections" in upstream or always):
            return "it covers detections or masks, and no detect or segment stage is upstream of it"
        # A class name no stage upstream produces would cover nothing, and say nothing.
        for field, kind, maker in (("classes", "detections", "detect"), ("mask_classes", "masks", "segment")):
            wanted = getattr(self.params, field)
            if not wanted:
                continue
            if kind not in upstream:
                return f"params.{field} needs a {maker} stage upstream, and there is none"
            unknown = [c for c in wanted if c not in upstream[kind]]
            if unknown:
                known = ", ".join(sorted(upstream[kind])) or "none"
                return f"params.{field}: {', '.join(unknown)} not among the classes of the {maker} stages upstream ({known})"
        return None

    def __call__(self, frame: Frame) -> Frame | None:
        image = frame.image.copy()  # never draw into pixels another branch may share
        if frame.faults:
            if self.params.on_fault == "drop":
                return None
            if self.params.on_fault == "stop":
                raise UpstreamFault(f"upstream stage(s) failed on frame {frame.index}: {', '.join(frame.faults)}")
            image[:] = Pixelate(4)(Blur(4)(image))
            frame.image = image
            frame.audit[self.name] = {"covered": "whole_frame", "reason": "fault:" + ",".join(frame.faults)}
            return frame
        dets = frame.detections
        h, w = image.shape[:2]
        if self.regions:
            self.regions.check(w, h)
        covered, dropped = [], []
        for i in range(len(dets)):
            if self.params.classes and dets.class_names[i] not in self.params.classes:
                continue
            if self.regions and self.regions.never_drops(dets.boxes[i], dets.class_names[i]):
                dropped.append({"box": [round(float(v), 1) for v in dets.boxes[i]], "class": dets.class_names[i]})
                continue
            box = _padded(dets.boxes[i], self.params.padding, w, h)
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            self.cover(image, box)
            covered.append(list(box))
        audit = {"covered": len(covered), "boxes": covered}
        if self.regions:
            polygons = audit["polygons"] = self.regions.polygons()
            for polygon in polygons:
                cover_polygon(image, polygon, self.effect)
            if dropped:
                audit["never"] = dropped  # every cover a `never` region dropped, for review
        if self.params.mask_classes and frame.masks:
            pixels = np.zeros(image.shape[:2], bool)
            for mask in frame.masks.values():
                pixels |= mask.of(self.params.mask_classes)
            if pixels.any():
                # The effect over the mask's bounding box, kept only where the mask is set.
                ys, xs = np.nonzero(pixels)
                y1, y2, x1, x2 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
                region = image[y1:y2, x1:x2]
                inside = pixels[y1:y2, x1:x2]
                region[inside] = self.effect(region)[inside]
            audit["mask_pixels"] = int(pixels.sum())
        frame.image = image
        # The audit lists the exact rectangles covered, so leaks can be measured from it.
        frame.audit[self.name] = audit
        return frame

    def cover(self, image: np.ndarray, box, shape: str | None = None) -> None:
        """Cover one rectangle (already padded, inside the frame) in place, with this stage's
        effect and shape; `vpipe apply` re-renders an audit's rectangles through it."""
        x1, y1, x2, y2 = box
        region = image[y1:y2, x1:x2]
        covered_region = self.effect(region)
        if (shape or self.params.shape) == "ellipse":
            mask = ellipse_mask((x1, y1, x2, y2), image.shape[1], image.shape[0])
            region[mask] = covered_region[mask]
        else:
            region[:] = covered_region


def _padded(box: np.ndarray, padding: float, width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (float(v) for v in box)
    pw, ph = (x2 - x1) * padding, (y2 - y1) * padding
    return (max(0, int(np.floor(x1 - pw))), max(0, int(np.floor(y1 - ph))),
            min(width, int(np.ceil(x2 + pw))), min(height, int(np.ceil(y2 + ph))))
