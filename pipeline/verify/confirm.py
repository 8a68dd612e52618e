"""Which of check 2's residual detections are candidate leaks: a second, independent look.

For plates, plate-like text. A readable plate is a row of characters: several blobs of about the
same height, side by side on one line, each taller than wide. Tail lights, road texture, a collar
or a blurred plate hold no such row. Only OpenCV and numpy: no weights to download, nothing
learned, so it does not share the detector's mistakes.
"""

from __future__ import annotations

import cv2
import numpy as np

#: the box is scaled to this height before looking for characters (a distant plate is upscaled).
HEIGHT = 48
#: a plate candidate this sure stands alone; below it, it needs this many characters in a row.
#: On the Open Images valid and test photos (not trained on), 93 % of the detections of annotated
#: plates score 0.6 or more; of the detections of nothing annotated, 72 % score less, and of those
#: 6 % hold 3 characters in a row (docs/verify.md).
PLATE_ALONE = 0.6
MIN_CHARACTERS = 3


def confirmed(image: np.ndarray, box, score: float, run_threshold: float, reads_as_text: bool) -> str | None:
    """Why a residual detection on the output is a candidate leak, or None when it is not one.

    A plate (a class its detector declares `reads_as_text`, Element.text_classes) is confirmed
    by its score or by plate-like text. Other classes (faces) have no second
    detector here (opencv-python 5 ships no Haar cascades, and verify downloads nothing), so
    they stand only at the run's own threshold: below it, on the bundled clip, the detector
    found helmet highlights and shadows, never a face."""
    if reads_as_text:
        if score >= PLATE_ALONE:
            return f"scores {score:.2f}"
        characters = text_row(image, box)
        return f"{characters} characters in a row" if characters >= MIN_CHARACTERS else None
    return f"at the run's threshold {run_threshold:.2f}" if score >= run_threshold else None


def text_row(image: np.ndarray, box) -> int:
    """The number of character-like blobs in the longest aligned row inside `box` of a BGR image."""
    crop = _crop(image, box)
    if crop is None:
        return 0
    best = 0
    for ink in _binarized(crop):
        best = max(best, _longest_row(_characters(ink)))
    return best


def _crop(image: np.ndarray, box) -> np.ndarray | None:
    """The box, a little wider (a detector's box may clip the first or last character), grey, at HEIGHT."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    pad = 0.1 * (x1 - x0)
    x0, x1 = int(max(0, x0 - pad)), int(min(w, x1 + pad))
    y0, y1 = int(max(0, y0)), int(min(h, y1))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    gray = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    scale = HEIGHT / (y1 - y0)
    return cv2.resize(gray, (max(4, round((x1 - x0) * scale)), HEIGHT), interpolation=cv2.INTER_CUBIC)


def _binarized(gray: np.ndarray):
    """Dark characters on a light plate and light on dark: Otsu's split, both ways round. A plate
    with too little contrast to split (a blurred one) holds nothing to read."""
    if float(gray.std()) < 12:
        return
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    yield ink
    yield 255 - ink


def _characters(ink: np.ndarray) -> list[tuple[float, float, float, float]]:
    """(x, centre y, width, height) of the blobs shaped like a character: a fifth to nine tenths
    of the box's height, narrower than tall but not a hairline, filling part of their box."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    out = []
    for x, y, w, h, area in stats[1:]:
        if 0.2 * HEIGHT <= h <= 0.9 * HEIGHT and 0.12 * h <= w <= 1.0 * h and 0.2 <= area / (w * h) <= 0.9:
            out.append((float(x), y + h / 2, float(w), float(h)))
    return out


def _longest_row(chars: list) -> int:
    """The most blobs in one row: heights within 20 %, centres on one line, gaps under a height."""
    chars = sorted(chars)
    best = 0
    for i, (x, cy, w, h) in enumerate(chars):
        row, right = 1, x + w
        for x2, cy2, w2, h2 in chars[i + 1:]:
            if x2 - right > h:
                break
            if abs(h2 - h) <= 0.2 * h and abs(cy2 - cy) <= 0.2 * h and x2 >= right - 0.2 * w2:
                row, right = row + 1, x2 + w2
        best = max(best, row)
    return best
