"""Annotate: draw boxes and labels for review (never a substitute for anonymization)."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from vpipe.pipeline.api.element import Element, Params
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.api.registry import register

PALETTE = [(56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207),
           (10, 249, 72), (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0)]


class AnnotateParams(Params):
    labels: bool = True
    scores: bool = True
    thickness: int = Field(2, ge=1, le=20)
    mask_opacity: float = Field(0.4, ge=0.0, le=1.0, description="tint segmentation masks (class colours at this opacity; 0 turns it off).")


@register("annotate")
class Annotate(Element[AnnotateParams]):
    """Draws boxes, class names and scores on a copy of the frame."""

    Params = AnnotateParams
    thread_safe = True
    changes_pixels = True

    def __call__(self, frame: Frame) -> Frame:
        image = frame.image.copy()
        if self.params.mask_opacity and frame.masks:
            colors = np.array([(0, 0, 0)] + PALETTE * 26, np.uint8)  # class 0 (background) untinted
            for mask in frame.masks.values():
                tint = colors[mask.labels]
                on = mask.labels > 0
                a = self.params.mask_opacity
                image[on] = (image[on] * (1 - a) + tint[on] * a).astype(np.uint8)
        d = frame.detections
        for i in range(len(d)):
            x1, y1, x2, y2 = (int(round(float(v))) for v in d.boxes[i])
            color = PALETTE[int(d.class_ids[i]) % len(PALETTE)]
            cv2.rectangle(image, (x1, y1), (x2, y2), color, self.params.thickness)
            text = []
            if self.params.labels:
                text.append(d.class_names[i])
            if self.params.scores:
                text.append(f"{float(d.scores[i]):.2f}")
            if text:
                cv2.putText(image, " ".join(text), (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                            0.45, color, 1, cv2.LINE_AA)
        frame.image = image
        return frame
