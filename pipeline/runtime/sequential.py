"""The same graph run one element after another on one thread: the baseline that shows what
pipelining buys (`vpipe bench --sequential`).

Each frame goes through the whole graph before the next is captured. What happens to it at each
element (error policy, counts, audit markers, flush and close) is the executor's, the same as
in the threaded runner: only the scheduling differs.
"""

from __future__ import annotations

import time
from functools import partial

from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.runtime.executor import Executor
from vpipe.pipeline.runtime.graph import Graph, Node
from vpipe.pipeline.runtime.stats import RunStats
from vpipe.pipeline.runtime.wiring import merge


def run_sequential(graph: Graph, max_frames: int | None = None, warmup: int = 0) -> RunStats:
    """Run to the end; raises the first stage error, like `Runner.run`."""
    stats = RunStats([(n.name, n.role) for n in graph.nodes.values()], warmup=warmup)
    executor = Executor(graph, stats)
    elements = [graph.nodes[n] for n in graph.order if graph.nodes[n].role != "source"]
    for node in elements:
        executor.open(node)
    for source in graph.sources:
        executor.run_source(source, max_frames, partial(_through, graph, executor, elements, source.name))
    # Frames held back at the end (look-ahead buffers) go on through the rest of the graph.
    for k, node in enumerate(elements):
        executor.finish(node, partial(_through, graph, executor, elements[k + 1:], node.name))
    stats.ended = time.perf_counter()
    if executor.error:
        raise executor.error
    return stats


def _through(graph: Graph, executor: Executor, elements: list[Node], start: str, frame: Frame) -> None:
    """One frame from `start` on through `elements`, each fed what its inputs passed on; a join
    runs once all its branches have."""
    results: dict[str, Frame | None] = {start: frame}
    for node in elements:
        ins = [_branch(graph, name, out) for name in node.inputs if (out := results.get(name)) is not None]
        if not ins or (node.fan_in == "join" and len(ins) < len(node.inputs)):
            continue
        results[node.name] = executor.process(node, merge(ins))


def _branch(graph: Graph, name: str, frame: Frame) -> Frame:
    """What `name` passes on: a copy per consumer where it feeds several (as the runner does)."""
    return frame.branch() if len(graph.nodes[name].outputs) > 1 else frame
