"""Capture-to-sink latency of detect + anonymize on live RTSP cameras: one stream, then four.

    python benchmarks/live_latency.py [--frames 150] [--streams 1 4] [--batch 4] [--json PATH]

Starts tests/support/rtsp_server.py (GStreamer, under the system python) looping samples/roadview.mp4
(640x360, 25 FPS) on loopback, points N camera sources at it, and runs `vpipe bench` on
CenterFace -> track -> anonymize -> null sink. Live edges drop the oldest frame when the graph
is slower than the cameras, so latency stays bounded and the drops are reported beside it.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graph(url: str, streams: int, batch: int) -> str:
    sources = ", ".join(f"{{name: cam{k}, uri: {url}}}" for k in range(streams))
    return f"""
sources: [{sources}]
stages:
  - {{name: faces, type: detect, engine: {ROOT}/models/centerface.onnx, batch: {batch}, params: {{threshold: 0.4}}}}
  - {{name: track, type: track}}
  - {{name: blur, type: anonymize, params: {{shape: ellipse}}}}
sinks: [{{type: "null"}}]
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="frames measured per stream")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--batch", type=int, default=4, help="detector batch with several streams")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(["/usr/bin/python3", str(ROOT / "tests" / "support" / "rtsp_server.py"), "--port", str(port),
                               "--file", str(ROOT / "samples" / "roadview.mp4")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        if "ready" not in server.stdout.readline():
            sys.exit("the RTSP server did not start (needs python3-gi and gir1.2-gst-rtsp-server-1.0)")
        report = {}
        with tempfile.TemporaryDirectory() as tmp:
            for n in args.streams:
                for batch in sorted({1, args.batch if n > 1 else 1}):
                    config = Path(tmp) / f"live{n}_{batch}.yaml"
                    config.write_text(graph(f"rtsp://127.0.0.1:{port}/cam", n, batch))
                    out = Path(tmp) / f"live{n}_{batch}.json"
                    started = time.perf_counter()
                    subprocess.run([sys.executable, "-m", "vpipe.pipeline.apps.cli", "bench", str(config),
                                    "--frames", str(args.frames), "--json", str(out)],
                                   check=True, capture_output=True, timeout=900)
                    result = json.loads(out.read_text())
                    key = f"{n} stream{'s' if n > 1 else ''}, batch {batch}"
                    report[key] = {
                        "fps_total": round(result["fps"], 1),
                        "latency_p50_ms": round(result["p50"], 1),
                        "latency_p95_ms": round(result["p95"], 1),
                        "detect_ms_per_frame": round(result["stages"]["faces"]["mean_ms"], 1),
                        "dropped": sum(s.get("dropped", 0) for s in result["stages"].values()),
                        "wall_s": round(time.perf_counter() - started, 1),
                    }
                    print(key, json.dumps(report[key]), flush=True)
    finally:
        server.terminate()
        server.wait(10)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
