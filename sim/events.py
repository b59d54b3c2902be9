"""Event queue in simulated time: a binary heap with stable order and lazy cancellation.

Time is a float in seconds and only moves forward. Events at equal times come out in the
order they were scheduled (a sequence counter breaks ties), so a run is a pure function of its
inputs. Cancelling marks the event dead; the heap drops it when it reaches the top, which
keeps `cancel` O(1). Nothing here reads the wall clock or sleeps.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["EventHandle", "EventQueue"]

T = TypeVar("T")


class EventHandle(Generic[T]):
    """A scheduled event; pass it to `EventQueue.cancel` to withdraw it."""

    __slots__ = ("payload", "pending", "seq", "time")

    def __init__(self, time: float, seq: int, payload: T) -> None:
        self.time = time
        self.seq = seq
        self.payload = payload
        self.pending = True  # False once popped or cancelled

    def __repr__(self) -> str:
        state = "" if self.pending else " done"
        return f"EventHandle(t={self.time!r}, seq={self.seq}{state})"


class EventQueue(Generic[T]):
    """Pending events ordered by (time, scheduling order).

    `now` is the time of the last popped event (or the start time); scheduling before `now`
    raises ValueError, so simulated time never runs backwards.
    """

    __slots__ = ("_heap", "_live", "_now", "_seq")

    def __init__(self, start: float = 0.0) -> None:
        if not math.isfinite(start):
            raise ValueError("start time must be finite")
        self._heap: list[tuple[float, int, EventHandle[T]]] = []
        self._now = float(start)
        self._seq = 0
        self._live = 0

    @property
    def now(self) -> float:
        return self._now

    def __len__(self) -> int:
        """Number of pending, not cancelled events."""
        return self._live

    def __bool__(self) -> bool:
        return self._live > 0

    def schedule(self, time: float, payload: T) -> EventHandle[T]:
        """Add an event at absolute time `time` (>= now, finite)."""
        if not time >= self._now:  # also rejects NaN
            raise ValueError(f"event time {time!r} is before now ({self._now!r}) or not a number")
        if time == math.inf:
            raise ValueError("event time must be finite")
        handle = EventHandle(float(time), self._seq, payload)
        self._seq += 1
        heapq.heappush(self._heap, (handle.time, handle.seq, handle))
        self._live += 1
        return handle

    def schedule_in(self, delay: float, payload: T) -> EventHandle[T]:
        """Add an event `delay` (>= 0) seconds after now."""
        if not delay >= 0:
            raise ValueError(f"delay {delay!r} must be >= 0")
        return self.schedule(self._now + delay, payload)

    def cancel(self, handle: EventHandle[T]) -> bool:
        """Withdraw a pending event of this queue. False if it already ran or was cancelled."""
        if not handle.pending:
            return False
        handle.pending = False
        self._live -= 1
        return True

    def peek_time(self) -> float | None:
        """Time of the next live event, or None when the queue is empty."""
        self._drop_cancelled()
        return self._heap[0][0] if self._heap else None

    def pop(self) -> tuple[float, T]:
        """Remove the next live event, advance `now` to its time and return (time, payload).

        Raises IndexError when no event is pending.
        """
        self._drop_cancelled()
        if not self._heap:
            raise IndexError("pop from an empty event queue")
        time, _, handle = heapq.heappop(self._heap)
        self._live -= 1
        self._now = time
        handle.pending = False
        return time, handle.payload

    def pop_until(self, time: float) -> Iterator[tuple[float, T]]:
        """Pop every event with time <= `time`, in order, then advance `now` to `time`.

        Events scheduled while iterating are included if they fall inside the horizon.
        """
        if not time >= self._now:
            raise ValueError(f"horizon {time!r} is before now ({self._now!r})")
        while True:
            nxt = self.peek_time()
            if nxt is None or nxt > time:
                break
            yield self.pop()
        self._now = float(time)

    def _drop_cancelled(self) -> None:
        heap = self._heap
        while heap and not heap[0][2].pending:
            heapq.heappop(heap)
