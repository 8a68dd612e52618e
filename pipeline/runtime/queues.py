"""Bounded frame queues between workers, with a per-edge overflow policy.

`queue.Queue` cannot drop its oldest item atomically, which live sources need (a stale frame is
worth less than a fresh one), so this is a small deque under a condition variable instead.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from vpipe.pipeline.api.frame import Frame

#: Marks the end of one producer's stream; never dropped, never counted against the bound.
END = object()

#: Overflow policies: `block` waits for room (lossless), `drop_oldest` discards the stalest frame.
POLICIES = ("block", "drop_oldest")


class FrameQueue:
    def __init__(self, size: int, overflow: str = "block", name: str = ""):
        if overflow not in POLICIES:
            raise ValueError(f"unknown overflow policy {overflow!r}")
        self.size = size
        self.overflow = overflow
        self.name = name
        self.dropped = 0
        self._items: deque[Any] = deque()
        self._frames = 0  # items that are not END markers
        self._cond = threading.Condition()
        self._closed = False
        # Occupancy seen by the consumer at each get, for `vpipe bench`.
        self._occupancy_sum = 0
        self._gets = 0

    def put(self, item: Any) -> bool:
        """Add an item; returns False if the queue was closed (the consumer is gone)."""
        with self._cond:
            if item is not END:
                while self._frames >= self.size and not self._closed:
                    if self.overflow == "drop_oldest":
                        self._drop_oldest_frame(item)
                    else:
                        self._cond.wait()
                if self._closed:
                    return False
                self._frames += 1
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self) -> Any:
        with self._cond:
            while not self._items:
                self._cond.wait()
            item = self._pop()
            self._cond.notify_all()
            return item

    def get_many(self, limit: int) -> list[Any]:
        """Wait for one item, then take up to `limit` of those waiting (END markers included)."""
        with self._cond:
            while not self._items:
                self._cond.wait()
            out = [self._pop() for _ in range(min(limit, len(self._items)))]
            self._cond.notify_all()
            return out

    def close(self) -> None:
        """Release blocked producers for good: used when the consumer stops early."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        return self._frames

    @property
    def mean_occupancy(self) -> float:
        return self._occupancy_sum / self._gets if self._gets else 0.0

    def _pop(self) -> Any:
        """Take the head item (lock held), counting the occupancy the consumer saw."""
        item = self._items.popleft()
        if item is not END:
            self._occupancy_sum += self._frames
            self._gets += 1
            self._frames -= 1
        return item

    def _drop_oldest_frame(self, incoming: Any) -> None:
        for i, item in enumerate(self._items):
            if item is not END:
                del self._items[i]
                self._frames -= 1
                self.dropped += 1
                later = (x for x in self._items if x is not END)  # the dropped frame's successor
                _hand_on_audit(item, next(later, incoming))
                return


def _hand_on_audit(dropped: Any, successor: Any) -> None:
    """A dropped frame's audit entries go to the frame after it, so the record keeps them: a
    camera's first frame after a reconnect carries the gap, and it is the first that the burst
    after the reconnect pushes out. The successor's own values win where both have one."""
    if not (isinstance(dropped, Frame) and isinstance(successor, Frame) and dropped.audit):
        return
    notes, own = dropped.audit, successor.audit
    for key, value in notes.items():
        mine = own.get(key)
        if isinstance(value, dict) and isinstance(mine, dict):
            own[key] = {**value, **mine}
        elif key not in own:
            own[key] = value
