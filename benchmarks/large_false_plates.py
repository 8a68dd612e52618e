"""How strongly plate models mistake a large non-plate scene for a plate, side by side.

    python benchmarks/large_false_plates.py models/plates_ssdlite_mnv2.onnx NEW.onnx \\
        [--video samples/roadview.mp4] [--frames 150-199] [--min-width 150]

The bundled sample's last frames show a rocket on its launch towers and no plate wider than
`--min-width`: every box that wide is false. Per model it prints in how many frames such a box
scores at least 0.5 (roadview's `large_threshold`, so it is blurred) and 0.3, and the best score
(whole-frame look, as the `plates` stage's first look). Lower is better; the part-3 model's
regression on this scene is docs/plates.md's "False blurs".
"""

from __future__ import annotations

import argparse
from itertools import islice
from pathlib import Path

import av
import numpy as np

from vpipe.pipeline.api.element import Context
from vpipe.pipeline.api.frame import Frame
from vpipe.stages.detect import Detect, DetectParams

ROOT = Path(__file__).resolve().parents[1]


def frames(video: Path, first: int, last: int) -> list[tuple[int, np.ndarray]]:
    with av.open(str(video)) as container:  # decoding stops at `last`
        return [(i, frame.to_ndarray(format="bgr24"))
                for i, frame in islice(enumerate(container.decode(video=0)), first, last + 1)]


def best_large_scores(model: Path, images: list[tuple[int, np.ndarray]], min_width: float) -> np.ndarray:
    """The best `licence_plate` score of a box at least `min_width` px wide, per frame (0: none)."""
    stage = Detect(Context("plates", ROOT, engine_path=model, threads=2),
                   DetectParams(threshold=0.05, classes=["licence_plate"]))
    best = []
    for i, image in images:
        found = stage(Frame(image, "sample", i, None, 0.0, 0.0)).detections
        wide = found.scores[(found.boxes[:, 2] - found.boxes[:, 0]) >= min_width]
        best.append(float(wide.max()) if len(wide) else 0.0)
    return np.array(best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--video", type=Path, default=ROOT / "samples" / "roadview.mp4")
    parser.add_argument("--frames", default="150-199", help="first-last frame index, inclusive")
    parser.add_argument("--min-width", type=float, default=150.0)
    args = parser.parse_args()
    first, last = (int(v) for v in args.frames.split("-"))
    images = frames(args.video, first, last)
    for model in args.models:
        best = best_large_scores(model, images, args.min_width)
        print(f"{model}: {len(best)} frames; a box >= {args.min_width:.0f} px at >= 0.5 in {(best >= 0.5).sum()}, "
              f">= 0.3 in {(best >= 0.3).sum()}; best {best.max():.2f}")


if __name__ == "__main__":
    main()
