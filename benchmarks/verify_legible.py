"""Where verify's legibility threshold comes from (pipeline/verify/legible.py).

    vpipe run configs/roadview.yaml -o /tmp/c.mp4            # vpipe's own output and its audit
    python benchmarks/verify_legible.py --clean /tmp/c.mp4 [--data ../shared/data/train/openimages-plates]

For each covered region, the share of the original's detail at the object's scale that an output
keeps (`legibility`), and how many regions reach LEGIBLE (verify's "legible"). The outputs: vpipe's
own (the clip's real output; elsewhere the anonymize stage's default Blur on the box), and fakes
made from the original: the stage's Blur with 24, 48 and 64 cells, Pixelate with 8, 16 and 32,
a Gaussian blur (sigma 1, 1.5) of the whole picture, JPEG quality 10, a 2x shrink enlarged back.
On three sets: the bundled clip (its run's audit), the Open Images plates of ../shared/data/train
(`valid` and `test`, the annotated plates, padded by 0.15 as roadview's plate_blur) and synthetic
plates (tools/data/plate_synth.py, 30 of each style, 30, 60 and 120 px wide, on a grey street).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from vpipe.pipeline.verify.confirm import MIN_CHARACTERS, text_row
from vpipe.pipeline.verify.legible import LEGIBLE, legibility
from vpipe.stages.anonymize import Blur, Pixelate

ROOT = Path(__file__).resolve().parents[1]


def _covered(image, rects, effect):
    out = image.copy()
    for x0, y0, x1, y1 in rects:
        out[y0:y1, x0:x1] = effect(out[y0:y1, x0:x1])
    return out


def _shrunk(image):
    h, w = image.shape[:2]
    return cv2.resize(cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA), (w, h))


def _jpeg(image):
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 10])[1], cv2.IMREAD_COLOR)


FAKES = {
    "blur 24 cells": lambda img, rects: _covered(img, rects, Blur(24)),
    "blur 48 cells": lambda img, rects: _covered(img, rects, Blur(48)),
    "blur 64 cells": lambda img, rects: _covered(img, rects, Blur(64)),
    "pixelate 8 cells (its default)": lambda img, rects: _covered(img, rects, Pixelate(8)),
    "pixelate 16 cells": lambda img, rects: _covered(img, rects, Pixelate(16)),
    "pixelate 32 cells": lambda img, rects: _covered(img, rects, Pixelate(32)),
    "gaussian sigma 1.0": lambda img, rects: cv2.GaussianBlur(img, (0, 0), 1.0),
    "gaussian sigma 1.5": lambda img, rects: cv2.GaussianBlur(img, (0, 0), 1.5),
    "jpeg quality 10": lambda img, rects: _jpeg(img),
    "shrunk 2x, enlarged": lambda img, rects: _shrunk(img),
}


class Tally:
    """Legibility of each region; for plates also the other candidate measure, check 2's
    character-row test run inside the covered region."""

    def __init__(self, plates: bool = True):
        self.values: dict[str, list[float]] = {}
        self.rows: dict[str, int] = {}
        self.plates = plates

    def add(self, name: str, before, after, rects, plates: bool | None = None):
        for box in rects:
            value = legibility(before, after, box)
            if value is not None:
                self.values.setdefault(name, []).append(value)
                if self.plates if plates is None else plates:
                    self.rows[name] = self.rows.get(name, 0) + (text_row(after, box) >= MIN_CHARACTERS)

    def print(self, title: str):
        print(f"\n{title}: regions, legible (>= {LEGIBLE}), min / median / max; plates with {MIN_CHARACTERS}+ characters in a row")
        for name, v in self.values.items():
            v = np.array(v)
            print(f"  {name:32s} {len(v):5d} {int((v >= LEGIBLE).sum()):5d} ({(v >= LEGIBLE).mean():4.0%})  "
                  f"{v.min():.3f} / {np.median(v):.3f} / {v.max():.3f}   {self.rows.get(name, '-')}")


def clip(clean: Path) -> Tally:
    import av

    from vpipe.pipeline.verify.check import covered_rects

    tally = Tally(plates=False)
    records = [json.loads(line) for line in clean.with_suffix(".jsonl").read_text().splitlines()]
    with av.open(str(ROOT / "samples/roadview.mp4")) as a, av.open(str(clean)) as b:
        for record, before, after in zip(records, a.decode(video=0), b.decode(video=0)):
            before, after = before.to_ndarray(format="bgr24"), after.to_ndarray(format="bgr24")
            rects = covered_rects(record, after.shape[1], after.shape[0])
            plates = set(map(tuple, record["audit"].get("plate_blur", {}).get("boxes", [])))
            for name, output in [("vpipe's own output", after)] + [(n, f(before, rects)) for n, f in FAKES.items()]:
                for box in rects:
                    tally.add(name, before, output, [box], plates=tuple(box) in plates)
    return tally


def _padded(box, pad, w, h):
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * pad, (y1 - y0) * pad
    return [int(max(0, x0 - dx)), int(max(0, y0 - dy)), int(min(w, x1 + dx)), int(min(h, y1 + dy))]


def open_images(data: Path) -> Tally:
    tally = Tally()
    for split in ("valid", "test"):
        for path in sorted((data / split / "images").glob("*.jpg")):
            image = cv2.imread(str(path))
            h, w = image.shape[:2]
            label = data / split / "labels" / (path.stem + ".txt")
            rects = []
            for line in label.read_text().splitlines() if label.is_file() else []:
                if line.startswith("0 "):
                    _, cx, cy, bw, bh = map(float, line.split())
                    rects.append(_padded([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h],
                                         0.15, w, h))
            if not rects:
                continue
            tally.add("vpipe's default (blur 6 cells)", image, _covered(image, rects, Blur(6)), rects)
            for name, fake in FAKES.items():
                tally.add(name, image, fake(image, rects), rects)
    return tally


def synthetic() -> Tally | None:
    try:
        from vpipe.tools.data import plate_synth as synth

        fonts = synth.find_fonts()
    except Exception as exc:  # the tools (PIL) or the fonts absent: this set is skipped
        print(f"synthetic plates skipped: {exc}", file=sys.stderr)
        return None
    tally = Tally()
    rng = np.random.default_rng(0)
    for i in range(90):
        card = cv2.cvtColor(synth.render_plate(rng, ("us", "eu", "kr")[i % 3], fonts).rgb, cv2.COLOR_RGB2BGR)
        for width in (30, 60, 120):
            plate = cv2.resize(card, (width, round(card.shape[0] * width / card.shape[1])), interpolation=cv2.INTER_AREA)
            image = cv2.copyMakeBorder(plate, 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=(90, 90, 90))
            rects = [_padded([20, 20, 20 + plate.shape[1], 20 + plate.shape[0]], 0.15, *image.shape[1::-1])]
            tally.add("vpipe's default (blur 6 cells)", image, _covered(image, rects, Blur(6)), rects)
            for name, fake in FAKES.items():
                tally.add(name, image, fake(image, rects), rects)
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", type=Path, help="roadview's output of the bundled clip (its .jsonl beside it)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/train/openimages-plates")
    args = parser.parse_args()
    if args.clean:
        clip(args.clean).print("the bundled clip (its audit's regions)")
    if args.data.is_dir():
        open_images(args.data).print("Open Images plates, valid + test (annotated, padded 0.15)")
    else:
        print(f"{args.data}: not found, skipped", file=sys.stderr)
    tally = synthetic()
    if tally:
        tally.print("synthetic plates, 30 of each style at 30, 60 and 120 px wide")
    return 0


if __name__ == "__main__":
    sys.exit(main())
