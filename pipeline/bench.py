"""`vpipe bench`: throughput, capture-to-sink latency and per-stage cost of a pipeline."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from vpipe.pipeline.config import load_config
from vpipe.pipeline.errors import ConfigError
from vpipe.pipeline.graph import Overrides, build_graph
from vpipe.pipeline.runner import Runner
from vpipe.pipeline.sequential import run_sequential


def run_bench(config_path: Path, input: str | None = None, device: str | None = None,
              frames: int | None = None, warmup: int = 10, sequential: bool = False,
              decode_baseline: bool = False) -> dict:
    config = load_config(config_path)
    graph = build_graph(config, Overrides(input=input, device=device))
    max_frames = frames + warmup if frames else None
    try:
        if sequential:
            stats = run_sequential(graph, max_frames=max_frames, warmup=warmup)
        else:
            stats = Runner(graph, max_frames=max_frames, warmup=warmup).run()
    finally:
        graph.close()
    report = stats.summary()
    report["mode"] = "sequential" if sequential else "pipelined"
    report["config"] = str(config_path)
    if decode_baseline:
        source = graph.sources[0].element
        path = getattr(source, "path", None)
        if path is None:
            raise ConfigError("--decode-baseline needs a video file as the first source")
        report["decode_baseline_fps"] = round(decode_loop_fps(path, max_frames, warmup), 2)
        report["fps_vs_decode"] = round(report["fps"] / report["decode_baseline_fps"], 3)
    print_report(report)
    return report


def decode_loop_fps(path: Path, max_frames: int | None, warmup: int) -> float:
    """A bare PyAV decode loop (to BGR arrays, as capture delivers them), same threading."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        count, start = 0, None
        for frame in container.decode(stream):
            frame.to_ndarray(format="bgr24")
            count += 1
            if count == warmup + 1:
                start = time.perf_counter()
            if max_frames and count >= max_frames:
                break
        end = time.perf_counter()
    measured = count - warmup - 1
    return measured / (end - start) if start and measured > 0 else 0.0


def print_report(report: dict) -> None:
    console = Console()
    table = Table(title=f"{report['config']} ({report['mode']})")
    for column in ("stage", "role", "frames", "mean ms", "p50", "p95", "p99", "busy", "queue", "dropped", "errors"):
        table.add_column(column, justify="left" if column in ("stage", "role") else "right")
    for name, s in report["stages"].items():
        mark = " *" if name == report["slowest_stage"] else ""
        table.add_row(name + mark, s["role"], str(s["frames"]), f"{s['mean_ms']:.2f}", f"{s['p50']:.2f}",
                      f"{s['p95']:.2f}", f"{s['p99']:.2f}", f"{100 * s['busy_share']:.0f}%",
                      f"{s['queue_occupancy']:.1f}/{s['queue_size']}" if s["role"] != "source" else "-",
                      str(s["dropped"]), str(s["errors"]))
    console.print(table)
    console.print(f"throughput {report['fps']:.2f} FPS over {report['frames']} frames; "
                  f"latency capture->sink p50 {report['p50']:.1f} ms, p95 {report['p95']:.1f} ms, "
                  f"p99 {report['p99']:.1f} ms; slowest stage: {report['slowest_stage']} (*)")
    if "decode_baseline_fps" in report:
        console.print(f"bare PyAV decode loop: {report['decode_baseline_fps']:.2f} FPS; "
                      f"pipeline/decode = {report['fps_vs_decode']:.3f}")
