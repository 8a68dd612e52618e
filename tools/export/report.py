"""Measure the exporters: per family export time, ONNX size, parity, ONNX Runtime CPU latency, and
int8 speed-up and agreement. Prints a Markdown table (docs/exporters.md holds a run of it).

    vpipe export-report --out docs/export_report.md
    vpipe export-report --families srcnn espcn --int8 srcnn --runs 10 --threads 2

Random-init weights (no network): the figures are about speed and export fidelity; int8 agreement
is fp32-vs-int8 agreement of the same random model, not task accuracy.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from vpipe.tools.export.families import FAMILIES

#: SR graphs take any size: time them on a 320x240 low-resolution frame.
SR_SIZE = (240, 320)


def latency_ms(path: Path, runs: int, threads: int, sr_size=SR_SIZE) -> float:
    """Median ms per frame in ONNX Runtime on the CPU, after two warm-up runs."""
    from vpipe.engines.ort import OrtEngine

    engine = OrtEngine(path, threads=threads)
    spec = engine.inputs[0]
    size = engine.meta.input_size or sr_size
    if engine.meta.task == "super_resolution" and engine.meta.extra.get("vpipe.pre_upsample"):
        size = (size[0] * engine.meta.sr_scale, size[1] * engine.meta.sr_scale)  # SRCNN runs at output size
    shape = [d if isinstance(d, int) else 1 for d in spec.shape[:-2]] + list(size)
    x = {spec.name: np.random.default_rng(0).random(shape, np.float32)}
    for _ in range(2):
        engine.run(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        engine.run(x)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _calib_images(folder: Path, count: int = 8) -> Path:
    """Synthetic calibration images (flat regions, edges, blur): no data set needed."""
    import cv2

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img = np.full((480, 640, 3), rng.integers(0, 255, 3), np.uint8)
        for _ in range(12):
            color = tuple(int(v) for v in rng.integers(0, 255, 3))
            x, y = int(rng.integers(0, 600)), int(rng.integers(0, 440))
            cv2.rectangle(img, (x, y), (x + int(rng.integers(20, 200)), y + int(rng.integers(20, 200))), color, -1)
            cv2.circle(img, (int(rng.integers(0, 640)), int(rng.integers(0, 480))), int(rng.integers(10, 90)), color, -1)
        cv2.imwrite(str(folder / f"calib_{i}.png"), cv2.GaussianBlur(img, (5, 5), 0))
    return folder


def _parity_text(parity: dict[str, float]) -> str:
    if "match_rate" in parity:
        return f"match {parity['match_rate']:.2f}, IoU {parity['mean_iou']:.4f}, dscore {parity['max_score_diff']:.1e}"
    worst = max(v for k, v in parity.items() if k.endswith("_max_abs"))
    rel = max(v for k, v in parity.items() if k.endswith("_max_rel"))
    return f"max abs {worst:.1e}, rel {rel:.1e}"


def _accuracy_text(accuracy: dict[str, float]) -> str:
    if "psnr_db" in accuracy:
        return f"PSNR {accuracy['psnr_db']:.1f} dB"
    if "miou_agreement" in accuracy:
        return f"mIoU agr. {accuracy['miou_agreement']:.3f}"
    return f"box agr. {accuracy['box_agreement']:.3f} (IoU {accuracy['mean_iou']:.3f})"


def main(argv: list[str] | None = None, prog: str = "vpipe export-report") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    parser.add_argument("--int8", nargs="*", default=["srcnn", "espcn", "ssdlite320_mobilenet_v3_large",
                                                      "lraspp_mobilenet_v3_large"])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)

    from vpipe.tools.export.exporter import export_model
    from vpipe.tools.export.options import ExportOptions

    work = args.workdir or Path(tempfile.mkdtemp(prefix="vpipe-report-"))
    calib = _calib_images(work / "calib")
    header = ("| family | input | export s | ONNX MB | parity (PyTorch vs ORT) | ORT CPU ms | "
              "int8 ms | int8 speed-up | int8 vs fp32 |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for name in args.families:
        fam = FAMILIES[name]
        path = work / f"{name}.onnx"
        result = export_model(name, path, ExportOptions(random_init=True), log=lambda *_: None)
        ms = latency_ms(path, args.runs, args.threads)
        size = fam.input_size or SR_SIZE
        row = [name, f"{size[0]}x{size[1]}" + (" (LR)" if fam.kind == "sr" else ""), f"{result.seconds:.1f}",
               f"{path.stat().st_size / 1e6:.1f}", _parity_text(result.parity), f"{ms:.1f}"]
        if name in args.int8:
            q = export_model(name, work / f"{name}.int8.onnx",
                             ExportOptions(random_init=True, int8=True, calib=str(calib), check=False),
                             log=lambda *_: None)
            q_ms = latency_ms(q.path, args.runs, args.threads)
            row += [f"{q_ms:.1f}", f"{ms / q_ms:.2f}x", _accuracy_text(q.accuracy)]
        else:
            row += ["", "", ""]
        lines.append("| " + " | ".join(row) + " |")
        print(lines[-1], flush=True)
    table = "\n".join(lines)
    print()
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
