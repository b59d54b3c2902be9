from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.config import ScenarioError
from sim.mobility import (
    Composite,
    Neighbourhood,
    NeighbourhoodParams,
    RandomWaypoint,
    RandomWaypointParams,
    Stationary,
    make_layout,
)
from sim.rng import Streams

EPS = 1e-6


def neighbourhood(residents: int = 300, hubs: int = 5, seed: int = 1, start_hour: float = 8.0,
                  **overrides: object) -> Neighbourhood:
    params = NeighbourhoodParams(**overrides)  # type: ignore[arg-type]
    streams = Streams(seed)
    layout = make_layout(residents, hubs, params, streams.generator("layout"))
    return Neighbourhood(layout, params, streams.generator("mobility"), start_hour=start_hour)


def test_stationary_nodes_stay_put_and_return_copies() -> None:
    points = np.array([[1.0, 2.0], [3.0, 4.0]])
    model = Stationary(points, indoors=False)
    first = model.positions(0.0)
    first[0, 0] = 99.0
    assert np.array_equal(model.positions(1e6), points)
    assert model.size == 2 and not model.indoors().any()
    with pytest.raises(ValueError):
        Stationary(np.array([[np.nan, 0.0]]))


def test_composite_concatenates_in_order() -> None:
    hubs = Stationary(np.array([[0.0, 0.0]]), indoors=True)
    walkers = RandomWaypoint(3, RandomWaypointParams(), Streams(1).generator("m"))
    both = Composite([hubs, walkers])
    pos = both.positions(10.0)
    assert both.size == 4 and pos.shape == (4, 2)
    assert np.array_equal(pos[0], [0.0, 0.0])
    assert both.indoors().tolist() == [True, False, False, False]


@given(seed=st.integers(0, 2**32), step=st.floats(0.5, 200.0))
@settings(max_examples=30)
def test_random_waypoint_stays_inside_and_respects_speed(seed: int, step: float) -> None:
    params = RandomWaypointParams(width=300.0, height=120.0, speed=(0.5, 2.0), pause=(0.0, 30.0))
    model = RandomWaypoint(40, params, Streams(seed).generator("mobility"))
    before = model.positions(0.0)
    for k in range(1, 60):
        now = model.positions(k * step)
        assert np.all(now >= -EPS) and np.all(now[:, 0] <= 300.0 + EPS)
        assert np.all(now[:, 1] <= 120.0 + EPS)
        moved = np.hypot(*(now - before).T)
        assert np.all(moved <= params.speed[1] * step + EPS)
        before = now


def test_random_waypoint_nodes_actually_move() -> None:
    model = RandomWaypoint(20, RandomWaypointParams(), Streams(2).generator("mobility"))
    start = model.positions(0.0)
    later = model.positions(3600.0)
    assert np.all(np.hypot(*(later - start).T) > 0)


def test_models_are_deterministic_per_seed() -> None:
    for seed in (1, 2):
        a, b = neighbourhood(seed=seed), neighbourhood(seed=seed)
        for t in np.arange(0.0, 6 * 3600, 300.0):
            assert np.array_equal(a.positions(float(t)), b.positions(float(t)))
    assert not np.array_equal(neighbourhood(seed=1).positions(7200.0),
                              neighbourhood(seed=2).positions(7200.0))


def test_time_must_not_go_backwards() -> None:
    model = neighbourhood(residents=10)
    model.positions(100.0)
    model.positions(100.0)
    with pytest.raises(ValueError):
        model.positions(99.0)


def test_layout_size_follows_density_and_households() -> None:
    params = NeighbourhoodParams(density=5000.0, block=100.0, household_size=2.0, shops=4)
    layout = make_layout(2500, 20, params, Streams(1).generator("layout"))
    assert layout.blocks == 7  # sqrt(2500 / 5000 km²) = 707 m
    assert len(layout.homes) == 1250 and len(layout.shops) == 4 and len(layout.hubs) == 20
    household = np.bincount(layout.resident_home, minlength=len(layout.homes))
    assert household.min() == household.max() == 2
    for places in (layout.homes, layout.shops, layout.hubs):
        assert np.all((places.pos >= 0) & (places.pos <= layout.width))
        # Doors are on a street centre line: the street's coordinate is a multiple of block.
        line = np.where(places.horizontal, places.door[:, 1], places.door[:, 0])
        assert np.all(np.mod(line, params.block) == 0)
        assert np.allclose(np.hypot(*(places.pos - places.door).T), params.setback)


def test_neighbourhood_residents_move_along_streets_at_plausible_speeds() -> None:
    params = NeighbourhoodParams()
    model = neighbourhood(residents=400, trips_per_day=6.0)
    width = model.layout.width
    step = 20.0
    before = model.positions(0.0)
    moving_seen = 0
    for k in range(1, int(10 * 3600 / step)):
        now = model.positions(k * step)
        assert np.all((now >= -EPS) & (now <= width + EPS))
        assert np.all(np.hypot(*(now - before).T) <= params.cycle_speed[1] * step + EPS)
        moving = np.flatnonzero(np.isin(model.phase, [1, 3]))
        moving_seen += moving.size
        # On the way, a resident is on a street or on the short path to a door.
        off_x = np.abs(now[moving, 0] - np.round(now[moving, 0] / params.block) * params.block)
        off_y = np.abs(now[moving, 1] - np.round(now[moving, 1] / params.block) * params.block)
        assert np.all(np.minimum(off_x, off_y) <= params.setback + EPS)
        before = now
    assert moving_seen > 1000


def test_residents_at_home_are_at_their_home_and_indoors() -> None:
    model = neighbourhood(residents=200)
    pos = model.positions(5 * 3600.0)
    home = model.layout.homes.pos[model.layout.resident_home]
    phase = model.phase
    at_home = phase == 0
    assert at_home.any() and (~at_home).any()
    assert np.array_equal(pos[at_home], home[at_home])
    indoors = model.indoors()
    assert np.all(indoors[at_home])
    assert not np.any(indoors[np.isin(phase, [1, 3])])


def test_outings_start_at_the_hourly_rate_while_at_home() -> None:
    trips, step = 3.0, 10.0
    params = NeighbourhoodParams(trips_per_day=trips)
    weights = np.asarray(params.hourly) / np.sum(params.hourly)
    model = neighbourhood(residents=500, trips_per_day=trips, start_hour=0.0)
    outings, expected = 0, 0.0
    previous = model.phase
    for t in np.arange(step, 2 * 86_400.0, step):
        hour = int((t - step) // 3600) % 24
        expected += np.sum(previous == 0) * trips * weights[hour] / 3600.0 * step
        model.positions(float(t))
        phase = model.phase
        outings += int(np.sum((previous == 0) & (phase != 0)))
        previous = phase
    assert abs(outings - expected) < 0.06 * expected
    assert outings < trips * 2 * 500  # time spent out does not count


def test_nights_are_quiet() -> None:
    model = neighbourhood(residents=1000, start_hour=0.0)
    night, day = [], []
    for t in np.arange(0.0, 2 * 86_400.0, 600.0):
        model.positions(float(t))
        hour = (t / 3600.0) % 24
        share = float(np.mean(model.phase != 0))
        if 2 <= hour < 5:
            night.append(share)
        elif 13 <= hour < 17:
            day.append(share)
    assert np.mean(day) > 5 * np.mean(night)
    assert np.mean(day) > 0.02


def test_no_trips_means_everyone_stays_home() -> None:
    model = neighbourhood(residents=50, trips_per_day=0.0)
    first = model.positions(0.0)
    assert np.array_equal(model.positions(3 * 86_400.0), first)


@pytest.mark.parametrize(("overrides", "key"), [
    ({"setback": 50.0}, "setback"),
    ({"weight_shop": 0.0, "weight_hub": 0.0, "weight_visit": 0.0, "weight_stroll": 0.0},
     "weight_shop"),
    ({"hourly": (1.0,) * 23}, "hourly"),
    ({"hourly": (0.0,) * 24}, "hourly"),
    ({"walk_speed": (2.0, 1.0)}, "walk_speed"),
    ({"density": 0.0}, "density"),
])
def test_invalid_neighbourhood_parameters(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(ScenarioError) as info:
        NeighbourhoodParams(**overrides)  # type: ignore[arg-type]
    assert info.value.key == key


def test_random_waypoint_needs_a_positive_minimum_speed() -> None:
    with pytest.raises(ScenarioError) as info:
        RandomWaypointParams(speed=(0.0, 1.0))
    assert info.value.key == "speed"


def _dwelling(model: Neighbourhood, hours: float = 12.0,
              step: float = 120.0) -> tuple[np.ndarray, np.ndarray]:
    """(resident, position) of everyone dwelling at an outing's destination, sampled."""
    who, where = [], []
    for k in range(1, int(hours * 3600 / step)):
        pos = model.positions(k * step)
        dwelling = np.flatnonzero(model.phase == 2)
        who.append(dwelling)
        where.append(pos[dwelling])
    return np.concatenate(who), np.concatenate(where)


def _blocks_from_home(model: Neighbourhood, who: np.ndarray, where: np.ndarray) -> np.ndarray:
    block = model.layout.block
    home = model.layout.homes.pos[model.layout.resident_home[who]]
    return np.max(np.abs(np.floor(where / block) - np.floor(home / block)), axis=1)


def test_local_outings_go_to_near_shops_and_hubs_and_nearby_blocks() -> None:
    """With `nearest` and `trip_radius` set, a shop or hub outing ends at one of the `nearest`
    to the home, and a visit or stroll within `trip_radius` of the home's block (a stroll's
    street point may lie on the far edge of its block: one block of slack)."""
    params = dict(trips_per_day=8.0, nearest=2, trip_radius=200.0, shops=12)
    model = neighbourhood(residents=4000, hubs=30, **params)
    assert model.layout.blocks >= 8
    who, where = _dwelling(model)
    assert who.size > 5000
    layout = model.layout
    home = layout.homes.pos[layout.resident_home[who]]
    far = _blocks_from_home(model, who, where) > 3
    for places in (layout.shops.pos, layout.hubs.pos):
        at = np.all(np.isclose(where[:, None, :], places[None, :, :]), axis=2)  # (m, places)
        rows, index = np.nonzero(at)
        assert rows.size > 100
        distance = np.linalg.norm(home[rows, None, :] - places[None, :, :], axis=2)
        rank = (distance < distance[np.arange(rows.size), index][:, None]).sum(axis=1)
        assert np.all(rank < 2)  # one of the two nearest
        far[rows] = False
    assert not far.any()


def test_without_locality_outings_cross_the_whole_area() -> None:
    model = neighbourhood(residents=4000, hubs=30, trips_per_day=8.0, shops=12)
    who, where = _dwelling(model)
    assert np.max(_blocks_from_home(model, who, where)) >= model.layout.blocks - 2
