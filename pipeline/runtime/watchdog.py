"""Cuts out an element stuck past its `timeout` (a hung GPU, a wedged driver).

A call in progress cannot be interrupted from Python; the element is cut out instead: its stream
is ended on its behalf so everything downstream finalizes, whoever waits to feed it is released,
and the run fails with the frame it was stuck on. Fail-closed: no later frame is written.
"""

from __future__ import annotations

import time

from vpipe.pipeline.runtime.executor import Executor
from vpipe.pipeline.runtime.graph import Graph
from vpipe.pipeline.runtime.wiring import Wiring


class Watchdog:
    def __init__(self, graph: Graph, executor: Executor, wiring: Wiring):
        self.graph = graph
        self.executor = executor
        self.wiring = wiring

    def check(self) -> None:
        now = time.perf_counter()
        for node in self.graph.nodes.values():
            if not node.timeout or node.name in self.wiring.cut:
                continue
            overdue = self.executor.overdue(node, now)
            if overdue:
                self.wiring.cut_out(node)
                self.executor.fail(node, TimeoutError(f"no result after {node.timeout:g} s on frame "
                                                      f"{min(overdue)}; frames from there on are not written"))
