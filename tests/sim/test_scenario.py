from __future__ import annotations

from pathlib import Path

import pytest

from meshnode.routing.policy import PolicyName
from sim.linkmodel import LinkParams
from sim.scenario import (
    Scenario,
    ScenarioError,
    bundled,
    bundled_names,
    load_scenario,
    parameter_table,
    parse_scenario,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "simulator.md"


def test_all_bundled_scenarios_load() -> None:
    assert set(bundled_names()) >= {"neighbourhood", "random-waypoint", "trace-replay", "small"}
    for name in bundled_names():
        scenario = bundled(name)
        assert scenario.scenario.name == name


def test_default_neighbourhood_is_a_dutch_gsm_outage() -> None:
    scenario = bundled("neighbourhood")
    assert 2000 <= scenario.population.residents <= 3000
    assert scenario.population.hubs == 20
    assert 3000 <= scenario.neighbourhood.density <= 6000
    assert 10 <= scenario.ble.range <= 30
    assert scenario.scenario.duration == 24 * 3600
    assert scenario.mobility.model == "neighbourhood"


def test_small_scenario_is_small() -> None:
    scenario = bundled("small")
    assert scenario.population.residents + scenario.population.hubs <= 120
    assert scenario.scenario.duration <= 2 * 3600


def test_trace_replay_points_at_the_bundled_trace() -> None:
    scenario = bundled("trace-replay")
    assert scenario.mobility.model == "trace"
    assert Path(scenario.trace.file).is_file()
    assert Path(scenario.trace.file).name == "example-trace.one"


def test_unknown_bundled_name() -> None:
    with pytest.raises(ScenarioError):
        bundled("nope")


def test_empty_file_gives_the_defaults() -> None:
    assert parse_scenario("") == Scenario()


def test_values_and_durations_are_read() -> None:
    scenario = parse_scenario("""
        [scenario]
        name = "x"
        duration = "2h"
        step = 10
        [ble]
        range = 15.0
        scan_window = "100ms"
        [[workload.alerts]]
        at = "30m"
        hub = 3
        [[workload.alerts]]
        at = 60
        [workload.attacker]
        count = 2
    """)
    assert scenario.scenario.duration == 7200.0 and scenario.scenario.step == 10.0
    assert scenario.ble == LinkParams(range=15.0, scan_window=0.1)
    assert [(a.at, a.hub) for a in scenario.workload.alerts] == [(1800.0, 3), (60.0, 0)]
    assert scenario.workload.attacker.count == 2


@pytest.mark.parametrize(("text", "key"), [
    ("[scenario]\nnmae = 'x'", "scenario.nmae"),
    ("[bogus]\nx = 1", "bogus"),
    ("[ble]\nrange = -1", "ble.range"),
    ("[ble]\nrange = 'far'", "ble.range"),
    ("[ble]\nscan_window = 20", "ble.scan_window"),
    ("[population]\nresidents = -5", "population.residents"),
    ("[population]\nhubs = 2.5", "population.hubs"),
    ("[mobility]\nmodel = 'teleport'", "mobility.model"),
    ("[routing]\npolicy = 'flood-everything'", "routing.policy"),
    ("[routing]\nspray_copies = 0", "routing.spray_copies"),
    ("[scenario]\nstep = '2d'\nduration = '1d'", "scenario.step"),
    ("[scenario]\nduration = 'forever'", "scenario.duration"),
    ("[scenario]\nseed = -1", "scenario.seed"),
    ("[[workload.alerts]]\nhub = 20", "workload.alerts[0].hub"),
    ("[[workload.alerts]]\nat = 10\n[[workload.alerts]]\nat = '2d'",
     "workload.alerts[1].at"),
    ("[[workload.alerts]]\nsize = 99999", "workload.alerts[0].size"),
    ("[[workload.alerts]]\ncolour = 'red'", "workload.alerts[0].colour"),
    ("[workload.attacker]\ncount = 3000", "workload.attacker.count"),
    ("[mobility]\nmodel = 'trace'", "trace.file"),
    ("[trace]\nhub_ids = ['a']", "trace.hub_ids"),
    ("[neighbourhood]\nhourly = [1, 2]", "neighbourhood.hourly"),
    ("[battery]\ninitial = [1.0, 0.5]", "battery.initial"),
    ("scenario = 5", "scenario"),
])
def test_invalid_scenarios_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text)
    assert info.value.key == key


def test_broken_toml_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario("[scenario\nname = 1")
    assert "TOML" in str(info.value)


def test_trace_file_is_relative_to_the_scenario_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "s.toml"
    path.write_text("[mobility]\nmodel = 'trace'\n[trace]\nfile = 'data/t.one'\n")
    scenario = load_scenario(path)
    assert Path(scenario.trace.file) == (tmp_path / "sub" / "data" / "t.one").resolve()


def test_non_utf8_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_bytes(b"[scenario]\nname = '\xff'\n")
    with pytest.raises(ScenarioError):
        load_scenario(path)


def test_routing_policies_are_the_protocol_policies() -> None:
    for policy in PolicyName:
        assert parse_scenario(f"[routing]\npolicy = '{policy.value}'").routing.policy == (
            policy.value)


def test_docs_carry_the_current_parameter_table() -> None:
    # Regenerate with: python -c "from sim.scenario import parameter_table as t; print(t())"
    assert parameter_table() in DOCS.read_text(encoding="utf-8")
