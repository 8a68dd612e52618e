"""Runs a built graph: one worker thread per element, linked by bounded queues.

Threads suffice because the heavy work (decode, inference, encode, OpenCV) releases the GIL.
Data flows one way: sources -> stages -> sinks. End of stream is a marker that follows the
frames; a fatal error or a signal stops the sources, everything in flight drains, and every
sink is closed, so what was written is finalized (an interrupted mp4 stays playable).
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
import signal
import threading
import time
from typing import Callable, Iterator

from vpipe.pipeline.errors import StageError
from vpipe.pipeline.frame import Frame
from vpipe.pipeline.graph import Graph, Node
from vpipe.pipeline.queues import END, FrameQueue
from vpipe.pipeline.stats import RunStats


class Runner:
    def __init__(self, graph: Graph, max_frames: int | None = None, warmup: int = 0):
        self.graph = graph
        self.max_frames = max_frames
        self.stats = RunStats([(n.name, n.role) for n in graph.nodes.values()], warmup=warmup)
        self.error: StageError | None = None
        self.interrupted = False
        self._stop = threading.Event()
        #: a second Ctrl-C: stages stop computing and only drain, sinks still close.
        self._abort = threading.Event()
        self._seq = itertools.count()
        self._failed: set[str] = set()
        #: elements stuck past their timeout: their output is cut off for good.
        self._hung: set[str] = set()
        #: per element, the start time of each call in progress (by thread), for the watchdog.
        self._busy: dict[str, dict[int, tuple[float, int]]] = {n: {} for n in graph.nodes}
        self._threads: list[threading.Thread] = []
        self._queues = self._make_queues()
        #: each element's input queues (one shared by its producers; one per edge for a join).
        self._input_queues: dict[str, list[FrameQueue]] = {}
        for (_, consumer), q in self._queues.items():
            queues = self._input_queues.setdefault(consumer, [])
            if q not in queues:
                queues.append(q)

    # -- queues -------------------------------------------------------------------------------

    def _make_queues(self) -> dict[tuple[str, str], FrameQueue]:
        """One queue per consumer, shared by its producers; a join gets one per input edge."""
        queues: dict[tuple[str, str], FrameQueue] = {}
        for node in self.graph.nodes.values():
            if node.role == "source":
                continue
            live = all(self.graph.nodes[i].role == "source" and self.graph.nodes[i].element.info.live
                       for i in node.inputs)
            overflow = node.queue.overflow
            if overflow == "auto":
                overflow = "drop_oldest" if live else "block"
            size = node.queue.size or (node.batch * node.workers + 1 if live and overflow == "drop_oldest" else 8)
            if node.fan_in == "join":
                for i in node.inputs:
                    queues[(i, node.name)] = FrameQueue(size, overflow, f"{i}->{node.name}")
            else:
                shared = FrameQueue(size, overflow, node.name)
                for i in node.inputs:
                    queues[(i, node.name)] = shared
            self.stats.stages[node.name].queue_size = size
        return queues

    def _emit(self, node: Node, frame: Frame) -> None:
        if node.name in self._hung:
            return  # a call that returns after its timeout: too late, never passed on
        many = len(node.outputs) > 1
        for consumer in node.outputs:
            self._queues[(node.name, consumer)].put(frame.branch() if many else frame)

    def _emit_end(self, node: Node) -> None:
        if node.name in self._hung:
            return  # the watchdog already ended this stream
        for consumer in node.outputs:
            self._queues[(node.name, consumer)].put(END)

    def _inputs(self, node: Node) -> Iterator[Frame]:
        if node.fan_in == "join":
            yield from self._joined(node)
            return
        queue = self._queues[(node.inputs[0], node.name)]
        ends = 0
        while ends < len(node.inputs):
            item = queue.get()
            if item is END:
                ends += 1
            else:
                yield item

    def _batches(self, node: Node) -> Iterator[list[Frame]]:
        """The input in lists of up to `node.batch` frames: what is waiting, never waiting for more
        (so a batch costs no latency). A join zips frames one by one, so it is never batched."""
        if node.batch == 1 or node.fan_in == "join":
            for frame in self._inputs(node):
                yield [frame]
            return
        queue = self._queues[(node.inputs[0], node.name)]
        ends = 0
        while ends < len(node.inputs):
            items = queue.get_many(node.batch)
            frames = [item for item in items if item is not END]
            ends += len(items) - len(frames)
            if frames:
                yield frames

    def _joined(self, node: Node) -> Iterator[Frame]:
        """Zip branches of the same frames by sequence number; a frame dropped on one branch
        (drop_oldest) is dropped on all, so a join never waits for what will not come."""
        queues = [self._queues[(i, node.name)] for i in node.inputs]
        heads: list = [None] * len(queues)
        while True:
            for k, q in enumerate(queues):
                if heads[k] is None:
                    heads[k] = q.get()
            if any(h is END for h in heads):
                for k, q in enumerate(queues):
                    while heads[k] is not END:
                        heads[k] = q.get()
                return
            top = max(h.seq for h in heads)
            if all(h.seq == top for h in heads):
                merged = heads[0]
                for other in heads[1:]:
                    merged = merged.merge(other)
                heads = [None] * len(queues)
                yield merged
            else:
                for k, h in enumerate(heads):
                    if h.seq < top:
                        heads[k] = None
                        self.stats.stages[node.name].dropped += 1

    # -- workers ------------------------------------------------------------------------------

    def _run_source(self, node: Node) -> None:
        source = node.element
        stats = self.stats
        count = 0
        try:
            frames = iter(source.capture())
            while not self._stop.is_set():
                start = time.perf_counter()
                captured = next(frames, None)
                if captured is None:
                    break
                now = time.perf_counter()
                frame = Frame(captured.image, node.name, count, captured.pts, now, time.time(),
                              seq=next(self._seq), name=captured.name, clip=captured.clip)
                if captured.audit:  # e.g. a live source's gap marker on the first frame after it
                    frame.audit.update(captured.audit)
                stats.record(node.name, now - start, count)
                count += 1
                self._emit(node, frame)
                if self.max_frames and count >= self.max_frames:
                    break
        except Exception as exc:
            self._fail(node, exc)
        finally:
            try:
                node.close()
            except Exception as exc:
                self._fail(node, exc)
            self._emit_end(node)

    def _run_element(self, node: Node) -> None:
        element = node.element
        try:
            element.open()
        except Exception as exc:
            self._fail(node, exc)
        release = self._releaser(node)
        if node.workers == 1:
            for ticket, frames in enumerate(self._batches(node)):
                release(ticket, self._process_batch(node, frames))
        else:
            # Data-parallel workers share one element (thread-safe ones only, such as an ONNX
            # Runtime session) and one input; results leave in input order.
            lock = threading.Lock()
            items = enumerate(self._batches(node))

            def work() -> None:
                while True:
                    with lock:
                        item = next(items, None)
                    if item is None:
                        return
                    release(item[0], self._process_batch(node, item[1]))

            helpers = [threading.Thread(target=work, name=f"vpipe-{node.name}-{k}", daemon=True)
                       for k in range(1, node.workers)]
            for thread in helpers:
                thread.start()
            work()
            for thread in helpers:
                thread.join()
        if node.name not in self._failed and node.role != "sink":
            try:
                for frame in element.flush():
                    self._emit(node, frame)
            except Exception as exc:
                self._fail(node, exc)
        try:
            node.close()
        except Exception as exc:
            self._fail(node, exc)
        self._emit_end(node)

    def _releaser(self, node: Node) -> Callable[[int, list[Frame | None]], None]:
        """Pass results downstream in ticket order, whichever worker finishes first."""
        if node.role == "sink":
            return lambda ticket, frames: None

        def emit(frames: list[Frame | None]) -> None:
            for frame in frames:
                if frame is not None:
                    self._emit(node, frame)

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

    def _process_batch(self, node: Node, frames: list[Frame]) -> list[Frame | None]:
        """Run the element on a batch; if the batch fails, frame by frame, so the error policy
        applies to the frame at fault and not to its batch-mates."""
        if len(frames) == 1:
            return [self._process(node, frames[0])]
        if node.name in self._failed or self._abort.is_set():
            return []
        start = time.perf_counter()
        try:
            with self._working(node, start, frames[0].index):
                out = node.element.run_batch(frames)
        except Exception:
            out = None
        if out is None:
            return [self._process(node, frame) for frame in frames]
        share = (time.perf_counter() - start) / len(frames)
        for frame in frames:
            self.stats.record(node.name, share, frame.index)
        return out

    @contextmanager
    def _working(self, node: Node, start: float, index: int) -> Iterator[None]:
        """Mark this thread busy on `node` since `start` (with the frame index), for the watchdog."""
        busy = self._busy[node.name]
        busy[threading.get_ident()] = (start, index)
        try:
            yield
        finally:
            busy.pop(threading.get_ident(), None)

    def _process(self, node: Node, frame: Frame) -> Frame | None:
        """Run the element on one frame under its error policy; None means nothing to pass on."""
        if node.name in self._failed or self._abort.is_set():
            return None  # keep draining so upstream workers never block on us
        stats = self.stats.stages[node.name]
        start = time.perf_counter()
        try:
            with self._working(node, start, frame.index):
                out = node.element(frame)
        except Exception as exc:
            stats.errors += 1
            stats.last_error = _one_line(exc)
            if node.on_error == "skip_frame":
                stats.skipped += 1
                return None
            if node.on_error != "mark":
                self._fail(node, exc)
                return None
            frame.faults.append(node.name)
            out = frame
        self.stats.record(node.name, time.perf_counter() - start, frame.index)
        if node.role == "sink":
            self.stats.complete(node.name, frame.captured_at, frame.index)
        return out

    def _watchdog(self) -> None:
        """An element stuck past its timeout (a hung GPU, a wedged driver) cannot be interrupted
        from Python; cut it out instead: end its stream on its behalf so everything downstream
        finalizes, release whoever waits to feed it, and report it."""
        now = time.perf_counter()
        for node in self.graph.nodes.values():
            if not node.timeout or node.name in self._hung:
                continue
            stuck = [(s, i) for s, i in list(self._busy[node.name].values()) if now - s > node.timeout]
            if not stuck:
                continue
            self._hung.add(node.name)
            index = min(i for _, i in stuck)
            self._fail(node, TimeoutError(f"no result after {node.timeout:g} s on frame {index}; "
                                          "frames from there on are not written"))
            for upstream in node.inputs:
                self._queues[(upstream, node.name)].close()
            for consumer in node.outputs:
                self._queues[(node.name, consumer)].put(END)

    def _fail(self, node: Node, exc: BaseException) -> None:
        self._failed.add(node.name)
        if self.error is None:
            message = _one_line(exc)
            if node.role == "source":  # a stream's URL may hold credentials or ${VAR} values
                message = node.element.scrub(message)
            self.error = StageError(node.name, message)
        self.stop()

    # -- control ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop capturing; frames in flight still reach the sinks."""
        self._stop.set()
        for node in self.graph.sources:
            node.element.stop()

    def start(self) -> None:
        for name in self.graph.order:
            node = self.graph.nodes[name]
            target = self._run_source if node.role == "source" else self._run_element
            thread = threading.Thread(target=target, args=(node,), name=f"vpipe-{name}", daemon=True)
            self._threads.append(thread)
        for thread in self._threads:
            thread.start()

    def wait(self, tick: Callable[[], None] | None = None, interval: float = 0.2) -> None:
        for thread, node in zip(self._threads, [self.graph.nodes[n] for n in self.graph.order]):
            while thread.is_alive() and node.name not in self._hung:
                thread.join(interval)
                self._watchdog()
                if tick:
                    tick()
        for consumer, queues in self._input_queues.items():
            stats = self.stats.stages[consumer]
            stats.queue_occupancy = max(q.mean_occupancy for q in queues)
        # Drops are read live from the queues until the run ends, then kept in the stats.
        dropped = self.dropped()
        self.stats.ended = time.perf_counter()
        for name, count in dropped.items():
            self.stats.stages[name].dropped = count

    def dropped(self) -> dict[str, int]:
        """Frames dropped so far on each element's input (a join's drops included)."""
        dropped = {name: s.dropped for name, s in self.stats.stages.items()}
        if self.stats.ended is None:
            for consumer, queues in self._input_queues.items():
                dropped[consumer] += sum(q.dropped for q in queues)
        return dropped

    def queue_depths(self) -> dict[str, int]:
        """Frames waiting on each element's input now."""
        return {consumer: sum(len(q) for q in queues) for consumer, queues in self._input_queues.items()}

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
                self._abort.set()  # a second signal: stop computing, just finalize
            self.interrupted = True
            self.stop()

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        return lambda: [signal.signal(s, h) for s, h in old.items()]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
