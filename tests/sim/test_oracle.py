from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.contacts import Intervals
from sim.oracle import Adjacency, coverage_curve, earliest_arrival

INF = math.inf


def contacts(rows: list[tuple[float, float, int, int]], size: int) -> Intervals:
    return Intervals.from_rows(rows, size)


def test_set_up_is_paid_once_per_contact_not_per_message() -> None:
    trace = contacts([(10, 20, 0, 1), (0, 100, 1, 2)], 3)
    # 0-1 is usable from 13 (set-up 3 s); 1-2 has been up since 0, so it only transfers.
    assert earliest_arrival(trace, 0, 0.0, delay=2.0, setup=3.0).tolist() == [0.0, 15.0, 17.0]
    # A contact shorter than set-up plus transfer carries nothing.
    assert earliest_arrival(contacts([(10, 14, 0, 1)], 2), 0, 0.0, delay=2.0,
                            setup=3.0).tolist() == [0.0, INF]
    with pytest.raises(ValueError, match="setup"):
        earliest_arrival(trace, 0, 0.0, setup=-1.0)


def test_one_adjacency_serves_every_source() -> None:
    trace = contacts([(10, 20, 0, 1), (15, 30, 1, 2), (40, 50, 2, 3), (5, 60, 0, 3)], 4)
    graph = Adjacency(trace)
    for source in range(4):
        assert earliest_arrival(graph, source, 1.0, 0.5).tolist() == earliest_arrival(
            trace, source, 1.0, 0.5).tolist()


def test_chain_of_contacts() -> None:
    trace = contacts([(10, 20, 0, 1), (15, 30, 1, 2), (40, 50, 2, 3)], 5)
    assert earliest_arrival(trace, 0, 0.0).tolist() == [0.0, 10.0, 15.0, 40.0, INF]
    assert earliest_arrival(trace, 0, 0.0, delay=2.0).tolist() == [0.0, 12.0, 17.0, 42.0, INF]


def test_a_long_contact_that_started_earlier_is_still_usable() -> None:
    # 1-2 comes up before 0 reaches 1, and is still up afterwards.
    trace = contacts([(0, 100, 1, 2), (10, 20, 0, 1)], 3)
    assert earliest_arrival(trace, 0, 0.0).tolist() == [0.0, 10.0, 10.0]


def test_time_must_be_respected() -> None:
    # 1-2 is over before 1 gets the message; the reverse direction works.
    trace = contacts([(0, 5, 1, 2), (10, 20, 0, 1)], 3)
    assert earliest_arrival(trace, 0, 0.0).tolist() == [0.0, 10.0, INF]
    assert earliest_arrival(trace, 2, 0.0).tolist() == [10.0, 0.0, 0.0]


def test_the_handover_must_finish_before_the_contact_ends() -> None:
    trace = contacts([(10, 13, 0, 1), (20, 30, 0, 1)], 2)
    assert earliest_arrival(trace, 0, 0.0, delay=3.0).tolist() == [0.0, 13.0]  # exactly fits
    assert earliest_arrival(trace, 0, 0.0, delay=4.0).tolist() == [0.0, 24.0]
    assert earliest_arrival(trace, 0, 0.0, delay=11.0).tolist() == [0.0, INF]


def test_nothing_is_handed_over_after_the_message_expires() -> None:
    """Nodes drop an expired message and refuse it, so the bound must not carry it on."""
    trace = contacts([(10, 20, 0, 1), (15, 30, 1, 2), (40, 50, 2, 3)], 4)
    assert earliest_arrival(trace, 0, 0.0, deadline=40.0).tolist() == [0.0, 10.0, 15.0, 40.0]
    assert earliest_arrival(trace, 0, 0.0, deadline=39.0).tolist() == [0.0, 10.0, 15.0, INF]
    assert earliest_arrival(trace, 0, 0.0, delay=2.0, deadline=16.0).tolist() == [
        0.0, 12.0, INF, INF]
    with pytest.raises(ValueError):
        earliest_arrival(trace, 0, 0.0, deadline=math.nan)


def test_start_time_matters() -> None:
    trace = contacts([(10, 20, 0, 1), (30, 40, 1, 2)], 3)
    assert earliest_arrival(trace, 0, 15.0).tolist() == [15.0, 15.0, 30.0]
    assert earliest_arrival(trace, 0, 25.0).tolist() == [25.0, INF, INF]


def test_the_faster_of_two_routes_wins() -> None:
    trace = contacts([(0, 1, 0, 1), (50, 60, 1, 3), (5, 6, 0, 2), (7, 8, 2, 3)], 4)
    assert earliest_arrival(trace, 0, 0.0).tolist() == [0.0, 0.0, 5.0, 7.0]


def test_invalid_arguments() -> None:
    trace = contacts([(0, 1, 0, 1)], 2)
    with pytest.raises(ValueError):
        earliest_arrival(trace, 2, 0.0)
    with pytest.raises(ValueError):
        earliest_arrival(trace, 0, 0.0, delay=-1.0)
    with pytest.raises(ValueError):
        earliest_arrival(trace, 0, math.nan)
    with pytest.raises(ValueError, match="target"):
        earliest_arrival(trace, 0, 0.0, target=2)


def brute_force(rows: list[tuple[float, float, int, int]], size: int, source: int,
                start: float, delay: float) -> list[float]:
    """Best arrival over every node-simple sequence of contacts, by exhaustive search."""
    best = [INF] * size
    best[source] = start

    def walk(node: int, held: float, visited: frozenset[int]) -> None:
        for up, down, a, b in rows:
            if node not in (a, b):
                continue
            peer = b if node == a else a
            if peer in visited:
                continue
            done = max(held, up) + delay
            if done > down:
                continue
            best[peer] = min(best[peer], done)
            walk(peer, done, visited | {peer})

    walk(source, start, frozenset({source}))
    return best


@st.composite
def small_traces(draw: st.DrawFn) -> tuple[list[tuple[float, float, int, int]], int]:
    size = draw(st.integers(2, 6))
    rows = []
    for _ in range(draw(st.integers(0, 9))):
        a = draw(st.integers(0, size - 1))
        b = (a + draw(st.integers(1, size - 1))) % size
        up = draw(st.integers(0, 30))
        rows.append((float(up), float(up + draw(st.integers(0, 15))), a, b))
    return rows, size


@given(small_traces(), st.data())
def test_oracle_equals_exhaustive_search(trace: tuple[list[tuple[float, float, int, int]], int],
                                         data: st.DataObject) -> None:
    rows, size = trace
    source = data.draw(st.integers(0, size - 1))
    start = float(data.draw(st.integers(0, 20)))
    delay = float(data.draw(st.sampled_from([0, 0, 1, 3])))
    got = earliest_arrival(Intervals.from_rows(rows, size), source, start, delay)
    assert got.tolist() == brute_force(rows, size, source, start, delay)


@given(small_traces(), st.data())
def test_a_search_for_one_target_gives_that_target_its_exact_time(
        trace: tuple[list[tuple[float, float, int, int]], int], data: st.DataObject) -> None:
    rows, size = trace
    source = data.draw(st.integers(0, size - 1))
    target = data.draw(st.integers(0, size - 1))
    delay = float(data.draw(st.sampled_from([0, 1, 3])))
    graph = Adjacency(Intervals.from_rows(rows, size))
    whole = earliest_arrival(graph, source, 0.0, delay, setup=1.0)
    one = earliest_arrival(graph, source, 0.0, delay, setup=1.0, target=target)
    assert one[target] == whole[target]
    assert one[source] == 0.0


def test_a_search_for_a_near_target_stops_before_the_far_nodes() -> None:
    # 0 meets 1 at once and 2 only much later: once 1 is final, 2 is not searched further.
    trace = contacts([(0, 10, 0, 1), (500, 510, 1, 2)], 3)
    assert earliest_arrival(trace, 0, 0.0, target=1).tolist() == [0.0, 0.0, INF]
    assert earliest_arrival(trace, 0, 0.0).tolist() == [0.0, 0.0, 500.0]


@given(st.lists(st.floats(0, 1e5) | st.just(INF), max_size=40),
       st.lists(st.floats(-10, 2e5), max_size=30))
def test_coverage_is_a_monotone_share(arrivals: list[float], times: list[float]) -> None:
    grid = np.sort(np.asarray(times, dtype=np.float64))
    curve = coverage_curve(np.asarray(arrivals, dtype=np.float64), grid)
    assert curve.shape == grid.shape
    assert np.all(np.diff(curve) >= 0)
    assert np.all((curve >= 0) & (curve <= 1))
    for t, share in zip(grid.tolist(), curve.tolist(), strict=True):
        expected = sum(a <= t for a in arrivals) / len(arrivals) if arrivals else 0.0
        assert share == pytest.approx(expected)


def test_coverage_among_a_subset() -> None:
    arrival = np.array([0.0, 10.0, 20.0, INF])
    residents = np.array([False, True, True, True])
    assert coverage_curve(arrival, np.array([5.0, 10.0, 100.0]), residents).tolist() == [
        0.0, pytest.approx(1 / 3), pytest.approx(2 / 3)]
    assert coverage_curve(arrival, np.array([1.0]), np.zeros(4, np.bool_)).tolist() == [0.0]
