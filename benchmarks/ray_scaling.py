"""Batch throughput: a local sequential batch against Ray with 1 and 2 workers, in one run.

    python benchmarks/ray_scaling.py [--clips 8] [--frames 40] [--repeat 1] [--config configs/roadview.yaml] [--pin] [--json out.json]

The same folder of clips (cut from samples/roadview.mp4) and the same config each time; every
Ray task asks for 1 CPU, so its engines run on 1 ORT thread each, as the local run's do on this
2-core machine (2 cores shared by the config's 2 model stages). Ray's start-up (`ray.init`) is
timed apart; its per-file overhead is (Ray 1 worker's wall time - local wall time) / files.

`--pin` holds each mode to as many cores as it has workers (the local run and Ray's 1 worker to
core 0, 2 workers to cores 0-1; Ray's processes inherit the affinity): one vpipe process keeps
more than one core busy (decode, detectors and x264 run as a pipeline of threads), so on a
2-core machine an unpinned single worker already takes most of both, and only pinning shows
what a second worker adds per core, as on a node with more cores than one worker uses.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import SAMPLE, cut_clips  # noqa: E402  (the tests' clip cutter)


@contextmanager
def cores(count: int | None):
    """Hold this process (and the processes it starts) to the first `count` cores; None: all."""
    every = os.sched_getaffinity(0)
    if count:
        os.sched_setaffinity(0, set(sorted(every)[:count]))
    try:
        yield
    finally:
        os.sched_setaffinity(0, every)


def local(config: Path, clips: Path, out: Path) -> dict:
    from vpipe.pipeline.apps.batch import run_batch
    from vpipe.pipeline.apps.options import Batch

    start = time.perf_counter()
    results = run_batch(Batch(config, clips, out), log=lambda line: None)
    return figures("local sequential", 0, results, time.perf_counter() - start)


def on_ray(config: Path, clips: Path, out: Path, workers: int) -> dict:
    import ray

    from vpipe.pipeline.apps.options import Batch, RayOptions, Watch
    from vpipe.pipeline.apps.ray_batch import run_ray_batch

    start = time.perf_counter()
    temp = tempfile.mkdtemp(prefix="vray", dir="/tmp")  # short: Ray's socket paths have a limit
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False, _temp_dir=temp)
    init = time.perf_counter() - start
    try:
        run = run_ray_batch(Batch(config, clips, out), RayOptions(cpus=1), Watch(quiet=True), log=lambda line: None)
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    return figures(f"Ray, {workers} worker{'s' * (workers > 1)}", workers, run.results, run.seconds) | {"init_s": init}


def figures(mode: str, workers: int, results, seconds: float) -> dict:
    if any(r.status != "done" for r in results):
        raise SystemExit(f"{mode}: not every file was done: {[(r.name, r.status, r.error) for r in results]}")
    frames = sum(r.frames for r in results)
    # Files' own run times over the wall time: about the number of files that ran at once.
    busy = sum(r.seconds for r in results)
    return {"mode": mode, "workers": workers, "files": len(results), "frames": frames,
            "seconds": seconds, "fps": frames / seconds, "busy": busy, "overlap": busy / seconds}


def median_row(rows: list[dict]) -> dict:
    """The run with the median wall time (one real run, not a mix of figures from several)."""
    return sorted(rows, key=lambda row: row["seconds"])[len(rows) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--frames", type=int, default=40, help="frames per clip")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "roadview.yaml")
    parser.add_argument("--repeat", type=int, default=1, help="run the three modes N times, in turn; report medians")
    parser.add_argument("--pin", action="store_true", help="hold each mode to as many cores as it has workers")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as temp:
        temp = Path(temp)
        cut_clips(SAMPLE, temp / "clips", args.clips, args.frames)
        for k in range(args.repeat):  # in turn, so a change in the machine's load hits every mode
            with cores(1 if args.pin else None):
                runs.append([local(args.config, temp / "clips", temp / f"local{k}")])
            for w in (1, 2):
                with cores(w if args.pin else None):
                    runs[-1].append(on_ray(args.config, temp / "clips", temp / f"ray{w}-{k}", w))
    rows = [median_row([run[m] for run in runs]) for m in range(3)]
    base, one = rows[0], rows[1]
    print(f"{'mode':<20}{'files':>6}{'frames':>8}{'wall s':>9}{'overlap':>9}{'FPS':>8}{'vs local':>10}{'vs 1 worker':>13}")
    for row in rows:
        print(f"{row['mode']:<20}{row['files']:>6}{row['frames']:>8}{row['seconds']:>9.1f}{row['overlap']:>9.2f}"
              f"{row['fps']:>8.1f}{row['fps'] / base['fps']:>9.2f}x{row['fps'] / one['fps']:>12.2f}x")
    overhead = (one["seconds"] - base["seconds"]) / one["files"]
    # One worker runs one file at a time: what its wall time holds beyond the files' own runs is
    # Ray's (task dispatch, a new worker's imports, the model fetch, the tracker calls).
    outside = (one["seconds"] - one["busy"]) / one["files"]
    print(f"Ray per-file overhead: {overhead:.2f} s against the local run, {outside:.2f} s outside the files' "
          f"own runs (1 worker); ray.init: {rows[1]['init_s']:.1f} s and {rows[2]['init_s']:.1f} s "
          "(not in the wall times)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "runs": runs, "overhead_per_file_s": overhead,
                                         "outside_files_per_file_s": outside}, indent=2) + "\n")


if __name__ == "__main__":
    main()
