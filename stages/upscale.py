"""Super-resolution: SRCNN or a real-time net (ESPCN) from its engine, tiled for large frames.

Models trained on luma (`color: y` in their metadata) upscale Y and leave Cb/Cr to bicubic, as
the SRCNN paper does; SRCNN runs on a bicubic-upsampled input (`vpipe.pre_upsample`), ESPCN on
the low-resolution frame. Put it before `detect` for small, distant plates, or before a sink.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from vpipe.engines import Engine
from vpipe.pipeline.api.element import Params
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.api.registry import register
from vpipe.stages.base import ModelElement


class Upscaler:
    """BGR uint8 -> BGR uint8, `scale` times larger, by the engine's model."""

    def __init__(self, engine: Engine, tile: int = 192, overlap: int = 8):
        self.engine = engine
        meta = engine.meta
        self.scale = max(1, meta.sr_scale)
        self.pre_upsample = meta.extra.get("vpipe.pre_upsample") == "bicubic"
        self.luma = meta.color == "y"
        self.tile, self.overlap = tile, overlap
        self.input_name = engine.inputs[0].name

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        size = (w * self.scale, h * self.scale)
        if self.luma:
            ycc = cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb)
            up = cv2.resize(ycc, size, interpolation=cv2.INTER_CUBIC)  # Cb, Cr stay bicubic
            y = (up[..., 0] if self.pre_upsample else ycc[..., 0]).astype(np.float32) / 255.0
            up[..., 0] = _to_uint8(self._tiled(y[None]))[0]
            return cv2.cvtColor(up, cv2.COLOR_YCrCb2BGR)
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if self.pre_upsample:
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
        out = self._tiled(rgb.transpose(2, 0, 1).astype(np.float32) / 255.0)
        return cv2.cvtColor(_to_uint8(out).transpose(1, 2, 0), cv2.COLOR_RGB2BGR)

    def _tiled(self, x: np.ndarray) -> np.ndarray:
        """Run on overlapping tiles so memory stays bounded at any frame size; the overlap
        gives every kept pixel its full receptive field, so seams do not show."""
        c, h, w = x.shape
        f = 1 if self.pre_upsample else self.scale
        out = np.empty((c, h * f, w * f), np.float32)
        t, m = self.tile, self.overlap
        for y0 in range(0, h, t):
            for x0 in range(0, w, t):
                y1, x1 = min(h, y0 + t), min(w, x0 + t)
                py0, px0, py1, px1 = max(0, y0 - m), max(0, x0 - m), min(h, y1 + m), min(w, x1 + m)
                patch = np.ascontiguousarray(x[None, :, py0:py1, px0:px1])
                result = next(iter(self.engine.run({self.input_name: patch}).values()))[0]
                out[:, y0 * f:y1 * f, x0 * f:x1 * f] = result[:, (y0 - py0) * f:(y1 - py0) * f,
                                                              (x0 - px0) * f:(x1 - px0) * f]
        return out


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


class UpscaleParams(Params):
    tile: int = Field(192, ge=16, le=4096, description="tile size in input pixels (memory bound) and the overlap between tiles.")
    overlap: int = Field(8, ge=0, le=64)


@register("upscale")
class Upscale(ModelElement[UpscaleParams]):
    """Upscales frames by the model's factor; boxes already found are scaled with them."""

    Params = UpscaleParams
    engine_tasks = ("super_resolution",)
    changes_pixels = True

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.upscaler = Upscaler(self.engine, params.tile, params.overlap)

    def open(self) -> None:
        pass  # no warm-up: the first tile warms the session up at the real size

    def __call__(self, frame: Frame) -> Frame:
        frame.resize(self.upscaler(frame.image))  # boxes and masks follow the pixels
        return frame
