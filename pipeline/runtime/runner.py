"""Runs a built graph: one worker thread per element, linked by bounded queues.

Threads suffice because the heavy work (decode, inference, encode, OpenCV) releases the GIL.
Data flows one way: sources -> stages -> sinks. A fatal error or a signal stops the sources,
everything in flight drains, and every sink is closed, so what was written is finalized (an
interrupted mp4 stays playable).

What happens to each frame is the executor's (shared with `--sequential`); the queues are the
wiring's; the watchdog cuts out elements stuck past their timeout. This module owns the threads.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable

from vpipe.pipeline.api.errors import StageError
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.runtime.executor import Executor
from vpipe.pipeline.runtime.graph import Graph, Node
from vpipe.pipeline.runtime.stats import RunStats
from vpipe.pipeline.runtime.watchdog import Watchdog
from vpipe.pipeline.runtime.wiring import Wiring

Release = Callable[[int, list[Frame | None]], None]


class Runner:
    def __init__(self, graph: Graph, max_frames: int | None = None, warmup: int = 0):
        self.graph = graph
        self.max_frames = max_frames
        self.stats = RunStats([(n.name, n.role) for n in graph.nodes.values()], warmup=warmup)
        self.interrupted = False
        self.executor = Executor(graph, self.stats)
        self.wiring = Wiring(graph, self.stats)
        self.watchdog = Watchdog(graph, self.executor, self.wiring)
        self._threads: list[threading.Thread] = []

    @property
    def error(self) -> StageError | None:
        return self.executor.error

    # -- workers ------------------------------------------------------------------------------

    def _run_source(self, node: Node) -> None:
        self.executor.run_source(node, self.max_frames, lambda frame: self.wiring.emit(node, frame))
        self.wiring.emit_end(node)

    def _run_element(self, node: Node) -> None:
        self.executor.open(node)
        self._work(node, self._releaser(node))
        self.executor.finish(node, lambda frame: self.wiring.emit(node, frame))
        self.wiring.emit_end(node)

    def _work(self, node: Node, release: Release) -> None:
        """Run the element on its input, batch by batch. Data-parallel workers (thread-safe
        elements only, such as an ONNX Runtime session) share the element and the input."""
        lock = threading.Lock()
        batches = enumerate(self.wiring.batches(node))

        def work() -> None:
            while True:
                with lock:
                    item = next(batches, None)
                if item is None:
                    return
                release(item[0], self.executor.process_batch(node, item[1]))

        helpers = [threading.Thread(target=work, name=f"vpipe-{node.name}-{k}", daemon=True)
                   for k in range(1, node.workers)]
        for thread in helpers:
            thread.start()
        work()
        for thread in helpers:
            thread.join()

    def _releaser(self, node: Node) -> Release:
        """Pass results downstream in ticket order, whichever worker finishes first."""
        if node.role == "sink":
            return lambda ticket, frames: None

        def emit(frames: list[Frame | None]) -> None:
            for frame in frames:
                if frame is not None:
                    self.wiring.emit(node, frame)

        if node.workers == 1:
            return lambda ticket, frames: emit(frames)
        lock = threading.Lock()
        done: dict[int, list[Frame | None]] = {}
        state = {"next": 0}

        def release(ticket: int, frames: list[Frame | None]) -> None:
            with lock:
                done[ticket] = frames
                while state["next"] in done:
                    emit(done.pop(state["next"]))
                    state["next"] += 1

        return release

    # -- control ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop capturing; frames in flight still reach the sinks."""
        self.executor.stop()

    def start(self) -> None:
        for name in self.graph.order:
            node = self.graph.nodes[name]
            target = self._run_source if node.role == "source" else self._run_element
            thread = threading.Thread(target=target, args=(node,), name=f"vpipe-{name}", daemon=True)
            self._threads.append(thread)
        for thread in self._threads:
            thread.start()

    def wait(self, tick: Callable[[], None] | None = None, interval: float = 0.2) -> None:
        for thread, name in zip(self._threads, self.graph.order):
            while thread.is_alive() and name not in self.wiring.cut:
                thread.join(interval)
                self.watchdog.check()
                if tick:
                    tick()
        self.wiring.settle()

    def dropped(self) -> dict[str, int]:
        """Frames dropped so far on each element's input (a join's drops included)."""
        return self.wiring.dropped()

    def queue_depths(self) -> dict[str, int]:
        """Frames waiting on each element's input now."""
        return self.wiring.queue_depths()

    def run(self, tick: Callable[[], None] | None = None) -> RunStats:
        """Run to the end; SIGINT/SIGTERM stop capture and drain. Raises the first stage error."""
        restore = self._install_signals()
        try:
            self.start()
            self.wait(tick)
        finally:
            restore()
        if self.error:
            raise self.error
        return self.stats

    def _install_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handler(signum, _frame):
            if self.interrupted:
                self.executor.abort.set()  # a second signal: stop computing, just finalize
            self.interrupted = True
            self.stop()

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for s, h in old.items():
                signal.signal(s, h)

        return restore
