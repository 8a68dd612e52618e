"""What `vpipe run` shows while it works: a progress bar for files, a status line for streams."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn

from vpipe.pipeline.runner import Runner


class Progress:
    def __init__(self, runner: Runner, enabled: bool = True):
        self.runner = runner
        self.console = Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        sources = runner.graph.sources
        totals = [s.element.info.frames for s in sources]
        self.total = sum(totals) if all(totals) and not any(s.element.info.live for s in sources) else None
        if runner.max_frames and self.total:
            self.total = min(self.total, runner.max_frames * len(sources))
        columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[status]}")]
        if self.total:
            columns.append(TimeRemainingColumn())
        self.bar = RichProgress(*columns, console=self.console, transient=False, disable=not self.enabled)
        self.task = None

    def __enter__(self) -> "Progress":
        self.bar.__enter__()
        self.task = self.bar.add_task("vpipe", total=self.total, status="")
        return self

    def __exit__(self, *exc) -> None:
        self.update()
        self.bar.__exit__(*exc)

    def status(self) -> str:
        stats = self.runner.stats
        elapsed = stats.elapsed()
        fps = stats.frames_out / elapsed if elapsed > 0 else 0.0
        parts = [f"{fps:5.1f} FPS"]
        dropped = sum(s.dropped for s in stats.stages.values())
        errors = sum(s.errors for s in stats.stages.values())
        if dropped:
            parts.append(f"{dropped} dropped")
        if errors:
            parts.append(f"{errors} errors")
        if self.runner.interrupted:
            parts.append("stopping: draining and finalizing sinks")
        return ", ".join(parts)

    def update(self) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=self.runner.stats.frames_out, status=self.status())

    def summary(self) -> None:
        stats = self.runner.stats
        for sink, count in stats.sink_frames.items():
            element = self.runner.graph.nodes[sink].element
            where = getattr(element, "path", None) or getattr(element, "folder", None) or ""
            print(f"{sink}: {count} frames{f' -> {where}' if where else ''}", file=sys.stderr)
        print(f"done in {stats.elapsed():.1f} s: {self.status()}", file=sys.stderr)
