"""Detection: run a detector engine on each frame and add its boxes to the frame."""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from vpipe.pipeline.element import Params
from vpipe.pipeline.errors import VpipeError
from vpipe.pipeline.frame import Detections, Frame
from vpipe.pipeline.registry import register
from vpipe.stages.base import ModelElement
from vpipe.stages.decoders import DECODERS
from vpipe.stages.preprocess import input_size_for, to_tensor


class DetectParams(Params):
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    classes: list[str] | None = Field(None, description="keep only these class names (None keeps all).")
    nms_iou: float = Field(0.45, gt=0.0, le=1.0, description="IoU for the NMS the runtime runs (raw, centerface and yolo layouts).")
    input_size: str | None = Field(None, pattern=r"^\d+x\d+$", description="network input \"HxW\" for models that accept any size; default: the frame's size.")
    min_size: float = Field(0.0, ge=0.0, description="boxes smaller than this (pixels, shorter side) are ignored.")

    @field_validator("classes")
    @classmethod
    def _not_empty(cls, v):
        if v is not None and not v:
            raise ValueError("an empty list would keep nothing; leave it out to keep all classes")
        return v


@register("detect")
class Detect(ModelElement):
    """Runs a detector engine; the output layout comes from the model's metadata."""

    Params = DetectParams
    engine_tasks = ("detect",)
    provides = ("detections",)

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        meta = self.engine.meta
        if meta.decoder not in DECODERS:
            raise VpipeError(f"{ctx.engine_path.name}: unknown output layout {meta.decoder!r}")
        self.decode = DECODERS[meta.decoder]
        names = meta.classes
        if params.classes:
            unknown = [c for c in params.classes if c not in names]
            if unknown:
                raise VpipeError(f"params.classes: {', '.join(unknown)} not among the model's classes "
                                 f"({', '.join(n for n in names if n != '__background__')})")
            self.keep_ids = np.array([names.index(c) for c in params.classes])
        else:
            self.keep_ids = None

    def class_names(self) -> tuple[str, ...]:
        return tuple(self.params.classes or (n for n in self.engine.meta.classes if n != "__background__"))

    def score_floor(self) -> float:
        return self.params.threshold

    def __call__(self, frame: Frame) -> Frame:
        tensor, fit = self._prepare(frame)
        return self._finish(frame, self.engine.run({self.input_name: tensor}), fit)

    def batch_error(self, size: int) -> str | None:
        if self.engine.meta.decoder == "torchvision":
            return (f"{self.ctx.engine_path.name} has per-image outputs (torchvision layout); "
                    "export it with --nms none or --nms onnx to run batches")
        return super().batch_error(size)

    def run_batch(self, frames: list[Frame]) -> list[Frame]:
        """One engine run per input shape (cameras of one resolution share a run)."""
        prepared = [self._prepare(frame) for frame in frames]
        groups: dict[tuple, list[int]] = {}
        for i, (tensor, _) in enumerate(prepared):
            groups.setdefault(tensor.shape, []).append(i)
        for members in groups.values():
            stacked = np.concatenate([prepared[i][0] for i in members])
            outputs = self.engine.run({self.input_name: stacked})
            for k, i in enumerate(members):
                self._finish(frames[i], {name: v[k:k + 1] for name, v in outputs.items()}, prepared[i][1])
        return frames

    def _prepare(self, frame: Frame):
        size = input_size_for(self.engine.meta, frame.image.shape[:2], self.input_override)
        return to_tensor(frame.image, self.engine.meta, size)

    def _finish(self, frame: Frame, outputs: dict[str, np.ndarray], fit) -> Frame:
        """Decode one image's outputs (batch dimension 1) into the frame's detections."""
        meta = self.engine.meta
        h, w = frame.image.shape[:2]
        boxes, scores, class_ids = self.decode(outputs, self.params.threshold, self.params.nms_iou, len(meta.classes))
        boxes = fit.boxes_to_frame(boxes, w, h)
        keep = np.ones(len(boxes), bool)
        if self.keep_ids is not None:
            keep &= np.isin(class_ids, self.keep_ids)
        if self.params.min_size:
            keep &= np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= self.params.min_size
        boxes, scores, class_ids = boxes[keep], scores[keep], class_ids[keep]
        names = tuple(meta.classes[i] if 0 <= i < len(meta.classes) else str(i) for i in class_ids)
        found = Detections(boxes, scores, class_ids, names).with_data(source=self.name)
        frame.detections = frame.detections + found
        return frame
