"""Make a synthetic clip with known licence-plate boxes on every frame, for the leak benchmark.

    python tests/support/leak_clip.py --out bench/leak.mp4 [--frames 300] [--seed 0]

Writes the clip (H.264 with PyAV) and beside it `<name>.json`, the ground truth: for each frame,
the visible part of every plate as {track_id, box: [x1, y1, x2, y2], visible} in frame pixels
(`visible`: the share of the whole plate inside the frame).

The scene: a textured background panning like a driving camera; plates (white rectangles with
black text) drive along lanes at different speeds, entering and leaving the frame through its
edges, and a few pop up in mid-frame and vanish (a car coming out from behind another, turning
away). No plate starts in the last 20 % of the clip (see _plates). Same seed, same clip and the
same ground truth.
"""

from __future__ import annotations

import argparse
import json
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from vpipe.tools.data.make_sample import write_h264

#: lanes as (centre y as a fraction of the height, direction, speed in px/frame at 640 px wide).
LANES = [(0.42, +1, 3.0), (0.62, -1, 5.0), (0.82, +1, 7.0)]


@dataclass
class Plate:
    track_id: int
    text: str
    start: int  # first frame it exists
    x: float  # top-left at `start`
    y: float
    width: float
    vx: float
    vy: float
    grow: float  # size factor per frame (approaching cars grow)
    life: int  # frames it exists (it may leave the frame earlier)

    def box(self, index: int) -> tuple[float, float, float, float] | None:
        """The plate's full box at `index`, or None outside its life."""
        t = index - self.start
        if t < 0 or t >= self.life:
            return None
        scale = self.grow ** t
        w = self.width * scale
        h = w / 3.5
        cx = self.x + self.width / 2 + self.vx * t
        cy = self.y + self.width / 7 + self.vy * t
        return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Road-like clutter: blurred noise, blobs and lines, so the background is not flat."""
    base = rng.integers(0, 255, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    image = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    image = cv2.GaussianBlur(image, (0, 0), 3)
    for _ in range(width // 12):
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        if rng.random() < 0.5:
            cv2.circle(image, (x, y), int(rng.integers(4, 30)), color, -1, cv2.LINE_AA)
        else:
            cv2.line(image, (x, y), (x + int(rng.integers(-80, 80)), y + int(rng.integers(-40, 40))),
                     color, int(rng.integers(1, 4)), cv2.LINE_AA)
    return image


def _plates(rng: np.random.Generator, frames: int, width: int, height: int) -> list[Plate]:
    """Plates on lanes (spawned at the edge, never catching up within a lane) and pop-ups."""
    plates: list[Plate] = []
    scale = width / 640
    # No plate starts in the last 20 % of the clip: one still entering when the clip ends is never
    # detected, and what no detector ever finds no tracker can cover; that is not what is measured.
    last = int(frames * 0.8)
    for fy, direction, speed in LANES:
        t = int(rng.integers(0, 20))
        while t < last:
            w = float(rng.uniform(55, 100)) * scale
            v = speed * scale
            x = -w if direction > 0 else float(width)
            life = int((width + w) / v) + 2
            plates.append(Plate(0, "", t, x, fy * height - w / 7, w, direction * v,
                                float(rng.uniform(-0.15, 0.15)), 1.0, life))
            # The next plate of this lane waits until this one is well inside: no overlap.
            t += int((w * 1.6 + 30 * scale) / v) + int(rng.integers(5, 40))
    t = int(rng.integers(10, 40))
    while t < last:
        w = float(rng.uniform(45, 80)) * scale
        x = float(rng.uniform(0.05, 0.95)) * width - w / 2
        plates.append(Plate(0, "", t, x, float(rng.uniform(0.08, 0.22)) * height, w,
                            float(rng.uniform(-8.0, 8.0)) * scale, float(rng.uniform(-0.3, 0.3)),
                            float(rng.uniform(1.0, 1.006)), int(rng.integers(30, 90))))
        t += int(rng.integers(40, 90))
    plates.sort(key=lambda p: p.start)
    for k, p in enumerate(plates, 1):
        p.track_id = k
        p.text = "".join(rng.choice(list(string.ascii_uppercase), 2)) + " " + "".join(
            rng.choice(list(string.digits), 4))
    return plates


def _draw_plate(image: np.ndarray, plate: Plate, box: tuple[float, float, float, float]) -> None:
    x1, y1, x2, y2 = box
    w, h = round(x2 - x1), round(y2 - y1)
    if w < 2 or h < 2:
        return
    patch = np.full((h, w, 3), 245, np.uint8)
    cv2.rectangle(patch, (0, 0), (w - 1, h - 1), (0, 0, 0), 1)
    font_scale = h / 38
    (tw, th), _ = cv2.getTextSize(plate.text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
    cv2.putText(patch, plate.text, ((w - tw) // 2, (h + th) // 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                (0, 0, 0), max(1, h // 14), cv2.LINE_AA)
    ix, iy = round(x1), round(y1)
    H, W = image.shape[:2]
    left, top, right, bottom = max(0, ix), max(0, iy), min(W, ix + w), min(H, iy + h)
    if right > left and bottom > top:
        image[top:bottom, left:right] = patch[top - iy:bottom - iy, left - ix:right - ix]


def _visible(box: tuple[float, float, float, float], width: int, height: int) -> dict | None:
    """The part of `box` inside the frame (what can leak) and its share of the whole plate, or
    None if under 2 px either way."""
    x1, y1, x2, y2 = max(0.0, box[0]), max(0.0, box[1]), min(float(width), box[2]), min(float(height), box[3])
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    share = (x2 - x1) * (y2 - y1) / ((box[2] - box[0]) * (box[3] - box[1]))
    return {"box": [round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2)], "visible": round(share, 3)}


def make(out: Path, frames: int = 300, size: tuple[int, int] = (640, 360), fps: int = 25,
         seed: int = 0) -> dict:
    """Write the clip and its ground truth (`out` with suffix .json); return the ground truth."""
    width, height = size
    rng = np.random.default_rng(seed)
    pan = 2.0 * width / 640  # the camera drives: the background slides left
    texture = _texture(rng, height, width + int(pan * frames) + 2)
    plates = _plates(rng, frames, width, height)
    truth: dict = {"width": width, "height": height, "fps": fps, "seed": seed, "frames": [],
                   "plates": [{"track_id": p.track_id, "text": p.text, "start": p.start} for p in plates]}

    def images() -> Iterator[np.ndarray]:
        for i in range(frames):
            x = int(pan * i)
            image = texture[:, x:x + width].copy()
            visible = []
            for plate in plates:
                box = plate.box(i)
                if box is None:
                    continue
                _draw_plate(image, plate, box)
                seen = _visible(box, width, height)
                if seen:
                    visible.append({"track_id": plate.track_id, **seen})
            truth["frames"].append(visible)
            yield image

    write_h264(out, images(), fps, crf=23, preset="veryfast")
    out.with_suffix(".json").write_text(json.dumps(truth, separators=(",", ":")))
    return truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/leak.mp4"))
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    args = parser.parse_args()
    truth = make(args.out, args.frames, (args.width, args.height), seed=args.seed)
    shown = {b["track_id"] for f in truth["frames"] for b in f}
    print(f"{args.out}: {args.frames} frames, {len(shown)} plates; "
          f"ground truth {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
