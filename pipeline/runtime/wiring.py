"""The queues between the threaded runner's workers: which edge gets which queue, how frames
leave an element (copied per branch) and reach the next (one by one, in batches, or zipped at a
join), and what the queues saw (drops, occupancy).

End of stream is a marker that follows the frames; an element is done when every producer it
reads from has sent one.
"""

from __future__ import annotations

import time
from typing import Iterator

from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.runtime.graph import Graph, Node
from vpipe.pipeline.runtime.nodes import source_of
from vpipe.pipeline.runtime.queues import END, FrameQueue
from vpipe.pipeline.runtime.stats import RunStats


class Wiring:
    def __init__(self, graph: Graph, stats: RunStats):
        self.graph = graph
        self.stats = stats
        #: elements cut out of the graph (stuck past their timeout): nothing they send arrives.
        self.cut: set[str] = set()
        self._queues = self._make_queues()
        #: each element's input queues (one shared by its producers; one per edge for a join).
        self._input_queues: dict[str, list[FrameQueue]] = {}
        for (_, consumer), q in self._queues.items():
            queues = self._input_queues.setdefault(consumer, [])
            if q not in queues:
                queues.append(q)

    def _make_queues(self) -> dict[tuple[str, str], FrameQueue]:
        """One queue per consumer, shared by its producers; a join gets one per input edge."""
        queues: dict[tuple[str, str], FrameQueue] = {}
        for node in self.graph.nodes.values():
            if node.role == "source":
                continue
            size, overflow = self._policy(node)
            if node.fan_in == "join":
                for i in node.inputs:
                    queues[(i, node.name)] = FrameQueue(size, overflow, f"{i}->{node.name}")
            else:
                shared = FrameQueue(size, overflow, node.name)
                for i in node.inputs:
                    queues[(i, node.name)] = shared
            self.stats.stages[node.name].queue_size = size
        return queues

    def _policy(self, node: Node) -> tuple[int, str]:
        """Size and overflow of a node's input: behind live sources only, a stale frame is
        dropped rather than waited for ("auto"), and the queue holds one batch per worker."""
        live = all(self.graph.nodes[i].role == "source" and source_of(self.graph.nodes[i]).info.live
                   for i in node.inputs)
        overflow = node.queue.overflow
        if overflow == "auto":
            overflow = "drop_oldest" if live else "block"
        size = node.queue.size or (node.batch * node.workers + 1 if live and overflow == "drop_oldest" else 8)
        return size, overflow

    # -- out of an element --------------------------------------------------------------------

    def emit(self, node: Node, frame: Frame) -> None:
        if node.name in self.cut:
            return  # a call that returns after its timeout: too late, never passed on
        many = len(node.outputs) > 1
        for consumer in node.outputs:
            self._queues[(node.name, consumer)].put(frame.branch() if many else frame)

    def emit_end(self, node: Node) -> None:
        if node.name in self.cut:
            return  # its stream was ended when it was cut out
        for consumer in node.outputs:
            self._queues[(node.name, consumer)].put(END)

    def cut_out(self, node: Node) -> None:
        """End `node`'s stream on its behalf, so everything downstream finalizes, and release
        whoever waits to feed it; whatever it sends later is dropped."""
        self.cut.add(node.name)
        for upstream in node.inputs:
            self._queues[(upstream, node.name)].close()
        for consumer in node.outputs:
            self._queues[(node.name, consumer)].put(END)

    # -- into an element ----------------------------------------------------------------------

    def batches(self, node: Node) -> Iterator[list[Frame]]:
        """The input in lists of up to `node.batch` frames: what is waiting, never waiting for more
        (so a batch costs no latency). A join zips frames one by one, so it is never batched."""
        if node.fan_in == "join":
            for frame in self._joined(node):
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
                yield merge(heads)
                heads = [None] * len(queues)
            else:
                for k, h in enumerate(heads):
                    if h.seq < top:
                        heads[k] = None
                        self.stats.stages[node.name].dropped += 1

    # -- what the queues saw ------------------------------------------------------------------

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

    def settle(self) -> None:
        """At the end of a run: keep what the queues saw (occupancy, drops) in the stats."""
        for consumer, queues in self._input_queues.items():
            self.stats.stages[consumer].queue_occupancy = max(q.mean_occupancy for q in queues)
        # Drops are read live from the queues until the run ends, then kept in the stats.
        dropped = self.dropped()
        self.stats.ended = time.perf_counter()
        for name, count in dropped.items():
            self.stats.stages[name].dropped = count


def merge(frames: list[Frame]) -> Frame:
    """Branches of one frame met again: one frame with what each of them learned."""
    merged = frames[0]
    for other in frames[1:]:
        merged = merged.merge(other)
    return merged
