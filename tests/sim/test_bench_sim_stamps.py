"""bench/bench_sim_stamps.py's `--set` settings: applied to every condition, and never to a key
the script sets itself (a figure must not silently mix conditions)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

from sim.config import ScenarioError

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))  # the scripts import their `common` helper
    return importlib.import_module("bench_sim_stamps")


def test_extra_settings_reach_every_condition_beside_its_own(bench: ModuleType) -> None:
    extra = bench.extra_settings(["routing.store_bytes=262144", "ble.throughput=5000"])
    for name, own in bench.CONDITIONS.items():
        scenario = bench.load((*extra, *own))
        assert scenario.routing.store_bytes == 262144, name
        assert scenario.ble.throughput == 5000, name
        assert scenario.routing.stamps == ("routing.stamps=true" in own), name
        assert scenario.workload.attacker.count == (0 if name.startswith("none") else 1)


@pytest.mark.parametrize("text", ["routing.stamps=true", "workload.attacker.count=2",
                                  "scenario.seed=3", "workload.attacker.rate=10"])
def test_a_key_the_script_sets_is_refused(bench: ModuleType, text: str) -> None:
    with pytest.raises(ScenarioError, match="set by the script"):
        bench.extra_settings([text])


def test_a_malformed_setting_is_refused(bench: ModuleType) -> None:
    with pytest.raises(ScenarioError, match="KEY=VALUE"):
        bench.extra_settings(["routing.store_bytes"])
