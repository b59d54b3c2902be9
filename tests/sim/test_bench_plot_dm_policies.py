"""bench/plot_dm_policies.py on real runs: runs given under one label form one group, and each
policy is compared with the first seed by seed."""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from sim.bench import scaled
from sim.driver import Simulation
from sim.metrics import summarise
from sim.scenario import RoutingSpec, bundled

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def plot(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))  # the script imports plot_alert_levers
    return importlib.import_module("plot_dm_policies")


def _run(tmp_path: Path, policy: str, seed: int) -> tuple[Path, dict[str, Any]]:
    base = scaled(bundled("small"), 100, 1800.0)
    scenario = dataclasses.replace(
        base, scenario=dataclasses.replace(base.scenario, seed=seed),
        routing=RoutingSpec(policy=policy))
    summary = json.loads(json.dumps(summarise(Simulation(scenario).run(), 1.0)))
    path = tmp_path / f"{policy}-{seed}.json"
    path.write_text(json.dumps(summary))
    return path, summary


def test_runs_under_one_label_form_a_group_compared_seed_by_seed(plot: ModuleType,
                                                                 tmp_path: Path) -> None:
    runs = {(policy, seed): _run(tmp_path, policy, seed)
            for policy in ("spray-and-wait", "epidemic") for seed in (7, 8)}
    groups = plot.load_runs([f"{policy}={path}" for (policy, _), (path, _) in runs.items()])
    assert list(groups) == ["spray-and-wait", "epidemic"]
    assert [s["seed"] for s in groups["epidemic"]] == [7, 8]

    rows = plot.table(groups).splitlines()[2:]
    assert [row.split(" | ")[:2] for row in rows] == [["| spray-and-wait", "2"],
                                                      ["| epidemic", "2"]]
    ratio = {key: summary["dms"]["ratio_to_oracle"] for key, (_, summary) in runs.items()}
    seeds = [s for s in (7, 8) if ratio["epidemic", s] is not None]
    assert seeds, "the oracle delivers some DM within half an hour"
    diffs = ", ".join(f"{ratio['epidemic', s] - ratio['spray-and-wait', s]:+.3f}"
                      for s in seeds)
    assert f"(seeds {seeds}: {diffs})" in plot.paired(groups)
