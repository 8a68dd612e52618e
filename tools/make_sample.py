"""Make the bundled sample clip `samples/roadview.mp4` from redistributable material only.

    python -m vpipe.tools.make_sample --out samples/roadview.mp4

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


def _car(text: str) -> np.ndarray:
    car = np.full((90, 220, 3), (60, 60, 160), np.uint8)
    cv2.rectangle(car, (20, 10), (200, 40), (200, 200, 210), -1)  # windows
    cv2.circle(car, (50, 85), 18, (20, 20, 20), -1)
    cv2.circle(car, (170, 85), 18, (20, 20, 20), -1)
    cv2.rectangle(car, (70, 50), (150, 72), (245, 245, 245), -1)  # plate
    cv2.rectangle(car, (70, 50), (150, 72), (0, 0, 0), 1)
    cv2.putText(car, text, (74, 67), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return car


def make(out: Path, seconds: float = 8.0, fps: int = 25, size: tuple[int, int] = (640, 360)) -> int:
    width, height = size
    scene = _scene(width)
    car = _car("VP 1234")
    frames = int(seconds * fps)

    def images() -> Iterator[np.ndarray]:
        for i in range(frames):
            t = i / max(1, frames - 1)
            x = int(t * (scene.shape[1] - width))
            image = scene[:, x:x + width].copy()
            cx = int(-car.shape[1] + t * (width + car.shape[1]))
            y = height - car.shape[0] - 10
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("samples/roadview.mp4"))
    args = parser.parse_args()
    n = make(args.out)
    print(f"{args.out}: {n} frames, {args.out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
