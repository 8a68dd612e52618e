"""Where a detector looks in a frame, and how what it finds in each place becomes one set of boxes.

A detector of fixed input size sees the whole frame squeezed into its input: a 30 px plate in a
1280 px frame is 12 px once squeezed into 512, below what it can find. Looking again at parts of
the frame at their own resolution brings small objects back into range:

* **tiles**: overlapping crops of `size` frame pixels, each fed to the network at its own
  resolution (or enlarged by `scale`, for models that take any input size);
* **rotation**: on video, only `per_frame` tiles each frame, in turn; the tracker coasts and the
  look-ahead back-fills between a tile's visits, so the cost per frame stays bounded. `revisit`
  bounds the time between visits instead: a larger frame has more tiles, so it takes more a look;
* **a cascade**: crops around boxes of another class (the plate model's own `vehicle` boxes),
  enlarged to the network's input, so a far car's plate is seen several times bigger;
* **zoom-out**: the whole frame on a grey canvas larger than it, the opposite of a tile: a plate
  that fills the frame comes down to the sizes a fixed-input model was trained on most.

The idea is SAHI's (slicing-aided hyper inference, Akyon et al. 2022), kept small here: it needs
only crops and a merge, and SAHI itself would pull torch into the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import cv2
import numpy as np

from vpipe.pipeline.api.boxes import box_iou

#: the grey around a zoomed-out frame: the plate trainer's zoom-out pads with it (tools/train/detect.py).
CANVAS_GREY = 124


@dataclass(frozen=True)
class View:
    """A crop of the frame, (x0, y0)-(x1, y1) in frame pixels, and how much to enlarge it for a
    network that takes any input size (fixed-size networks resize every crop to their input).
    A view may reach beyond the frame (zoom-out); what lies outside is grey. Boxes it finds
    narrower than `min_share` of the frame's width are not kept."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float = 1.0
    min_share: float = 0.0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def crop(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        inside = image[max(self.y0, 0):min(self.y1, h), max(self.x0, 0):min(self.x1, w)]
        beyond = (max(-self.y0, 0), max(self.y1 - h, 0), max(-self.x0, 0), max(self.x1 - w, 0))
        if not any(beyond):
            return inside
        return cv2.copyMakeBorder(inside, *beyond, cv2.BORDER_CONSTANT, value=(CANVAS_GREY,) * 3)


def _starts(length: int, size: int, overlap: float) -> list[int]:
    """Starts of tiles of `size` along `length`, sharing at least `overlap` of a tile, spread
    evenly from one edge to the other."""
    if length <= size:
        return [0]
    step = size * (1.0 - overlap)
    count = ceil((length - size) / step) + 1
    return [round(i * (length - size) / (count - 1)) for i in range(count)]


def tile_grid(width: int, height: int, size: int, overlap: float, scale: float = 1.0) -> list[View]:
    """Overlapping tiles of `size` x `size` frame pixels (smaller where the frame is) covering the
    frame, row by row. An object smaller than `overlap * size` lies whole inside some tile."""
    tw, th = min(size, width), min(size, height)
    return [View(x, y, x + tw, y + th, scale)
            for y in _starts(height, th, overlap) for x in _starts(width, tw, overlap)]


def in_rotation(grid: list[View], index: int, per_frame: int | None) -> list[View]:
    """The tiles frame `index` looks at: all of them, or `per_frame` in turn (every tile once in
    each ceil(len(grid) / per_frame) frames)."""
    if per_frame is None or per_frame >= len(grid):
        return grid
    first = index * per_frame
    return [grid[(first + k) % len(grid)] for k in range(per_frame)]


def tiles_per_look(count: int, per_frame: int | None, revisit: int | None, every: int = 1) -> int | None:
    """How many of `count` tiles in rotation one look takes: `per_frame`, or more where taking
    `per_frame` would leave a tile unvisited for longer than `revisit` frames (looks are `every`
    frames apart). None: every tile on every look."""
    if per_frame is None and revisit is None:
        return None
    least = per_frame or 1
    if revisit is None:
        return least
    looks = max(1, revisit // every)  # looks within `revisit` frames
    return max(least, ceil(count / looks))


def zoomed_out(width: int, height: int, ratio: float, min_share: float = 0.0) -> View:
    """The whole frame in the middle of a grey canvas `ratio` times its size: a fixed-input network
    then sees it `ratio` times smaller than the whole-frame look does."""
    pad_x, pad_y = round(width * (ratio - 1) / 2), round(height * (ratio - 1) / 2)
    return View(-pad_x, -pad_y, width + pad_x, height + pad_y, min_share=min_share)


def crops_around(boxes: np.ndarray, width: int, height: int, margin: float, min_side: int) -> list[View]:
    """Square-ish crops around `boxes` (a cascade's second look): each box grown by `margin` of
    its size per side and to at least `min_side`, shifted inside the frame."""
    views = []
    for x1, y1, x2, y2 in boxes.astype(np.float64):
        w, h = x2 - x1, y2 - y1
        cw = min(width, max(min_side, w * (1 + 2 * margin)))
        ch = min(height, max(min_side, h * (1 + 2 * margin)))
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        x0 = int(round(min(max(cx - cw / 2, 0), width - cw)))
        y0 = int(round(min(max(cy - ch / 2, 0), height - ch)))
        views.append(View(x0, y0, x0 + int(round(cw)), y0 + int(round(ch))))
    return views


def merge(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou: float,
          contained: float = 0.6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One box per object from several views' boxes: same-class boxes that overlap by `iou`, or
    one mostly inside the other (`contained` of the smaller box's area), become their union at the
    best score.

    Union, not NMS's "keep the best": a tile's edge cuts an object, so one view reports part of it
    and the next the whole; NMS would keep whichever scored higher (maybe the part, a leak), and
    keeping both would blur the seam twice. For anonymization the union covers what either saw.
    """
    if len(boxes) < 2:
        return boxes, scores, class_ids
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    out = boxes.astype(np.float32, copy=True)
    best = scores.astype(np.float32, copy=True)
    for i in order:
        target = None
        if kept:
            same = [k for k in kept if class_ids[k] == class_ids[i]]
            if same:
                overlap = box_iou(out[same], boxes[i:i + 1])[:, 0]
                inter = _intersection(out[same], boxes[i])
                smaller = np.minimum(_area(out[same]), _area(boxes[i:i + 1]))
                share = np.divide(inter, smaller, out=np.zeros_like(inter), where=smaller > 0)
                hits = np.flatnonzero((overlap >= iou) | (share >= contained))
                if len(hits):
                    target = same[int(hits[np.argmax(overlap[hits] + share[hits])])]
        if target is None:
            kept.append(int(i))
            continue
        out[target, :2] = np.minimum(out[target, :2], boxes[i, :2])
        out[target, 2:] = np.maximum(out[target, 2:], boxes[i, 2:])
        best[target] = max(best[target], scores[i])
    keep = np.array(kept, np.int64)
    return out[keep], best[keep], class_ids[keep]


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def _intersection(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    w = np.clip(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]), 0, None)
    h = np.clip(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]), 0, None)
    return (w * h).astype(np.float32)
