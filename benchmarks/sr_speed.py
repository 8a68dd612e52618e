"""Speed of super-resolution engines side by side: the same frames, the models interleaved.

    python benchmarks/sr_speed.py models/srcnn_x3.onnx models/espcn-s_x3.onnx \\
        --video samples/roadview.mp4 --frames 20 --threads 1

Each frame of the clip (the low-resolution input) goes through every model's `Upscaler` (the
`upscale` stage's code: luma net + bicubic chroma, tiled) in turn, so load from other processes
hits all models alike. Prints the median ms per frame and per output megapixel, and each model's
speed relative to the first.
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2

from vpipe.engines import open_engine
from vpipe.stages.upscale import Upscaler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--video", default="samples/roadview.mp4")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    args = parser.parse_args()

    capture = cv2.VideoCapture(args.video)
    frames = []
    while len(frames) < args.frames:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    upscalers = {m: Upscaler(open_engine(m, threads=args.threads)) for m in args.models}
    times: dict[str, list[float]] = {m: [] for m in args.models}
    for u in upscalers.values():
        u(frames[0])  # warm-up
    out_mp = 0.0
    for frame in frames:
        for m, u in upscalers.items():
            start = time.perf_counter()
            out = u(frame)
            times[m].append(time.perf_counter() - start)
        out_mp = out.shape[0] * out.shape[1] / 1e6
    h, w = frames[0].shape[:2]
    print(f"{len(frames)} frames {w}x{h} -> {out_mp:.2f} MP each, {args.threads} thread(s), median:")
    base = statistics.median(times[args.models[0]])
    for m in args.models:
        t = statistics.median(times[m])
        print(f"  {m:<28} {1000 * t:8.1f} ms/frame  {1000 * t / out_mp:8.1f} ms/MP  {base / t:6.2f}x the first")


if __name__ == "__main__":
    main()
