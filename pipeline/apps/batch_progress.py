"""A batch's display: one progress bar over files and frames, then a table per worker and in total."""

from __future__ import annotations

import time
from collections import defaultdict

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vpipe.pipeline.apps.batch import FileResult, report


class BatchProgress:
    def __init__(self, files: int, enabled: bool = True):
        self.enabled = enabled
        self.started = time.perf_counter()
        self.bar = Progress(TextColumn("files"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                            TimeElapsedColumn(), console=Console(stderr=True), disable=not enabled)
        self.task = self.bar.add_task("", total=files)

    def __enter__(self) -> "BatchProgress":
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def log(self, result: FileResult, log) -> None:
        """A file's line, printed above the bar while it runs."""
        report(result, self.bar.console.print if self.enabled else log)

    def update(self, results: list[FileResult], running: dict[str, int]) -> None:
        """`running`: frames written so far by each file in progress, across the cluster."""
        done = {r.name for r in results}
        total = sum(r.frames for r in results) + sum(n for name, n in running.items() if name not in done)
        fps = total / max(time.perf_counter() - self.started, 1e-9)
        self.bar.update(self.task, completed=len(results), description=f"{total} frames, {fps:.1f} FPS")


def summary_table(results: list[FileResult], seconds: float, metrics: dict[str, str] | None = None) -> Table:
    """Per worker: files done, failed and retried, frames, FPS over its busy time; then the total
    (FPS over the wall time: what the cluster delivered)."""
    metrics = metrics or {}
    table = Table(title="vpipe batch")
    columns = ["worker", "done", "skipped", "failed", "retried", "frames", "seconds", "FPS"]
    for column in columns + (["metrics"] if metrics else []):
        table.add_column(column, justify="left" if column in ("worker", "metrics") else "right")
    by_worker: dict[str, list[FileResult]] = defaultdict(list)
    for result in results:
        if result.status != "skipped":
            by_worker[result.worker or "-"].append(result)
    for worker, mine in sorted(by_worker.items()):
        busy = sum(r.seconds for r in mine)
        table.add_row(worker, *_counts(mine), f"{busy:.1f}", _fps(mine, busy), *([metrics.get(worker, "-")] if metrics else []))
    table.add_row("total", *_counts(results), f"{seconds:.1f}", _fps(results, seconds), *([""] if metrics else []),
                  style="bold")
    return table


def _counts(results: list[FileResult]) -> list[str]:
    states = [r.status for r in results]
    return [str(states.count("done")), str(states.count("skipped")),
            str(states.count("failed") + states.count("interrupted")),
            str(sum(r.attempts > 1 for r in results)), str(sum(r.frames for r in results if r.status == "done"))]


def _fps(results: list[FileResult], seconds: float) -> str:
    frames = sum(r.frames for r in results if r.status == "done")
    return f"{frames / seconds:.1f}" if seconds else "-"
