"""Frame -> network input, as the model's metadata says; and boxes back to frame pixels."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vpipe.engines.metadata import ModelMeta


@dataclass(frozen=True)
class Fit:
    """How a frame was fitted into the network input: x_in = x_frame * scale + pad."""

    scale_x: float
    scale_y: float
    pad_x: float = 0.0
    pad_y: float = 0.0

    def boxes_to_frame(self, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
        out = boxes.astype(np.float32, copy=True)
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale_x
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale_y
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
        return out


def input_size_for(meta: ModelMeta, frame_hw: tuple[int, int], override: tuple[int, int] | None) -> tuple[int, int]:
    """The (H, W) to feed: the model's fixed size, else the override, else the frame's size,
    rounded up to the model's stride."""
    h, w = meta.input_size or override or frame_hw
    stride = max(1, meta.stride)
    return -(-h // stride) * stride, -(-w // stride) * stride


def to_tensor(image: np.ndarray, meta: ModelMeta, size: tuple[int, int]) -> tuple[np.ndarray, Fit]:
    """BGR uint8 HxWx3 -> float32 1x3xHxW, resized per `meta.resize`, normalized per meta."""
    h, w = image.shape[:2]
    th, tw = size
    resized: np.ndarray
    if meta.resize == "letterbox":
        scale = min(th / h, tw / w)
        nh, nw = round(h * scale), round(w * scale)
        canvas = np.full((th, tw, 3), 114, np.uint8)
        top, left = (th - nh) // 2, (tw - nw) // 2
        canvas[top:top + nh, left:left + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        resized, fit = canvas, Fit(scale, scale, left, top)
    elif (h, w) != (th, tw):
        resized = cv2.resize(image, (tw, th), interpolation=cv2.INTER_LINEAR)
        fit = Fit(tw / w, th / h)
    else:
        resized, fit = image, Fit(1.0, 1.0)
    # blobFromImage does the swap, scale, mean and HWC->CHW in one pass of C++.
    std = np.asarray(meta.std, np.float32)
    mean = np.asarray(meta.mean, np.float32)
    blob = cv2.dnn.blobFromImage(resized, 1.0 / meta.scale, swapRB=meta.color == "rgb", crop=False)
    if np.any(mean != 0) or np.any(std != 1):
        blob = (blob - mean.reshape(1, -1, 1, 1)) / std.reshape(1, -1, 1, 1)
    return blob.astype(np.float32, copy=False), fit
