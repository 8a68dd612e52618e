"""`vpipe apply` against `vpipe run` on the same clip and config, side by side.

    python benchmarks/apply_speed.py [--config configs/roadview.yaml] [--input samples/roadview.mp4] [--repeat 3]

`run` detects, tracks and covers; `apply` renders the audit `run` wrote, with no detector, through
the same capture, anonymizers and sink. Both end to end (process start to exit), alternating
`--repeat` times; medians and their ratio are printed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vpipe.pipeline.apps.cli", *args, "-q", "--overwrite"], check=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "roadview.yaml")
    parser.add_argument("--input", type=Path, default=ROOT / "samples" / "roadview.mp4")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs, applies = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out, again = Path(tmp) / "run.mp4", Path(tmp) / "apply.mp4"
        for _ in range(args.repeat):
            runs.append(timed(["run", str(args.config), "-i", str(args.input), "-o", str(out)]))
            applies.append(timed(["apply", str(args.input), str(out.with_suffix(".jsonl")), "-o", str(again),
                                  "--config", str(args.config)]))
    run, apply = statistics.median(runs), statistics.median(applies)
    print(f"vpipe run   {run:6.1f} s  (median of {len(runs)})")
    print(f"vpipe apply {apply:6.1f} s  (median of {len(applies)})")
    print(f"apply is {run / apply:.1f}x faster")


if __name__ == "__main__":
    main()
