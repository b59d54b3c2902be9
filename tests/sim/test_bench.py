"""The simulator benchmark: scaling a scenario, one process per size, the profile."""

from __future__ import annotations

import dataclasses
import os

import pytest

from sim.bench import markdown, report_json, run_bench, scaled
from sim.config import ScenarioError
from sim.output import machine
from sim.scenario import bundled


def test_scaling_keeps_the_hub_and_shop_share_and_valid_alerts() -> None:
    default = bundled("neighbourhood")  # 2,500 residents, 20 hubs, alerts at 10 min and 6 h
    big = scaled(default, 10_000, None)
    assert (big.population.hubs, big.population.residents) == (79, 9_921)
    assert big.workload.alerts == default.workload.alerts
    short = scaled(default, 1_000, 3_600.0)
    assert short.population.hubs + short.population.residents == 1_000
    assert short.scenario.duration == 3_600.0
    assert [a.at for a in short.workload.alerts] == [600.0]  # the 6 h alert is dropped
    tiny = scaled(default, 300, None)
    assert tiny.population.hubs == 2
    assert all(a.hub < 2 for a in tiny.workload.alerts)
    # Same density (the area shrinks), shops in proportion: 6 per 2,500 residents.
    assert tiny.neighbourhood == dataclasses.replace(default.neighbourhood, shops=1)
    assert big.neighbourhood == dataclasses.replace(default.neighbourhood, shops=24)


def test_trace_scenarios_and_too_few_nodes_are_refused() -> None:
    with pytest.raises(ScenarioError, match="trace"):
        scaled(bundled("trace-replay"), 100, None)
    with pytest.raises(ScenarioError, match="too few"):
        scaled(bundled("small"), 1, None)


def test_each_size_runs_in_its_own_process_with_a_profile() -> None:
    seen: dict[str, float] = {}

    def progress(label: str, t: float, end: float, events: int) -> None:
        assert 0 <= t <= end == 120.0 and events >= 0
        seen[label] = t

    report = run_bench("small", sizes=(40, 80), duration=120.0, command="meshnode sim bench",
                       on_progress=progress)
    assert [r.nodes for r in report.sizes] == [40, 80]
    assert seen == {"40 nodes": 120.0, "80 nodes": 120.0, "40 nodes, profiled": 120.0}
    for r in report.sizes:
        assert r.duration == 120.0 and r.events > 0 and r.run_seconds > 0
        assert r.sim_per_wall == pytest.approx(120.0 / r.run_seconds)
        assert r.events_per_second == pytest.approx(r.events / r.run_seconds)
        # A child process's peak: more than an interpreter with numpy, less than 2 GiB.
        assert 20 * 2**20 < r.peak_rss_bytes < 2 * 2**30
        assert not r.profiled and not r.profile
    assert report.sizes[1].events > report.sizes[0].events
    profile = report.profile
    assert profile is not None and profile.profiled and profile.nodes == 40
    assert 0 < len(profile.profile) <= 15
    owns = [row[0] for row in profile.profile]
    assert owns == sorted(owns, reverse=True)
    assert sum(owns) <= profile.profile_total + 1e-9
    assert any("driver.py" in row[3] for row in profile.profile)
    text = markdown(report)
    assert "Command: `meshnode sim bench`" in text and machine() in text
    assert text.count("\n| 40 |") == 1 and text.count("\n| 80 |") == 1
    assert "top" in text and "cProfile" in text
    assert report_json(report)["sizes"][0]["nodes"] == 40
    assert str(os.getpid()) not in text


def test_an_impossible_size_fails_before_anything_runs() -> None:
    started: list[str] = []
    with pytest.raises(ScenarioError, match="too few"):
        run_bench("small", sizes=(40, 1), duration=60.0,
                  on_progress=lambda label, *_: started.append(label))
    assert started == []
