"""vpipe versus deface on the same file, same model (CenterFace), same run.

    python benchmarks/deface_compare.py ../shared/data/video/vtest.avi [--json out.json]
    python benchmarks/deface_compare.py ../shared/data/video/vtest.avi --config configs/roadview.yaml

deface 1.5.0 with its default options (threshold 0.2, blur, mask scale 1.3, full resolution)
against vpipe's graph doing the same work: CenterFace at full resolution, threshold 0.2, ellipse
blur padded by 15% per side (= deface's 1.3 scale), H.264 out. Both end to end, decode to file.
The two alternate `--repeat` times; medians and their ratio are reported.
With `--config`, vpipe runs that graph instead (`vpipe run CONFIG -i VIDEO -o OUT`), e.g. the
road-view default, which covers plates as well as faces: more work than deface does.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]

GRAPH = """
sources: [{{uri: {src}}}]
stages:
  - {{name: faces, type: detect, engine: {root}/models/centerface.onnx, workers: {workers}, params: {{threshold: 0.2}}}}
  - {{name: blur, type: anonymize, params: {{method: blur, shape: ellipse, padding: 0.15}}}}
sinks: [{{type: video, params: {{path: {out}}}}}]
"""


def frames_of(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def time_command(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--config", type=Path, action="append", default=[],
                        help="a vpipe config to run instead of the faces-only graph (repeatable: each is timed "
                             "in turn beside deface)")
    args = parser.parse_args()
    deface = shutil.which("deface", path=str(Path(sys.executable).parent)) or shutil.which("deface")
    if not deface:
        sys.exit("deface is not installed: pip install 'vpipe[faces]'")
    n = frames_of(args.video)
    work = Path(tempfile.mkdtemp(prefix="vpipe-deface-"))
    config = work / "graph.yaml"
    config.write_text(GRAPH.format(src=args.video.resolve(), root=ROOT, out=work / "vpipe.mp4", workers=args.workers))
    run = [sys.executable, "-m", "vpipe.pipeline.apps.cli", "run"]
    commands = {"deface": [deface, str(args.video), "-o", str(work / "deface.mp4")]}
    if not args.config:
        commands["vpipe faces only (CenterFace, threshold 0.2)"] = run + [str(config), "-q", "--overwrite"]
    for path in args.config:
        commands[f"vpipe {path}"] = run + [str(path), "-i", str(args.video), "-o", str(work / "vpipe.mp4"), "-q",
                                           "--overwrite"]
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.repeat):  # alternated, so that the machine's load falls on each alike
        for name, command in commands.items():
            times[name].append(time_command(command))
    base = statistics.median(wall for wall, _ in times["deface"])
    report = {"video": str(args.video), "frames": n, "runs": {}}
    for name, measured in times.items():
        wall = statistics.median(w for w, _ in measured)
        cpu = statistics.median(c for _, c in measured)
        report["runs"][name] = {"fps": round(n / wall, 2), "wall_s": round(wall, 1), "cpu_s_per_frame": round(cpu / n, 3),
                                "speed_vs_deface": round(base / wall, 3)}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
