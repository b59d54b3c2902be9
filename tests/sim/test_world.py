from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from sim.rng import Streams
from sim.scenario import ScenarioError, bundled, parse_scenario
from sim.world import Kind, build_world


def test_neighbourhood_world_has_hubs_first() -> None:
    scenario = bundled("small")
    world = build_world(scenario, Streams(scenario.scenario.seed))
    hubs, residents = scenario.population.hubs, scenario.population.residents
    assert world.size == hubs + residents
    assert world.hubs.tolist() == list(range(hubs))
    assert world.residents.tolist() == list(range(hubs, hubs + residents))
    assert world.mobility is not None and world.trace is None and world.layout is not None
    positions = world.mobility.positions(0.0)
    assert positions.shape == (world.size, 2)
    assert np.array_equal(positions[:hubs], world.layout.hubs.pos)
    assert world.kinds[0] == Kind.HUB


def test_random_waypoint_world_keeps_hubs_in_the_area() -> None:
    scenario = parse_scenario("""
        [mobility]
        model = "random-waypoint"
        [population]
        residents = 30
        hubs = 4
        [random_waypoint]
        width = 200.0
        height = 100.0
    """)
    world = build_world(scenario, Streams(1))
    assert world.mobility is not None
    positions = world.mobility.positions(0.0)
    assert np.all((positions[:, 0] <= 200.0) & (positions[:, 1] <= 100.0))
    assert np.array_equal(world.mobility.positions(500.0)[:4], positions[:4])


def test_workload_settings_never_move_anyone() -> None:
    base = bundled("small")
    busier = dataclasses.replace(base, workload=dataclasses.replace(
        base.workload, posts_per_hour=50.0, dms_per_day=100.0))
    a = build_world(base, Streams(9))
    b = build_world(busier, Streams(9))
    assert a.mobility is not None and b.mobility is not None
    for t in np.arange(0.0, 3600.0, 120.0):
        assert np.array_equal(a.mobility.positions(float(t)), b.mobility.positions(float(t)))


def test_trace_world_puts_named_hubs_first() -> None:
    scenario = bundled("trace-replay")
    world = build_world(scenario, Streams(1))
    assert world.trace is not None and world.mobility is None
    assert world.trace.ids[:2] == ("0", "1")
    assert world.size == world.trace.size == 50
    assert np.all(world.trace.a < world.trace.b)


def test_trace_world_renumbers_consistently(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("0,a,b,up\n1,b,c,up\n2,a,b,down\n")
    scenario = parse_scenario(f"""
        [population]
        residents = 2
        hubs = 1
        [mobility]
        model = "trace"
        [trace]
        file = "{trace.name}"
        hub_ids = ["c"]
        [[workload.alerts]]
        at = 1
    """, tmp_path)
    world = build_world(scenario, Streams(1))
    assert world.trace is not None
    ids = world.trace.ids
    assert ids[0] == "c"
    links = [(ids[a], ids[b], up) for a, b, up in zip(world.trace.a.tolist(),
                                                        world.trace.b.tolist(),
                                                        world.trace.up.tolist(), strict=True)]
    assert [(*sorted(link[:2]), link[2]) for link in links] == [
        ("a", "b", True), ("b", "c", True), ("a", "b", False)]


def trace_scenario(population: str, hub_ids: str = "") -> str:
    return f"""
        [mobility]
        model = "trace"
        [trace]
        file = "example-trace.one"
        {hub_ids}
        [population]
        {population}
        [[workload.alerts]]
        at = 1
    """


@pytest.mark.parametrize(("text", "key"), [
    (trace_scenario("residents = 10\nhubs = 2"), "population.residents"),
    (trace_scenario("residents = 48\nhubs = 2", "hub_ids = ['0', 'x']"), "trace.hub_ids"),
])
def test_trace_world_checks_the_population(text: str, key: str) -> None:
    base = Path(bundled("trace-replay").trace.file).parent
    with pytest.raises(ScenarioError) as info:
        build_world(parse_scenario(text, base), Streams(1))
    assert info.value.key == key


def test_missing_or_broken_trace_file(tmp_path: Path) -> None:
    text = "[mobility]\nmodel = 'trace'\n[trace]\nfile = 't.one'\n[population]\nresidents = 1\n"
    scenario = parse_scenario(text + "hubs = 1\n", tmp_path)
    with pytest.raises(ScenarioError) as info:
        build_world(scenario, Streams(1))
    assert info.value.key == "trace.file"
    (tmp_path / "t.one").write_text("0 CONN a a up\n")
    with pytest.raises(ScenarioError) as info:
        build_world(scenario, Streams(1))
    assert info.value.key == "trace.file" and "line 1" in info.value.reason
