"""What `vpipe run` shows while it works: a progress bar for files, a status line for streams
(per camera: state, reconnects, gaps, frames dropped), and a summary on exit."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from vpipe.pipeline.api.element import Element, Sink
from vpipe.pipeline.api.registry import ELEMENTS
from vpipe.pipeline.runtime.nodes import element_of, source_of
from vpipe.pipeline.runtime.runner import Runner


class Progress:
    def __init__(self, runner: Runner, enabled: bool = True):
        self.runner = runner
        self.console = Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        sources = runner.graph.sources
        infos = [source_of(s).info for s in sources]
        totals = [info.frames or 0 for info in infos]  # 0: not known
        self.total = sum(totals) if all(totals) and not any(info.live for info in infos) else None
        if runner.max_frames and self.total:
            self.total = min(self.total, runner.max_frames * len(sources))
        columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[status]}")]
        if self.total:
            columns.append(TimeRemainingColumn())
        self.bar = RichProgress(*columns, console=self.console, transient=False, disable=not self.enabled)
        self.task: TaskID | None = None

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
        by_stage = self.runner.dropped()
        dropped = sum(by_stage.values())
        errors = sum(s.errors for s in stats.stages.values())
        if dropped:
            parts.append(f"{dropped} dropped")
        if errors:
            parts.append(f"{errors} errors")
        if self.runner.interrupted:
            parts.append("stopping: draining and finalizing sinks")
        line = ", ".join(parts)
        dropped_streams = dropped_by_stream(self.runner, by_stage)
        for node in self.runner.graph.sources:
            info = source_of(node).info
            if info.live:
                line += f" | {node.name}: {_stream_text(info, dropped_streams.get(node.name, 0))}"
        return line

    def update(self) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=self.runner.stats.frames_out, status=self.status())

    def summary(self, table: bool = False) -> None:
        """Frames per sink and, per live stream, its reconnects, gaps and drops; `table` adds
        the per-stream and per-stage table of `vpipe run --status`."""
        stats = self.runner.stats
        for sink, count in stats.sink_frames.items():
            print(sink_line(sink, count, element_of(self.runner.graph.nodes[sink])), file=sys.stderr)
        for node in self.runner.graph.sources:
            for warning in source_of(node).warnings():  # corrupt or truncated input: said, not silent
                print(f"warning: {warning}", file=sys.stderr)
        dropped_streams = dropped_by_stream(self.runner, self.runner.dropped())
        for node in self.runner.graph.sources:
            info = source_of(node).info
            if info.live:
                frames = stats.stages[node.name].frames
                print(f"{node.name}: {frames} frames captured, "
                      f"{_stream_text(info, dropped_streams.get(node.name, 0))}", file=sys.stderr)
        print(f"done in {stats.elapsed():.1f} s: {self.status().split(' | ')[0]}", file=sys.stderr)
        if table:
            # Full width even when stderr is a file or a pipe (rich would wrap at 80 columns).
            Console(stderr=True, width=max(self.console.width, 130)).print(status_table(self.runner))


def sink_line(name: str, count: int, element: Element) -> str:
    """A sink's line of the summary: what it wrote, where, and what reached a network sink's server."""
    where = element.destination() if isinstance(element, Sink) else ""
    line = f"{sink_label(name, element)}: {count} {'images' if element.writes_folder else 'frames'}" + (
        f" -> {where}" if where else "")
    delivery = element.delivery() if isinstance(element, Sink) else None
    if delivery is not None:
        line += (f" ({delivery.sent} sent, {delivery.dropped} dropped while disconnected, "
                 f"{delivery.connections} connections)")
    return line


def sink_label(name: str, element) -> str:
    """The sink's name, or its type where the name is another type's: roadview's sink `video`
    writes images when `-o` names a folder, and "video: 222 frames" misleads there."""
    other = ELEMENTS.get(name)
    return element.type_name if other is not None and not isinstance(element, other) else name


def dropped_by_stream(runner: Runner, by_stage: dict[str, int]) -> dict[str, int]:
    """Drops per source, from the drops per element: those on the input of the elements that
    source alone feeds (a merge of several sources shares one queue: shown per stage only)."""
    out: dict[str, int] = {}
    for node in runner.graph.sources:
        out[node.name] = sum(by_stage[c] for c in node.outputs if runner.graph.nodes[c].inputs == [node.name])
    return out


def _stream_text(info, dropped: int) -> str:
    text = (f"{info.state or 'starting'}, {info.reconnects} reconnects, {info.gaps} gaps "
            f"({info.gap_seconds:.1f} s lost), {dropped} dropped")
    if info.state in ("connecting", "reconnecting", "failed") and info.last_error:
        text += f" ({info.last_error})"
    return text


def status_table(runner: Runner) -> Table:
    """Per stream and per stage: frames, rate, latency, drops, errors (`vpipe run --status`)."""
    stats = runner.stats
    elapsed = max(stats.elapsed(), 1e-9)
    dropped = runner.dropped()
    summary = stats.summary()["stages"]
    table = Table(title="vpipe run status")
    for column in ("element", "role", "frames", "FPS", "p50 ms", "p95 ms", "dropped", "errors",
                   "reconnects", "gaps", "lost s", "state"):
        table.add_column(column, justify="left" if column in ("element", "role", "state") else "right")
    for node in runner.graph.nodes.values():
        s, row = stats.stages[node.name], summary[node.name]
        info = source_of(node).info if node.role == "source" else None
        stream = ([str(info.reconnects), str(info.gaps), f"{info.gap_seconds:.1f}", info.state or "-"]
                  if info is not None and info.live else ["-"] * 4)
        table.add_row(node.name, node.role, str(s.frames), f"{s.frames / elapsed:.1f}",
                      f"{row['p50']:.1f}", f"{row['p95']:.1f}", str(dropped[node.name]), str(s.errors), *stream)
    return table
