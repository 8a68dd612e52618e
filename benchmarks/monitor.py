"""Monitoring on live cameras: event latency over MQTT, the web view's CPU, the pre-roll's memory.

    python benchmarks/monitor.py [--cameras 4] [--seconds 60] [--json PATH]

Starts tests/support/rtsp_server.py (GStreamer, under the system python) looping samples/roadview.mp4
(640x360, 25 FPS) and Debian's mosquitto, both on loopback, and runs `vpipe run` on N camera
sources: CenterFace -> track -> anonymize -> events -> mqtt, three times:

* base:  the mqtt sink only; a subscriber takes each event's latency, from the frame's capture
         (the event's `time`, time.time() when vpipe read the frame) to the message's arrival;
* web:   the same plus the web sink, with one viewer reading every camera's MJPEG stream;
* clips: the same plus the clips sink with 10 s of pre-roll per camera.

`--preroll-only` measures the pre-roll alone at the cameras' full rate (see `preroll`).

CPU is the vpipe process's user + system time per second of run, and memory its peak RSS
(os.wait4). Each run lasts `--seconds` and ends with SIGINT.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graph(url: str, cameras: int, broker: int, tmp: Path, web: int | None, clips: bool) -> str:
    sources = ", ".join(f"{{name: cam{k}, uri: {url}}}" for k in range(cameras))
    sinks = [f"{{type: mqtt, params: {{url: 'mqtt://127.0.0.1:{broker}', prefix: bench}}}}"]
    if web:
        sinks.append(f"{{type: web, inputs: [events], params: {{port: {web}}}}}")
    if clips:
        sinks.append(f"{{type: clips, inputs: [events], params: {{path: {tmp}/clips, before: 10, after: 2, memory_mb: 1024}}}}")
    return f"""
sources: [{sources}]
stages:
  - {{name: faces, type: detect, engine: {ROOT}/models/centerface.onnx, params: {{threshold: 0.4}}}}
  - {{name: track, type: track}}
  - {{name: blur, type: anonymize, params: {{shape: ellipse}}}}
  - {{name: events, type: events, params: {{snapshots: {tmp}/snaps}}}}
sinks: [{", ".join(sinks)}]
"""


def viewer(port: int, camera: str, stop: threading.Event) -> None:
    """Reads one MJPEG stream until told to stop (a browser tab left open)."""
    while not stop.is_set():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stream/{camera}.mjpg", timeout=5) as r:
                while not stop.is_set() and r.read(65536):
                    pass
        except OSError:
            stop.wait(0.2)


def run(name: str, config: Path, seconds: float, broker: int, web: int | None, cameras: int) -> dict:
    import paho.mqtt.client as mqtt

    latencies: list[float] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{name}")
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("bench/+/events/#", qos=1)
    sub.on_message = lambda c, u, m: latencies.append(time.time() - json.loads(m.payload)["time"])
    sub.connect("127.0.0.1", broker)
    sub.loop_start()
    stop = threading.Event()
    if web:
        for k in range(cameras):
            threading.Thread(target=viewer, args=(web, f"cam{k}", stop), daemon=True).start()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "vpipe.pipeline.apps.cli", "run", str(config), "--overwrite"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    stop.set()
    time.sleep(0.5)
    sub.disconnect()
    sub.loop_stop()
    ms = sorted(v * 1000 for v in latencies)
    cpu = usage.ru_utime + usage.ru_stime
    summary = next((line for line in out.splitlines() if line.startswith("done in")), "")
    match = re.search(r"done in ([\d.]+) s: +([\d.]+) FPS", summary)
    frames = float(match[1]) * float(match[2]) if match else 0.0
    return {
        "events": len(ms),
        "latency_p50_ms": round(statistics.median(ms), 1) if ms else None,
        "latency_p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1) if ms else None,
        "cpu_cores": round(cpu / wall, 3),
        # On a machine the graph saturates, cores used say little (more work, fewer frames):
        # CPU time per frame through the graph is the comparable figure.
        "cpu_ms_per_frame": round(cpu * 1000 / frames, 1) if frames else None,
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "summary": summary,
        "exit": os.waitstatus_to_exitcode(status),
    }


def preroll(cameras: int, seconds: float) -> dict:
    """The clips sink's pre-roll at the cameras' full rate (25 FPS), without a detector in front
    (which, on a small CPU, drops most frames before they reach it): `seconds` of the sample's
    frames per camera, no event, then the bytes held and the process's resident memory growth."""
    import av

    from vpipe.pipeline.api.element import Context, StreamInfo
    from vpipe.pipeline.api.frame import Frame
    from vpipe.stages.clips import ClipsParams, ClipsSink

    def rss_mb() -> float:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6

    with av.open(str(ROOT / "samples" / "roadview.mp4")) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    streams = {f"cam{k}": StreamInfo(f"cam{k}", fps=25.0) for k in range(cameras)}
    before = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        sink = ClipsSink(Context("clips", Path(tmp), streams=streams), ClipsParams(path=tmp, before=seconds))
        for i in range(int(seconds * 25) + 25):
            for name in streams:
                sink(Frame(frames[i % len(frames)], name, i, i / 25, 0.0, 0.0))
        held = [c.preroll for c in sink.cameras.values()]
        return {"cameras": cameras, "seconds": seconds, "frames_held_per_camera": len(held[0]),
                "held_mb": round(sum(c.nbytes for c in sink.cameras.values()) / 1e6, 1),
                "rss_growth_mb": round(rss_mb() - before, 1), "budget_mb": sink.params.memory_mb}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--preroll-only", action="store_true", help="only the pre-roll's memory at 25 FPS")
    args = parser.parse_args()
    if args.preroll_only:
        print(json.dumps(preroll(args.cameras, 10.0), indent=2))
        return 0
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    rtsp, broker = free_port(), free_port()
    server = subprocess.Popen(["/usr/bin/python3", str(ROOT / "tests" / "support" / "rtsp_server.py"), "--port", str(rtsp),
                               "--file", str(ROOT / "samples" / "roadview.mp4")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    mqtt_broker = subprocess.Popen([mosquitto, "-p", str(broker)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    report = {"cameras": args.cameras, "seconds": args.seconds, "cpu_count": os.cpu_count()}
    try:
        if "ready" not in server.stdout.readline():
            sys.exit("the RTSP server did not start (needs python3-gi and gir1.2-gst-rtsp-server-1.0)")
        url = f"rtsp://127.0.0.1:{rtsp}/cam"
        with tempfile.TemporaryDirectory() as tmp:
            for name, web, clips in (("base", None, False), ("web", free_port(), False), ("clips", None, True)):
                folder = Path(tmp) / name
                folder.mkdir()
                config = folder / "graph.yaml"
                config.write_text(graph(url, args.cameras, broker, folder, web, clips))
                report[name] = run(name, config, args.seconds, broker, web, args.cameras)
                print(name, report[name], flush=True)
    finally:
        server.kill()
        mqtt_broker.kill()
    report["web_extra_cpu_cores"] = round(report["web"]["cpu_cores"] - report["base"]["cpu_cores"], 3)
    if report["web"]["cpu_ms_per_frame"] and report["base"]["cpu_ms_per_frame"]:
        report["web_extra_cpu_ms_per_frame"] = round(report["web"]["cpu_ms_per_frame"] -
                                                     report["base"]["cpu_ms_per_frame"], 1)
    report["clips_extra_rss_mb"] = round(report["clips"]["peak_rss_mb"] - report["base"]["peak_rss_mb"], 1)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
