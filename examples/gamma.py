"""An example element, the whole of it: brighten or darken frames with a gamma curve.

Use it from a package that declares, in its pyproject.toml,

    [project.entry-points."vpipe.elements"]
    gamma = "examples.gamma"

then in a config: `stages: [{type: gamma, params: {gamma: 0.8}}]`. See docs/elements.md.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from vpipe.pipeline import Element, Frame, Params, register


class GammaParams(Params):
    gamma: float = Field(1.0, gt=0.0, le=5.0, description="below 1 brightens, above 1 darkens")


@register("gamma")
class Gamma(Element[GammaParams]):
    """Applies out = 255 * (in / 255) ** gamma to every pixel, through one lookup table."""

    Params = GammaParams
    changes_pixels = True  # the graph then knows these pixels are new (pipeline/runtime/lineage.py)
    thread_safe = True

    def __init__(self, ctx, params: GammaParams):
        super().__init__(ctx, params)
        self.table = np.clip(255 * (np.arange(256) / 255) ** params.gamma, 0, 255).astype(np.uint8)

    def __call__(self, frame: Frame) -> Frame:
        frame.image = cv2.LUT(frame.image, self.table)  # a new array: other branches keep theirs
        return frame
