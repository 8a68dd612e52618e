"""The same graph run one element after another on one thread: the baseline that shows what
pipelining buys (`vpipe bench --sequential`)."""

from __future__ import annotations

import time

from vpipe.pipeline.errors import StageError
from vpipe.pipeline.frame import Frame
from vpipe.pipeline.graph import Graph
from vpipe.pipeline.stats import RunStats


def run_sequential(graph: Graph, max_frames: int | None = None, warmup: int = 0) -> RunStats:
    stats = RunStats([(n.name, n.role) for n in graph.nodes.values()], warmup=warmup)
    elements = [graph.nodes[n] for n in graph.order if graph.nodes[n].role != "source"]
    for node in elements:
        node.element.open()
    seq = 0
    try:
        for source in graph.sources:
            frames = iter(source.element.capture())
            count = 0
            while not max_frames or count < max_frames:
                start = time.perf_counter()
                captured = next(frames, None)
                if captured is None:
                    break
                now = time.perf_counter()
                stats.record(source.name, now - start, count)
                frame = Frame(captured.image, source.name, count, captured.pts, now, time.time(),
                              seq=seq, name=captured.name, clip=captured.clip)
                seq += 1
                count += 1
                _through(graph, elements, source.name, frame, stats)
        _flush(graph, elements, stats)
    finally:
        for node in elements:
            node.close()
        for source in graph.sources:
            source.close()
    stats.ended = time.perf_counter()
    return stats


def _through(graph: Graph, elements, source: str, frame: Frame, stats: RunStats) -> None:
    results: dict[str, Frame | None] = {source: frame}
    for node in elements:
        ins = []
        for name in node.inputs:
            if results.get(name) is not None:
                upstream = graph.nodes[name]
                ins.append(results[name].branch() if len(upstream.outputs) > 1 else results[name])
        if not ins or (node.fan_in == "join" and len(ins) < len(node.inputs)):
            continue
        merged = ins[0]
        for other in ins[1:]:
            merged = merged.merge(other)
        start = time.perf_counter()
        try:
            out = node.element(merged)
        except Exception as exc:
            if node.on_error == "skip_frame":
                continue
            if node.on_error != "mark":
                raise StageError(node.name, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            merged.faults.append(node.name)
            out = merged
        stats.record(node.name, time.perf_counter() - start, merged.index)
        if node.role == "sink":
            stats.complete(node.name, merged.captured_at, merged.index)
        results[node.name] = out


def _flush(graph: Graph, elements, stats: RunStats) -> None:
    """Frames held back at the end (look-ahead buffers) go on through the rest of the graph."""
    for k, node in enumerate(elements):
        if node.role == "sink":
            continue
        for frame in node.element.flush():
            _through(graph, elements[k + 1:], node.name, frame, stats)
