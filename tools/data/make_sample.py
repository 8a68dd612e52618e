"""Make the bundled sample clip `samples/roadview.mp4` from redistributable material only.

    vpipe sample --out samples/roadview.mp4

The scene is scikit-image's bundled sample photos (the astronaut portrait is a public-domain
NASA photo; the others are public domain or CC0, see skimage.data) panned like a passing camera,
with a synthetic car and licence plate driving across it, so the default graph has a real face
to find and a plate-like region to look at. Deterministic: the same bytes every run.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import av
import cv2
import numpy as np


def _scene(width: int) -> np.ndarray:
    from skimage import data

    tiles = [data.coffee(), data.astronaut(), data.chelsea(), data.rocket()]
    height = 360
    resized = [cv2.resize(t, (int(t.shape[1] * height / t.shape[0]), height), interpolation=cv2.INTER_AREA)
               for t in tiles]
    strip = np.concatenate(resized, axis=1)
    return cv2.cvtColor(strip, cv2.COLOR_RGB2BGR)[:, : max(width, strip.shape[1])]


#: the plate's rectangle on the car sprite (x1, y1, x2, y2), for drawing and for the tests' ground truth.
PLATE = (70, 50, 150, 72)
PLATE_TEXT, TEXT_ORIGIN, TEXT_SCALE = "VP 1234", (74, 67), 0.42
CAR = (90, 220)  # sprite height, width


def _text_rect() -> tuple[int, int, int, int]:
    """The characters' rectangle on the sprite: what must be covered for the plate to be unreadable."""
    (w, h), baseline = cv2.getTextSize(PLATE_TEXT, cv2.FONT_HERSHEY_SIMPLEX, TEXT_SCALE, 1)
    x, y = TEXT_ORIGIN
    return x, y - h, x + w, y + baseline


def car_origin(i: int, frames: int, size: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner (x, y) of the car in frame i of `frames`: it drives left to right across."""
    width, height = size
    t = i / max(1, frames - 1)
    return int(-CAR[1] + t * (width + CAR[1])), height - CAR[0] - 10


def plate_box(i: int, frames: int = 200, size: tuple[int, int] = (640, 360), text: bool = False
              ) -> tuple[int, int, int, int] | None:
    """The plate's box (or with `text`, its characters' box) in frame i, in frame pixels, clipped
    to the frame; None when none of it shows."""
    cx, y = car_origin(i, frames, size)
    rect = _text_rect() if text else PLATE
    x1, x2 = max(0, cx + rect[0]), min(size[0], cx + rect[2])
    return (x1, y + rect[1], x2, y + rect[3]) if x2 > x1 else None


def _car(text: str) -> np.ndarray:
    car = np.full((*CAR, 3), (60, 60, 160), np.uint8)
    cv2.rectangle(car, (20, 10), (200, 40), (200, 200, 210), -1)  # windows
    cv2.circle(car, (50, 85), 18, (20, 20, 20), -1)
    cv2.circle(car, (170, 85), 18, (20, 20, 20), -1)
    cv2.rectangle(car, PLATE[:2], PLATE[2:], (245, 245, 245), -1)  # plate
    cv2.rectangle(car, PLATE[:2], PLATE[2:], (0, 0, 0), 1)
    cv2.putText(car, text, TEXT_ORIGIN, cv2.FONT_HERSHEY_SIMPLEX, TEXT_SCALE, (0, 0, 0), 1, cv2.LINE_AA)
    return car


def make(out: Path, seconds: float = 8.0, fps: int = 25, size: tuple[int, int] = (640, 360)) -> int:
    width, height = size
    scene = _scene(width)
    car = _car(PLATE_TEXT)
    frames = int(seconds * fps)

    def images() -> Iterator[np.ndarray]:
        for i in range(frames):
            t = i / max(1, frames - 1)
            x = int(t * (scene.shape[1] - width))
            image = scene[:, x:x + width].copy()
            cx, y = car_origin(i, frames, size)
            left, right = max(0, cx), min(width, cx + car.shape[1])
            if right > left:
                image[y:y + car.shape[0], left:right] = car[:, left - cx:right - cx]
            yield image

    return write_h264(out, images(), fps, crf=26, preset="slow")


def write_h264(out: Path, images: Iterable[np.ndarray], fps: int, crf: int, preset: str) -> int:
    """Encode BGR frames of one size to an H.264 mp4 at a constant rate; returns the count."""
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with av.open(str(out), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        for image in images:
            if count == 0:
                stream.height, stream.width = image.shape[:2]
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = count
            count += 1
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return count


def main(argv: list[str] | None = None, prog: str = "vpipe sample") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("samples/roadview.mp4"))
    args = parser.parse_args(argv)
    n = make(args.out)
    print(f"{args.out}: {n} frames, {args.out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
