from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.events import EventQueue

times = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@given(st.lists(st.sampled_from([0.0, 1.0, 2.5, 7.0]) | times, max_size=60))
def test_events_come_out_by_time_then_scheduling_order(when: list[float]) -> None:
    queue: EventQueue[int] = EventQueue()
    for index, t in enumerate(when):
        queue.schedule(t, index)
    popped = [queue.pop() for _ in range(len(when))]
    expected = sorted((t, i) for i, t in enumerate(when))
    assert popped == expected
    assert not queue


@given(st.lists(st.tuples(times, st.booleans()), max_size=60))
def test_cancelled_events_never_come_out(plan: list[tuple[float, bool]]) -> None:
    queue: EventQueue[int] = EventQueue()
    handles = [queue.schedule(t, i) for i, (t, _) in enumerate(plan)]
    for handle, (_, cancel) in zip(handles, plan, strict=True):
        if cancel:
            assert queue.cancel(handle)
            assert not queue.cancel(handle)
    kept = sorted((t, i) for i, (t, cancel) in enumerate(plan) if not cancel)
    assert len(queue) == len(kept)
    assert list(queue.pop_until(1e6)) == kept
    assert len(queue) == 0


def test_cancel_after_pop_reports_false_and_keeps_count() -> None:
    queue: EventQueue[str] = EventQueue()
    first = queue.schedule(1.0, "a")
    queue.schedule(2.0, "b")
    assert queue.pop() == (1.0, "a")
    assert not queue.cancel(first)
    assert len(queue) == 1
    assert first.pending is False


def test_now_follows_popped_events_and_horizons() -> None:
    queue: EventQueue[str] = EventQueue(start=10.0)
    assert queue.now == 10.0
    queue.schedule_in(5.0, "x")
    assert queue.peek_time() == 15.0
    assert queue.pop() == (15.0, "x")
    assert queue.now == 15.0
    assert list(queue.pop_until(40.0)) == []
    assert queue.now == 40.0


def test_pop_until_includes_events_scheduled_while_iterating() -> None:
    queue: EventQueue[str] = EventQueue()
    queue.schedule(1.0, "first")
    seen = []
    for t, name in queue.pop_until(5.0):
        seen.append((t, name))
        if name == "first":
            queue.schedule(3.0, "inside")
            queue.schedule(5.0, "edge")
            queue.schedule(6.0, "outside")
    assert seen == [(1.0, "first"), (3.0, "inside"), (5.0, "edge")]
    assert queue.peek_time() == 6.0 and len(queue) == 1


def test_peek_skips_cancelled_head() -> None:
    queue: EventQueue[str] = EventQueue()
    head = queue.schedule(1.0, "a")
    queue.schedule(2.0, "b")
    queue.cancel(head)
    assert queue.peek_time() == 2.0
    assert queue.pop() == (2.0, "b")
    assert queue.peek_time() is None


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_invalid_times_are_refused(bad: float) -> None:
    queue: EventQueue[None] = EventQueue()
    with pytest.raises(ValueError):
        queue.schedule(bad, None)
    assert len(queue) == 0


def test_time_never_runs_backwards() -> None:
    queue: EventQueue[None] = EventQueue()
    queue.schedule(5.0, None)
    queue.pop()
    with pytest.raises(ValueError):
        queue.schedule(4.0, None)
    with pytest.raises(ValueError):
        queue.schedule_in(-1.0, None)
    with pytest.raises(ValueError):
        list(queue.pop_until(1.0))


def test_pop_from_empty_queue_raises() -> None:
    queue: EventQueue[None] = EventQueue()
    with pytest.raises(IndexError):
        queue.pop()
