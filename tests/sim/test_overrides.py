"""Scenario sources and `--set` overrides: TOML values, dotted keys, errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.config import ScenarioError
from sim.overrides import (
    apply,
    parse_assignment,
    parse_value,
    read_source,
    scenario_from_table,
    split_values,
)
from sim.scenario import bundled, load_scenario


def test_values_are_toml_and_bare_words_are_strings() -> None:
    assert parse_value("4") == 4
    assert parse_value("2.5") == 2.5
    assert parse_value("true") is True
    assert parse_value("[1, 2]") == [1, 2]
    assert parse_value('"x,y"') == "x,y"
    assert parse_value("30m") == "30m"
    assert parse_value("spray-and-wait") == "spray-and-wait"


def test_lists_split_outside_brackets_and_quotes() -> None:
    assert split_values("4,8,16") == ["4", "8", "16"]
    assert split_values('[1, 2],[3, 4], "a,b"') == ["[1, 2]", "[3, 4]", '"a,b"']


@given(st.lists(st.integers(min_value=-10**6, max_value=10**6), min_size=1, max_size=8))
def test_split_and_parse_round_trip_integers(values: list[int]) -> None:
    key, parsed = parse_assignment("ble.att_mtu=" + ",".join(map(str, values)), many=True)
    assert key == "ble.att_mtu"
    assert parsed == values


def test_an_override_equals_the_same_value_in_the_file(tmp_path: Path) -> None:
    source = read_source("small")
    table = apply(source.table, "ble.range", 35)
    table = apply(table, "scenario.duration", "30m")
    table = apply(table, "workload.alerts[0].hub", 2)
    table = apply(table, "routing.policy", "epidemic")  # a section the file does not have
    changed = scenario_from_table(table, source.base)
    assert (changed.ble.range, changed.scenario.duration) == (35.0, 1_800.0)
    assert changed.workload.alerts[0].hub == 2
    assert changed.routing.policy == "epidemic"
    assert source.table["ble"]["range"] == 20.0  # the source is not modified
    assert scenario_from_table(source.table, source.base) == bundled("small")


def test_a_file_source_resolves_its_trace_relative_to_itself(tmp_path: Path) -> None:
    (tmp_path / "t.one").write_text("0 CONN 0 1 up\n10 CONN 0 1 down\n", encoding="utf-8")
    path = tmp_path / "s.toml"
    path.write_text('[mobility]\nmodel = "trace"\n[trace]\nfile = "t.one"\n'
                    "[population]\nhubs = 1\nresidents = 1\n", encoding="utf-8")
    source = read_source(str(path))
    scenario = scenario_from_table(source.table, source.base)
    assert scenario == load_scenario(path)
    assert Path(scenario.trace.file) == tmp_path / "t.one"


@pytest.mark.parametrize(("text", "key"), [
    ("ble.rnage=3", "ble.rnage"),
    ("ble.range=-1", "ble.range"),
    ("ble.range=far", "ble.range"),
    ("scenario.duration=soon", "scenario.duration"),
    ("workload.alerts[3].at=1", "workload.alerts[3]"),
    ("ble.range.x=1", "ble.range"),
    ("population.hubs=2.5", "population.hubs"),
])
def test_bad_overrides_name_the_key(text: str, key: str) -> None:
    source = read_source("small")
    name, (value,) = parse_assignment(text, many=False)
    with pytest.raises(ScenarioError) as error:
        scenario_from_table(apply(source.table, name, value), source.base)
    assert error.value.key == key


@pytest.mark.parametrize("text", ["ble.range", "=3", "ble.range=", "ble..range=3",
                                  "ble range=3", "a=1,,2"])
def test_malformed_assignments(text: str) -> None:
    with pytest.raises(ScenarioError):
        parse_assignment(text, many=True)


def test_unknown_sources(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="bundled"):
        read_source("no-such-scenario")
    with pytest.raises(ScenarioError, match="no scenario file"):
        read_source(str(tmp_path / "missing.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text("[scenario\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        read_source(str(broken))
