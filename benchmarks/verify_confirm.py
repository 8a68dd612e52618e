"""Where verify's plate confirmation thresholds come from (pipeline/verify/confirm.py).

    python benchmarks/verify_confirm.py [--data ../shared/data/train/openimages-plates] [--splits valid test]

Runs check 2's plate detector on photos the model was not trained on, as `vpipe verify` runs it
(whole frame at 0.6 times the threshold, 2x2 tiles upscaled twice at the threshold), splits its
boxes into those on an annotated plate (IoU >= 0.3) and the others, and prints how many of each
score PLATE_ALONE or more, and how many of the rest hold MIN_CHARACTERS in a row.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from vpipe.pipeline.api.boxes import box_iou
from vpipe.pipeline.apps.cli import _build
from vpipe.pipeline.verify.check import Detectors
from vpipe.pipeline.verify.confirm import MIN_CHARACTERS, PLATE_ALONE, text_row

ROOT = Path(__file__).resolve().parents[1]


def plates(label: Path, w: int, h: int) -> list[list[float]]:
    """The YOLO label file's plates (class 0) as pixel xyxy boxes."""
    out = []
    for line in label.read_text().splitlines() if label.is_file() else []:
        if line.startswith("0 "):
            _, cx, cy, bw, bh = map(float, line.split())
            out.append([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/train/openimages-plates")
    parser.add_argument("--splits", nargs="+", default=["valid", "test"])
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"{args.data}: not found (the Open Images plates of ../shared/data/train)", file=sys.stderr)
        return 1
    graph = _build(ROOT / "configs/roadview.yaml", input=str(args.data / args.splits[0] / "images"), device=None)
    detect = Detectors([n.element for n in graph.nodes.values() if type(n.element).__name__ == "Detect"], tiles=2)
    counts = {True: [0, 0, 0], False: [0, 0, 0]}  # on a plate: [boxes, scoring PLATE_ALONE+, the rest with text]
    for split in args.splits:
        for path in sorted((args.data / split / "images").glob("*.jpg")):
            image = cv2.imread(str(path))
            truth = plates(args.data / split / "labels" / (path.stem + ".txt"), image.shape[1], image.shape[0])
            for box, score, name, _, _ in detect(image):
                if name != "licence_plate":
                    continue
                hit = bool(truth) and float(box_iou(np.array([box]), np.array(truth)).max()) >= 0.3
                counts[hit][0] += 1
                if score >= PLATE_ALONE:
                    counts[hit][1] += 1
                elif text_row(image, box) >= MIN_CHARACTERS:
                    counts[hit][2] += 1
    graph.close()
    for hit, (n, alone, text) in counts.items():
        print(f"{'on an annotated plate' if hit else 'on nothing annotated'}: {n} boxes, {alone} score >= {PLATE_ALONE}, "
              f"{text} of the other {n - alone} hold {MIN_CHARACTERS}+ characters in a row")
    return 0


if __name__ == "__main__":
    sys.exit(main())
