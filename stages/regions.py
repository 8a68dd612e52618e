"""Static regions of a camera's picture, for an `anonymize` stage (`params.regions`):

* `always`: polygons covered on every frame, whatever was detected (a dashcam's overlay that
  prints a plate number or GPS text, a private driveway);
* `never`: polygons where detection-driven covers are dropped (the car's own hood, where false
  positives fire). A box whose centre lies inside one is dropped, except a `protect` class (faces
  and plates by default): those are kept unless `allow_uncover: true`, since a region drawn once
  must never silently uncover a person who walks into it. Every drop is audited.

Polygons are lists of [x, y] points in frame pixels, checked against the frame's size.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field, field_validator

from vpipe.pipeline.api.element import Params
from vpipe.pipeline.api.errors import VpipeError

Polygon = list[tuple[float, float]]


class RegionsParams(Params):
    always: list[Polygon] = Field(default_factory=list, description="polygons ([[x, y], ...], frame pixels) covered on every frame.")
    never: list[Polygon] = Field(default_factory=list, description="polygons where detections are not covered (false positives on the car's hood); faces and plates stay covered unless allow_uncover.")
    allow_uncover: bool = Field(False, description="let `never` drop covers of `protect` classes too (each drop is audited).")
    protect: list[str] = Field(["face", "licence_plate"], description="classes `never` keeps covered unless allow_uncover.")

    @field_validator("always", "never")
    @classmethod
    def _polygons(cls, polygons: list[Polygon]) -> list[Polygon]:
        for i, polygon in enumerate(polygons):
            if len(polygon) < 3 or abs(cv2.contourArea(np.array(polygon, np.float32))) < 1.0:
                raise ValueError(f"polygon {i} is empty: it needs 3 or more points enclosing an area")
        return polygons


class Regions:
    """The `regions` of one anonymize stage, checked against the frame size once it is known."""

    def __init__(self, params: RegionsParams, width: int | None = None, height: int | None = None):
        self.params = params
        self.size: tuple[int, int] | None = None
        self.always = [np.array(p, np.float32) for p in params.always]
        self.never = [np.array(p, np.float32) for p in params.never]
        if width and height:
            self.check(width, height)

    def check(self, width: int, height: int) -> None:
        """Every point inside the frame; once per size (a stream keeps its size)."""
        if self.size == (width, height):
            return
        for kind, polygons in (("always", self.always), ("never", self.never)):
            for i, polygon in enumerate(polygons):
                x, y = polygon[:, 0], polygon[:, 1]
                if x.min() < 0 or y.min() < 0 or x.max() > width or y.max() > height:
                    raise VpipeError(f"params.regions.{kind}[{i}]: a point lies outside the {width}x{height} frame")
        self.size = (width, height)

    def never_drops(self, box, name: str) -> bool:
        """Whether a detection-driven cover of this box is dropped by a `never` region."""
        if name in self.params.protect and not self.params.allow_uncover:
            return False
        cx, cy = (float(box[0]) + float(box[2])) / 2, (float(box[1]) + float(box[3])) / 2
        return any(cv2.pointPolygonTest(p, (cx, cy), False) >= 0 for p in self.never)

    def polygons(self) -> list[list[list[int]]]:
        """The `always` polygons as whole pixels, as the audit lists them."""
        return [[[int(round(x)), int(round(y))] for x, y in p] for p in self.always]


def cover_polygon(image: np.ndarray, polygon: list[list[int]], effect) -> None:
    """The effect over the polygon's bounding box, kept only inside the polygon (in place)."""
    h, w = image.shape[:2]
    points = np.array(polygon, np.int32)
    x1, y1 = max(0, int(points[:, 0].min())), max(0, int(points[:, 1].min()))
    x2, y2 = min(w, int(points[:, 0].max()) + 1), min(h, int(points[:, 1].max()) + 1)
    if x2 <= x1 or y2 <= y1:
        return
    inside = np.zeros((y2 - y1, x2 - x1), np.uint8)
    cv2.fillPoly(inside, [points - [x1, y1]], 1)
    region = image[y1:y2, x1:x2]
    region[inside > 0] = np.asarray(effect(region))[inside > 0]
