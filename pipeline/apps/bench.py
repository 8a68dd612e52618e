"""`vpipe bench`: throughput, capture-to-sink latency and per-stage cost of a pipeline."""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.table import Table

from vpipe.pipeline.api.errors import ConfigError
from vpipe.pipeline.runtime.config import load_config
from vpipe.pipeline.runtime.graph import build_graph
from vpipe.pipeline.runtime.nodes import source_of
from vpipe.pipeline.runtime.overrides import Overrides, apply_overrides
from vpipe.pipeline.runtime.runner import Runner
from vpipe.pipeline.runtime.sequential import run_sequential


def run_bench(config_path: Path, input: str | None = None, device: str | None = None,
              frames: int | None = None, warmup: int = 10, sequential: bool = False,
              decode_baseline: bool = False, compare_sequential: bool = False, repeat: int = 1) -> dict:
    """Measure the graph; with `decode_baseline` or `compare_sequential`, also measure the
    baseline in the same run, alternating `repeat` times, and report medians and their ratio
    (a shared machine is noisy: only ratios measured side by side mean much)."""
    config = load_config(config_path)
    max_frames = frames + warmup if frames else None
    runs, baselines, sequentials = [], [], []
    # File sinks write into a folder deleted afterwards: a benchmark changes no file of the user's.
    with tempfile.TemporaryDirectory(prefix="vpipe-bench-") as scratch:
        overrides = Overrides(input=input, device=device, output_dir=Path(scratch))
        for _ in range(repeat):
            runs.append(measure(config, overrides, max_frames, warmup, sequential))
            if decode_baseline:
                baselines.append(decode_loop_fps(_first_video(config, overrides), max_frames, warmup))
            if compare_sequential:
                sequentials.append(measure(config, overrides, max_frames, warmup, True)["fps"])
    report = sorted(runs, key=lambda r: r["fps"])[len(runs) // 2]  # the median run
    report["config"] = str(config_path)
    report["repeat"] = repeat
    if decode_baseline:
        report["decode_baseline_fps"] = round(statistics.median(baselines), 2)
        report["fps_vs_decode"] = round(report["fps"] / report["decode_baseline_fps"], 3)
    if compare_sequential:
        report["sequential_fps"] = round(statistics.median(sequentials), 2)
        report["speedup_vs_sequential"] = round(report["fps"] / report["sequential_fps"], 3)
    print_report(report)
    return report


def measure(config, overrides: Overrides, max_frames, warmup, sequential) -> dict:
    graph = build_graph(apply_overrides(config, replace(overrides, sequential=sequential)))
    try:
        if sequential:
            stats = run_sequential(graph, max_frames=max_frames, warmup=warmup)
        else:
            stats = Runner(graph, max_frames=max_frames, warmup=warmup).run()
    finally:
        graph.close()
    report = stats.summary()
    report["mode"] = "sequential" if sequential else "pipelined"
    return report


def _first_video(config, overrides: Overrides) -> Path:
    graph = build_graph(apply_overrides(config, overrides))
    try:
        path = source_of(graph.sources[0]).info.path
    finally:
        graph.close()
    if path is None or not path.is_file():
        raise ConfigError("--decode-baseline needs a video file as the first source")
    return path


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


COLUMNS = ("stage", "role", "frames", "mean ms", "p50", "p95", "p99", "busy", "queue", "dropped", "errors")


def print_report(report: dict) -> None:
    console = Console()
    rows = []
    for name, s in report["stages"].items():
        mark = " *" if name == report["slowest_stage"] else ""
        rows.append((name + mark, s["role"], str(s["frames"]), f"{s['mean_ms']:.2f}", f"{s['p50']:.2f}",
                     f"{s['p95']:.2f}", f"{s['p99']:.2f}", f"{100 * s['busy_share']:.0f}%",
                     f"{s['queue_occupancy']:.1f}/{s['queue_size']}" if s["role"] != "source" else "-",
                     str(s["dropped"]), str(s["errors"])))
    title = f"{report['config']} ({report['mode']})"
    plain = plain_table(COLUMNS, rows)
    if console.is_terminal and max(map(len, plain.splitlines())) <= console.width:
        table = Table(title=title)
        for column in COLUMNS:
            table.add_column(column, justify="left" if column in ("stage", "role") else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    else:
        # A log, a pipe or a narrow terminal: rich would squeeze the columns to nothing; plain
        # lines keep every figure whole (a terminal wraps them, a log keeps them).
        print(title)
        print(plain)
    console.print(f"throughput {report['fps']:.2f} FPS over {report['measured_frames']} frames; "
                  f"latency capture->sink p50 {report['p50']:.1f} ms, p95 {report['p95']:.1f} ms, "
                  f"p99 {report['p99']:.1f} ms; slowest stage: {report['slowest_stage']} (*)")
    if "sequential_fps" in report:
        console.print(f"same stages one after another on one thread: {report['sequential_fps']:.2f} FPS; "
                      f"pipelined/sequential = {report['speedup_vs_sequential']:.3f}")
    if "decode_baseline_fps" in report:
        console.print(f"bare PyAV decode loop: {report['decode_baseline_fps']:.2f} FPS; "
                      f"pipeline/decode = {report['fps_vs_decode']:.3f}")


def plain_table(columns: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    """Columns padded to their widest cell, text left and figures right, with no frame."""
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    left = {0, 1}
    return "\n".join("  ".join(cell.ljust(w) if i in left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
                     for row in [columns, *rows])
