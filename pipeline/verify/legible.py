"""Whether verify's pictures hold what they should: a covered region that can still be read, and an
output frame that is not the original's (another video, a shifted one).

Legibility is judged at the object's own scale. An object is read from its detail at about
SCALE pixels along its longer side (a face's features, a plate's characters): a covered region
is legible when the output still carries the original's detail at that scale, measured as the
share of the original's band-passed signal that the output's band-passed pixels reproduce (a
projection: noise and block artefacts add energy but not the original's signal). A blur of
`cells` blocks keeps structure up to `cells` / 2 cycles along the box; the band starts above
what vpipe's default (6 cells) keeps, and below what a mild blur, a 2x shrink, JPEG at quality
10 or a 32-cell mosaic keep (docs/verify.md, benchmarks/verify_legible.py).
"""

from __future__ import annotations

import cv2
import numpy as np

from vpipe.pipeline.api.boxes import ellipse_mask

#: the object's longer side, in pixels, at which legibility is judged: a 32 px face is
#: recognizable, a plate 32 px wide holds characters about 5 px high (barely readable).
SCALE = 32
#: the band: detail between these Gaussian scales, in pixels at SCALE (periods of about 3-9 px,
#: 3.5-10 cycles along the longer side; a 6-cell blur keeps 3, a 32-cell mosaic 16).
BAND = (0.5, 1.5)
#: a region is legible when the output reproduces this share of the original's band signal. vpipe's
#: default (blur, 6 cells) kept at most 5 % on 676 regions (the bundled clip, Open Images plates,
#: synthetic plates); a Gaussian sigma 1, JPEG q10, a 2x shrink and 48 cells kept a median of 48-99 %.
LEGIBLE = 0.3
#: below this band energy (mean square, grey levels) the original holds nothing to read there.
BAND_FLAT = 4.0


def _band(gray: np.ndarray, sigma: float) -> np.ndarray:
    fine, coarse = (cv2.GaussianBlur(gray, (0, 0), s * sigma) for s in BAND)
    return fine - coarse


def legibility(before: np.ndarray, after: np.ndarray, box) -> float | None:
    """The share of the original's detail at the object's scale that the output keeps inside `box`
    (1: all of it, about 0: none), or None when the original holds none there (a flat patch).
    Inside the ellipse the box inscribes, as check 1's detail: an `ellipse` anonymizer covers
    that, a `rect` one more, and the audit does not say which."""
    h, w = before.shape[:2]
    x0, y0, x1, y1 = (int(max(0, box[0])), int(max(0, box[1])), int(min(w, box[2])), int(min(h, box[3])))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    sigma = max(x1 - x0, y1 - y0) / SCALE  # one pixel at SCALE, in pixels of the frame
    # The box alone, mirrored at its sides: what lies outside it (an edge the cover ends on) is
    # no part of what the cover hides.
    o, a = (_band(cv2.cvtColor(img[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32), sigma)
            for img in (before, after))
    # 3 px off the ellipse's edge, as check 1: the encoder smears the seam.
    mask = cv2.erode(ellipse_mask((x0, y0, x1, y1), w, h).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    if mask.sum() < 16:
        return None
    o, a = o[mask], a[mask]
    energy = float((o * o).mean())
    if energy < BAND_FLAT:
        return None
    return float((o * a).mean() / energy)


#: outside the covers, an output frame is the original's when its grey levels differ by less than
#: this on average (at a width of 160 px); a re-encode differs by about 1-2.
SAME = 8.0
#: a frame is shifted when a neighbour of its original matches it this much better than its own.
SHIFTED = 0.6
SMALL = 160  # the width at which frames are compared


def small(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (SMALL, max(1, round(h * SMALL / w))),
                      interpolation=cv2.INTER_AREA).astype(np.float32)


def outside(rects, shape: tuple[int, int], width: int) -> np.ndarray:
    """The pixels of a small frame of `shape` outside the covered `rects` (given in a frame
    `width` wide), with a margin: the blur spills a little beyond them."""
    mask = np.ones(shape, bool)
    s = shape[1] / width
    for x0, y0, x1, y1 in rects:
        mask[max(0, int(y0 * s) - 2):int(np.ceil(y1 * s)) + 2, max(0, int(x0 * s) - 2):int(np.ceil(x1 * s)) + 2] = False
    return mask


def difference(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute grey-level difference of two small frames on `mask` (0 where it is empty)."""
    return float(np.abs(a - b)[mask].mean()) if mask.any() else 0.0
