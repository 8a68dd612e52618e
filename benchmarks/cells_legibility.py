"""How legible plate characters stay under `anonymize` at each `cells` setting.

    python benchmarks/cells_legibility.py

An attacker's best case: the font, the plate and where each character sits are known, so each
covered character is matched against the 36 candidates (A-Z, 0-9) covered the same way at the
same place, the nearest one taken (a Depix-style guess). The share guessed right is the
legibility; chance is 1/36 = 2.8 %. Plate: 138x96 px, 7 characters, as the issue that set the
bound measured (issue 22 M1).
"""

from __future__ import annotations

import string
import sys

import cv2
import numpy as np

from vpipe.stages.anonymize import Blur, Pixelate

GLYPHS = string.ascii_uppercase + string.digits
W, H, CHARS = 138, 96, 7


def plate(text: list[str], dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    image = np.full((H, W, 3), 235, np.uint8)
    for i, ch in enumerate(text):
        cv2.putText(image, ch, (6 + i * 18, 66), cv2.FONT_HERSHEY_SIMPLEX, 0.95, (20, 20, 20), 2, cv2.LINE_AA)
    shift = np.float32([[1, 0, dx], [0, 1, dy]])  # where the camera put it, to a fraction of a pixel
    return cv2.warpAffine(image, shift, (W, H), borderMode=cv2.BORDER_REPLICATE)


def legibility(effect, rng: np.random.Generator, plates: int = 6) -> float:
    """Share of characters guessed right, each by the nearest of the 36 covered candidates."""
    right = total = 0
    for _ in range(plates):
        text = list(rng.choice(list(GLYPHS), CHARS))
        dx, dy = rng.uniform(-1.5, 1.5, 2)  # unknown to the attacker
        seen = plate(text, dx, dy).astype(np.float32) + rng.normal(0, 6, (H, W, 3))  # sensor noise
        seen = effect(np.clip(seen, 0, 255).astype(np.uint8)).astype(np.float32)
        for pos in range(CHARS):
            candidates = np.stack([effect(plate(text[:pos] + [g] + text[pos + 1:])).astype(np.float32) for g in GLYPHS])
            guess = int(np.argmin(((candidates - seen) ** 2).sum(axis=(1, 2, 3))))
            right += GLYPHS[guess] == text[pos]
            total += 1
    return right / total


def main() -> None:
    print("cells  pixelate  blur")
    for cells in (6, 8, 12, 16, 24, 32, 48, 64):
        rng = np.random.default_rng(0)
        p, b = legibility(Pixelate(cells), rng), legibility(Blur(cells), rng)
        print(f"{cells:5d}  {p:7.0%}  {b:5.0%}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
