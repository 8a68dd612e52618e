"""Segmentation: per-pixel classes from an FCN / DeepLabV3 / LRASPP engine, for masks and review."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from vpipe.pipeline.api.element import Params
from vpipe.pipeline.api.frame import Frame, Mask
from vpipe.pipeline.api.registry import register
from vpipe.stages.base import ModelElement
from vpipe.stages.preprocess import input_size_for, to_tensor


class SegmentParams(Params):
    input_size: str | None = Field(None, pattern=r"^\d+x\d+$", description="network input \"HxW\" for models that accept any size; default: the frame's size.")


@register("segment")
class Segment(ModelElement[SegmentParams]):
    """Runs a segmentation engine; adds a class map at frame size to `frame.masks[name]`."""

    Params = SegmentParams
    engine_tasks = ("segment",)
    provides = ("masks",)

    def __init__(self, ctx, params):
        super().__init__(ctx, params, params.input_size)
        n = self.engine.outputs[0].shape[1]
        self.classes = self.engine.meta.classes or tuple(f"class_{i}" for i in range(n if isinstance(n, int) else 0))

    def class_names(self) -> tuple[str, ...]:
        return self.classes

    def __call__(self, frame: Frame) -> Frame:
        h, w = frame.image.shape[:2]
        size = input_size_for(self.engine.meta, (h, w), self.input_override)
        tensor, _ = to_tensor(frame.image, self.engine.meta, size)
        outputs = self.engine.run({self.input_name: tensor})
        logits = outputs.get("out", next(iter(outputs.values())))[0]
        labels = logits.argmax(0).astype(np.uint8)
        if labels.shape != (h, w):
            # Class ids must not blend: nearest, never linear.
            labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
        frame.masks[self.name] = Mask(labels, self.classes)
        return frame
