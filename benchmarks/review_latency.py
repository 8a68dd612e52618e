"""How long `vpipe review` takes to answer a frame step, on a 1280x720 video.

    python benchmarks/review_latency.py [--input samples/roadview.mp4] [--frames 200]

The bundled clip upscaled to 1280x720 (H.264, x264's default keyframe interval) is the output
under review; the server runs in this process on a free port, and a client asks for what the
page asks for on each key press: the frame's covers (/api/frame/N) and its picture
(/frame/N.jpg). Figures: next frame (decoding on), previous frame (from the cache), and a jump to
a random frame (a seek to the keyframe before it, then decoding forward), p50 and p95 in ms.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import av
import cv2

from vpipe.pipeline.apps.review import Review, serve

ROOT = Path(__file__).resolve().parents[1]


def step(base: str, position: int) -> float:
    start = time.perf_counter()
    for path in (f"/api/frame/{position}", f"/frame/{position}.jpg"):
        with urllib.request.urlopen(base + path, timeout=30) as response:
            response.read()
    return (time.perf_counter() - start) * 1000


def figures(times: list[float]) -> str:
    times = sorted(times)
    return f"p50 {statistics.median(times):6.1f} ms, p95 {times[int(len(times) * 0.95) - 1]:6.1f} ms ({len(times)} steps)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=ROOT / "samples" / "roadview.mp4")
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "out.mp4"
        with av.open(str(args.input)) as src, av.open(str(output), "w") as out:
            stream = out.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
            count = 0
            for _, frame in zip(range(args.frames), src.decode(video=0)):
                image = cv2.resize(frame.to_ndarray(format="bgr24"), (1280, 720), interpolation=cv2.INTER_CUBIC)
                out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
                count += 1
            out.mux(stream.encode())
        (Path(tmp) / "out.jsonl").write_text("".join(
            json.dumps({"source": "camera", "index": k, "audit": {"blur": {"covered": 0, "boxes": []}}}) + "\n"
            for k in range(count)))
        server = serve(Review(args.input, output, None, ROOT / "configs" / "roadview.yaml"), 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        step(base, 0)
        forward = [step(base, p) for p in range(1, count)]
        backward = [step(base, p) for p in range(count - 2, count - 12, -1)]
        rng = random.Random(0)
        jumps = [step(base, rng.randrange(count)) for _ in range(20)]
        server.shutdown()
    print(f"1280x720, {count} frames")
    print(f"next frame      {figures(forward)}")
    print(f"previous frame  {figures(backward)}")
    print(f"random jump     {figures(jumps)}")


if __name__ == "__main__":
    main()
