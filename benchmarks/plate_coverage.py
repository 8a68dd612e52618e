"""How much of each annotated licence plate the anonymizer covers, on a COCO-annotated folder.

    python benchmarks/plate_coverage.py --model PLATES.onnx --coco ../shared/data/alpr/us.json \\
        --images ../shared/data/alpr/us [--threshold 0.25] [--padding 0.1] [--json PATH]
    python benchmarks/plate_coverage.py --config configs/roadview.yaml --anonymizer plate_blur \\
        --coco ../shared/data/alpr/us.json --images ../shared/data/alpr/us

Runs the real graph (image folder -> detect -> anonymize -> jsonl audit) and scores the audit:
a plate counts as covered when at least 80 % of its annotated box lies under the rectangles the
anonymizer blurred. Also reports the mean number of anonymized regions per image. Any detector
ONNX the `detect` stage reads works (vpipe exports, Ultralytics YOLO exports).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from vpipe.pipeline.runtime.config import load_config
from vpipe.pipeline.runtime.graph import build_graph
from vpipe.pipeline.runtime.runner import Runner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the leak kit: tests/support
from support.leak import covered_share  # noqa: E402

#: share of a plate's box that must be covered for it to count as anonymized.
COVERED = 0.8


def _xyxy(box_xywh: list[float]) -> list[float]:
    x, y, w, h = box_xywh
    return [x, y, x + w, y + h]


def _run_model(args, tmp: Path) -> Path:
    audit = tmp / "audit.jsonl"
    config = tmp / "graph.yaml"
    classes = f", classes: [{args.model_class}]" if args.model_class else ""
    config.write_text(f"""
sources: [{{uri: {args.images.resolve()}}}]
stages:
  - {{name: plates, type: detect, engine: {args.model.resolve()}, params: {{threshold: {args.threshold}{classes}}}}}
  - {{name: blur, type: anonymize, params: {{method: blur, padding: {args.padding}}}}}
sinks: [{{type: jsonl, params: {{path: {audit}}}}}]
""")
    graph = build_graph(load_config(config))
    try:
        runner = Runner(graph)
        runner.run()
    finally:
        graph.close()
    if runner.error:
        sys.exit(f"plate_coverage: {runner.error}")
    return audit


def _run_config(config: Path, images: Path, tmp: Path) -> Path:
    """The user's graph as `vpipe run` runs it; the audit follows the output folder."""
    out = tmp / "out"
    done = subprocess.run([sys.executable, "-m", "vpipe.pipeline.apps.cli", "run", str(config), "-i", str(images),
                           "-o", str(out), "-q"], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"plate_coverage: {done.stderr.strip()}")
    return tmp / "out.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a detector: scored through detect -> anonymize")
    parser.add_argument("--config", type=Path, help="or a whole graph, run with `vpipe run CONFIG -i IMAGES`")
    parser.add_argument("--anonymizer", default="blur", help="with --config: the anonymize stage whose covers count")
    parser.add_argument("--coco", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--threshold", type=float, default=0.25)
    parser.add_argument("--padding", type=float, default=0.1)
    parser.add_argument("--model-class", default=None,
                        help="keep only this class (e.g. licence_plate: a vehicle box must not count as a cover)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    coco = json.loads(args.coco.read_text())
    by_image = {im["id"]: im["file_name"] for im in coco["images"]}
    if bool(args.model) == bool(args.config):
        sys.exit("plate_coverage: give --model or --config")
    with tempfile.TemporaryDirectory() as tmp:
        if args.config:
            audit = _run_config(args.config, args.images, Path(tmp))
        else:
            audit = _run_model(args, Path(tmp))
            args.anonymizer = "blur"
        rects = {}
        for line in audit.read_text().splitlines():
            r = json.loads(line)
            rects[r["name"]] = r.get("audit", {}).get(args.anonymizer, {}).get("boxes", [])
    shares = [covered_share(_xyxy(a["bbox"]), rects.get(by_image[a["image_id"]], [])) for a in coco["annotations"]]
    report = {
        "images": len(by_image),
        "plates": len(shares),
        "plates_covered_80": round(float(np.mean([s >= COVERED for s in shares])), 4),
        "mean_covered_share": round(float(np.mean(shares)), 4),
        "regions_per_image": round(sum(len(v) for v in rects.values()) / max(len(rects), 1), 3),
        "model": args.model.name if args.model else str(args.config),
        "threshold": args.threshold if args.model else None,  # a config carries its own
        "model_class": args.model_class if args.model else None,
        "anonymizer": args.anonymizer,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
