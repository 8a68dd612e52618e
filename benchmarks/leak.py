"""Leak benchmark: how many frames and plates an anonymizer shows uncovered when the detector
misses, without a tracker, with one, and with the tracker and look-ahead.

    python benchmarks/leak.py [--json PATH] [--frames 300] [--seeds 0 .. 19] [--sweep-seeds 0 .. 19]
                              [--no-sweep] [--jobs N]

Makes the synthetic clip (tests/support/leak_clip.py), replays its ground truth through a detector
stand-in that misses 10 % of detections plus runs of 1-5 frames and plates less than 30 % in
view (tests/support/leak.py), runs each graph with the real runner, and scores the anonymizer's audit:
a plate leaks on a frame when under 80 % of its visible area was covered.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from vpipe.stages.lookahead import LookaheadParams
from vpipe.stages.track import TrackParams

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the leak kit: tests/support
from support import leak  # noqa: E402,F401  (registers the `replay` stage)
from support.leak import run_leak  # noqa: E402
from support.leak_clip import make  # noqa: E402

K = TrackParams().max_age
N = LookaheadParams().frames


#: runs graphs side by side (each graph is a handful of Python threads that mostly hold the GIL).
POOL: ProcessPoolExecutor | None = None


def _one(args: tuple) -> dict:
    clip, truth, work, seed, graph = args
    return run_leak(clip, truth, work, seed, **graph)


def worst(clip: Path, truth: Path, work: Path, seeds: list[int], **graph) -> dict:
    """The run with the most leaked frames over the detector seeds, plus the sums."""
    jobs = [(clip, truth, work / f"s{seed}", seed, graph) for seed in seeds]
    runs = list(POOL.map(_one, jobs)) if POOL else [_one(job) for job in jobs]
    out = max(runs, key=lambda r: (r["leaked_frames"], r["leaked_plates"]))
    out = dict(out, leaked_frames_all=sum(r["leaked_frames"] for r in runs),
               leaked_plates_all=sum(r["leaked_plates"] for r in runs))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(20)),
                        help="detector miss seeds for the table")
    parser.add_argument("--sweep-seeds", type=int, nargs="+", default=list(range(20)),
                        help="detector miss seeds for the sweeps")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="graphs run at once")
    parser.add_argument("--clip-seed", type=int, default=0)
    parser.add_argument("--no-sweep", action="store_true", help="only the three graphs at the defaults")
    args = parser.parse_args()
    global POOL
    POOL = ProcessPoolExecutor(args.jobs) if args.jobs > 1 else None
    started = time.perf_counter()
    results: dict = {"frames": args.frames, "seeds": args.seeds, "sweep_seeds": args.sweep_seeds,
                     "clip_seed": args.clip_seed,
                     "defaults": {"max_age": K, "lookahead_frames": N}}
    with tempfile.TemporaryDirectory(prefix="vpipe-leak-") as tmp:
        work = Path(tmp)
        clip = work / "leak.mp4"
        make(clip, args.frames, seed=args.clip_seed)
        truth = clip.with_suffix(".json")

        graphs = {"tracker off": {}, "track": {"track": {}},
                  "track + lookahead": {"track": {}, "lookahead": {}}}
        table = {name: worst(clip, truth, work / name.replace(" ", "_"), args.seeds, **g)
                 for name, g in graphs.items()}
        results["graphs"] = table
        print(f"\nLeak rates, worst of detector seeds {args.seeds} ({args.frames} frames, "
              f"K={K}, N={N}):\n")
        print("| graph | leaked frames | frame leak rate | leaked plates | track leak rate "
              "| all seeds: leaked frames / plates |")
        print("|---|---|---|---|---|---|")
        for name, r in table.items():
            print(f"| {name} | {r['leaked_frames']}/{r['frames_with_plates']} | {r['frame_leak_rate']:.1%} "
                  f"| {r['leaked_plates']}/{r['plates']} | {r['track_leak_rate']:.1%} "
                  f"| {r['leaked_frames_all']} / {r['leaked_plates_all']} |")

        if not args.no_sweep:
            sweep_k = {}
            for k in (0, 2, 4, 6, 8, 10):
                sweep_k[f"K={k} track"] = worst(clip, truth, work / f"k{k}", args.sweep_seeds,
                                                track={"max_age": k})
                sweep_k[f"K={k} track + lookahead"] = worst(clip, truth, work / f"kl{k}", args.sweep_seeds,
                                                            track={"max_age": k}, lookahead={})
            sweep_n = {}
            for mode in ("first", "velocity", "hull"):
                for n in (0, 5, 10, 15):
                    sweep_n[f"N={n} {mode}"] = worst(clip, truth, work / f"n{n}{mode}", args.sweep_seeds,
                                                     track={}, lookahead={"frames": n, "backfill": mode})
            sweep_n["N=15 hull, no interpolation"] = worst(
                clip, truth, work / "nointerp", args.sweep_seeds, track={}, lookahead={"interpolate": False})
            results["sweep_max_age"] = sweep_k
            results["sweep_lookahead"] = sweep_n
            for title, sweep in ((f"Sweep of K (track max_age; lookahead at N={N})", sweep_k),
                                 (f"Sweep of N and backfill (lookahead; track at K={K})", sweep_n)):
                print(f"\n{title}: leaked frames / plates, worst of seeds {args.sweep_seeds} (all summed)")
                for key, r in sweep.items():
                    print(f"  {key:<30} {r['leaked_frames']:4d} / {r['leaked_plates']:2d}   "
                          f"({r['leaked_frames_all']} / {r['leaked_plates_all']})")
    if POOL:
        POOL.shutdown()
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(f"\n{results['seconds']} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
