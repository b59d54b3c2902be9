from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sim.contacts import (
    ContactDetector,
    ContactRecorder,
    Intervals,
    diff_pairs,
    drop_indoor,
    pairs_brute,
    pairs_grid,
)
from sim.mobility import Composite, Neighbourhood, NeighbourhoodParams, Stationary, make_layout
from sim.rng import Streams

coordinates = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)


def as_set(pairs: np.ndarray) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in pairs}


@given(positions=hnp.arrays(np.float64, st.tuples(st.integers(0, 80), st.just(2)),
                            elements=coordinates),
       radius=st.floats(0.01, 5e3))
def test_grid_equals_brute_force_on_random_positions(positions: np.ndarray,
                                                     radius: float) -> None:
    assert np.array_equal(pairs_grid(positions, radius), pairs_brute(positions, radius))


@given(points=st.lists(st.tuples(st.integers(-6, 6), st.integers(-6, 6)), max_size=70),
       radius=st.sampled_from([0.5, 1.0, 2.0, 3.0, 5.0, 10.0]),
       scale=st.sampled_from([1.0, 0.1, 7.0, 20.0]),
       shift=st.sampled_from([0.0, 0.05, 1e3]))
def test_grid_equals_brute_force_on_lattices_at_exact_range(
        points: list[tuple[int, int]], radius: float, scale: float, shift: float) -> None:
    # Lattice points: many pairs exactly at the range and nodes exactly on cell borders.
    positions = np.asarray(points, dtype=np.float64).reshape(-1, 2) * scale + shift
    grid = pairs_grid(positions, radius * scale)
    assert np.array_equal(grid, pairs_brute(positions, radius * scale))


def test_pairs_exactly_at_range_are_in_contact() -> None:
    positions = np.array([[0.0, 0.0], [20.0, 0.0], [40.0, 0.0], [40.0, 20.0], [60.0, 20.001]])
    assert as_set(pairs_grid(positions, 20.0)) == {(0, 1), (1, 2), (2, 3)}


def test_output_is_sorted_unique_and_ordered() -> None:
    rng = np.random.default_rng(5)
    positions = rng.uniform(0, 100, (500, 2))
    pairs = pairs_grid(positions, 10.0)
    assert pairs.dtype == np.int64 and pairs.shape[1] == 2
    assert np.all(pairs[:, 0] < pairs[:, 1])
    keys = pairs[:, 0] * 500 + pairs[:, 1]
    assert np.all(np.diff(keys) > 0)


def test_same_position_nodes_are_all_in_contact() -> None:
    positions = np.zeros((5, 2))
    assert len(pairs_grid(positions, 1.0)) == 10


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_nodes_have_no_pairs(n: int) -> None:
    assert pairs_grid(np.zeros((n, 2)), 1.0).shape == (0, 2)


@pytest.mark.parametrize("radius", [0.0, -1.0, float("nan"), float("inf")])
def test_invalid_range_is_refused(radius: float) -> None:
    with pytest.raises(ValueError):
        pairs_grid(np.zeros((3, 2)), radius)


@pytest.mark.parametrize("positions", [np.zeros((3, 3)), np.array([[0.0, np.nan]]), np.zeros(4)])
def test_invalid_positions_are_refused(positions: np.ndarray) -> None:
    with pytest.raises(ValueError):
        pairs_grid(positions, 1.0)


@given(positions=hnp.arrays(np.float64, st.tuples(st.integers(0, 60), st.just(2)),
                            elements=st.floats(0, 100)),
       flags=st.data())
def test_indoor_range_applies_when_both_nodes_are_indoors(positions: np.ndarray,
                                                         flags: st.DataObject) -> None:
    indoor = np.asarray(flags.draw(st.lists(st.booleans(), min_size=len(positions),
                                            max_size=len(positions))), dtype=np.bool_)
    expected = pairs_brute(positions, 20.0, indoor, 8.0)
    assert np.array_equal(drop_indoor(pairs_grid(positions, 20.0), positions, indoor, 8.0),
                          expected)
    for a, b in expected:
        limit = 8.0 if indoor[a] and indoor[b] else 20.0
        assert np.hypot(*(positions[a] - positions[b])) <= limit


@given(data=st.data(), n=st.integers(2, 60), indoor_range=st.sampled_from([None, 4.0]))
@settings(max_examples=60)
def test_incremental_detector_equals_brute_force(data: st.DataObject, n: int,
                                                 indoor_range: float | None) -> None:
    seed = data.draw(st.integers(0, 2**32))
    rng = np.random.default_rng(seed)
    positions = rng.uniform(0, 60, (n, 2))
    indoor = rng.random(n) < 0.5
    detector = ContactDetector(10.0, indoor_range, full_share=data.draw(st.sampled_from([0.3,
                                                                                         1.0])))
    for _ in range(8):
        movers = rng.random(n) < data.draw(st.sampled_from([0.0, 0.05, 0.2, 0.8]))
        positions = positions.copy()
        positions[movers] += rng.normal(0, 8, (int(movers.sum()), 2))
        flip = rng.random(n) < 0.1
        indoor = indoor ^ flip
        got = detector.pairs(positions, indoor)
        assert np.array_equal(got, pairs_brute(positions, 10.0, indoor, indoor_range))


def test_detector_matches_brute_force_in_a_neighbourhood() -> None:
    params = NeighbourhoodParams(trips_per_day=8.0)
    streams = Streams(3)
    layout = make_layout(600, 5, params, streams.generator("layout"))
    model = Composite([Stationary(layout.hubs.pos),
                       Neighbourhood(layout, params, streams.generator("mobility"))])
    detector = ContactDetector(20.0, 8.0)
    for t in np.arange(0.0, 4 * 3600.0, 5.0):
        positions = model.positions(float(t))
        got = detector.pairs(positions, model.indoors())
        if t % 300 == 0:
            assert np.array_equal(got, pairs_brute(positions, 20.0, model.indoors(), 8.0))


@given(st.data())
def test_diff_pairs_gives_links_up_and_down(data: st.DataObject) -> None:
    universe = [(a, b) for a in range(8) for b in range(a + 1, 8)]
    before = data.draw(st.sets(st.sampled_from(universe)))
    after = data.draw(st.sets(st.sampled_from(universe)))

    def arr(pairs: set[tuple[int, int]]) -> np.ndarray:
        return np.asarray(sorted(pairs), dtype=np.int64).reshape(-1, 2)

    up, down = diff_pairs(arr(before), arr(after))
    assert as_set(up) == after - before
    assert as_set(down) == before - after
    assert np.array_equal(up, arr(after - before))
    assert np.array_equal(down, arr(before - after))


def test_recorder_reports_links_and_intervals() -> None:
    recorder = ContactRecorder(4)
    steps = [
        (0.0, [(0, 1)]),
        (5.0, [(0, 1), (2, 3)]),
        (10.0, [(2, 3)]),
        (15.0, []),
        (20.0, [(0, 1)]),
    ]
    seen = []
    for t, pairs in steps:
        up, down = recorder.step(t, np.asarray(pairs, dtype=np.int64).reshape(-1, 2))
        seen.append((as_set(up), as_set(down)))
    assert seen == [({(0, 1)}, set()), ({(2, 3)}, set()), (set(), {(0, 1)}),
                    (set(), {(2, 3)}), ({(0, 1)}, set())]
    intervals = recorder.intervals(25.0)
    rows = list(zip(intervals.up.tolist(), intervals.down.tolist(), intervals.a.tolist(),
                    intervals.b.tolist(), strict=True))
    assert rows == [(0.0, 10.0, 0, 1), (5.0, 15.0, 2, 3), (20.0, 25.0, 0, 1)]


def test_recorder_accepts_unsorted_input_and_rejects_bad_pairs() -> None:
    recorder = ContactRecorder(4)
    recorder.step(0.0, np.array([[2, 3], [0, 1]]))
    assert as_set(recorder.current) == {(0, 1), (2, 3)}
    with pytest.raises(ValueError):
        recorder.step(1.0, np.array([[1, 0]]))
    with pytest.raises(ValueError):
        recorder.step(1.0, np.array([[0, 4]]))
    with pytest.raises(ValueError):
        recorder.step(-1.0, np.array([[0, 1]]))


def test_intervals_validate_their_arrays() -> None:
    with pytest.raises(ValueError):
        Intervals.from_rows([(5.0, 4.0, 0, 1)], 2)
    with pytest.raises(ValueError):
        Intervals.from_rows([(0.0, 1.0, 0, 2)], 2)
    with pytest.raises(ValueError):
        Intervals.from_rows([(0.0, 1.0, 1, 1)], 2)
    swapped = Intervals.from_rows([(0.0, 1.0, 1, 0)], 2)
    assert (int(swapped.a[0]), int(swapped.b[0])) == (0, 1)


def test_same_seed_gives_identical_contacts() -> None:
    def run(seed: int) -> Intervals:
        params = NeighbourhoodParams(trips_per_day=8.0)
        streams = Streams(seed)
        layout = make_layout(200, 3, params, streams.generator("layout"))
        model = Composite([Stationary(layout.hubs.pos),
                           Neighbourhood(layout, params, streams.generator("mobility"))])
        detector, recorder = ContactDetector(20.0, 8.0), ContactRecorder(model.size)
        for t in np.arange(0.0, 2 * 3600.0, 5.0):
            recorder.step(float(t), detector.pairs(model.positions(float(t)), model.indoors()))
        return recorder.intervals(2 * 3600.0)

    first, again, other = run(11), run(11), run(12)
    for field in ("up", "down", "a", "b"):
        assert np.array_equal(getattr(first, field), getattr(again, field))
    assert len(first) != len(other) or not np.array_equal(first.up, other.up)
