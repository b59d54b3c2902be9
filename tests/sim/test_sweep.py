"""Sweeps: the grid × seeds, the same results in-process, in a process pool and on Dask."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sim.config import ScenarioError
from sim.overrides import Source, apply, read_source
from sim.stats import estimate
from sim.sweep import FIGURES, PLOTS, Axis, aggregate, execute, plan, write_sweep

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def short(minutes: int = 10) -> Source:
    """The small scenario, cut to a few minutes with an alert after one minute."""
    source = read_source("small")
    table = apply(source.table, "scenario.duration", f"{minutes}m")
    table = apply(table, "workload.alerts[0].at", "1m")
    return Source(source.name, table, source.base)


def test_the_plan_is_the_grid_times_consecutive_seeds() -> None:
    axes = [Axis("ble.range", (10, 30)), Axis("routing.policy", ("epidemic", "prophet")),
            Axis("routing.hop_limit", (4,))]
    tasks = plan(short(), axes, seeds=3)
    assert len(tasks) == 2 * 2 * 1 * 3
    assert [t.index for t in tasks] == list(range(12))
    assert [t.seed for t in tasks[:3]] == [7, 8, 9]
    points = {t.point for t in tasks}
    assert len(points) == 4
    first = tasks[0]
    assert first.table["ble"]["range"] == 10 and first.table["routing"]["hop_limit"] == 4
    assert first.table["scenario"]["seed"] == 7


def test_a_bad_value_anywhere_in_the_grid_fails_before_any_run() -> None:
    with pytest.raises(ScenarioError) as error:
        plan(short(), [Axis("ble.range", (10, 20, -5))], seeds=2)
    assert error.value.key == "ble.range"
    with pytest.raises(ScenarioError, match="set more than once"):
        plan(short(), [Axis("ble.range", (10,)), Axis("ble.range", (20,))], seeds=1)
    with pytest.raises(ScenarioError):
        plan(short(), [], seeds=0)


@pytest.fixture(scope="module")
def in_process() -> tuple[list[Axis], list[dict[str, Any]]]:
    axes = [Axis("routing.spray_copies", (1, 8))]
    return axes, execute(plan(short(), axes, seeds=2), workers=1)


def test_a_process_pool_gives_the_same_runs_as_this_process(
        in_process: tuple[list[Axis], list[dict[str, Any]]]) -> None:
    axes, local = in_process
    pooled = execute(plan(short(), axes, seeds=2), workers=2)
    assert [r["figures"] for r in pooled] == [r["figures"] for r in local]
    assert [r["summary"] for r in pooled] == [r["summary"] for r in local]
    assert {r["worker"] for r in local} == {f"{socket.gethostname()}:{os.getpid()}"}
    assert f"{socket.gethostname()}:{os.getpid()}" not in {r["worker"] for r in pooled}


def test_aggregate_is_the_estimate_over_seeds(
        in_process: tuple[list[Axis], list[dict[str, Any]]]) -> None:
    axes, rows = in_process
    points = aggregate(axes, rows)
    assert [p["point"] for p in points] == [{"routing.spray_copies": 1},
                                            {"routing.spray_copies": 8}]
    for p in points:
        runs = [r for r in rows if r["point"] == p["point"]]
        assert p["runs"] == 2 and p["seeds"] == [7, 8]
        for name in FIGURES:
            e = estimate([r["figures"][name] for r in runs])
            assert p["figures"][name]["mean"] == e.mean
            assert p["figures"][name]["ci95"] == e.ci95
            assert p["figures"][name]["n"] == e.n
    # The figures are real: the alert spreads a little, and a run's bytes are accounted.
    assert all(r["figures"]["bytes_per_delivery"] for r in rows)
    assert all(r["figures"]["alert_oracle_30min"] is None or
               r["figures"]["alert_coverage_30min"] <= r["figures"]["alert_oracle_30min"]
               for r in rows)


def test_sweep_files_and_plots(in_process: tuple[list[Axis], list[dict[str, Any]]],
                               tmp_path: Path) -> None:
    axes, rows = in_process
    points = aggregate(axes, rows)
    written = write_sweep(tmp_path, axes, rows, points, command="meshnode sim sweep small",
                          source="small", timing={"wall_seconds": 1.0}, plots=True)
    names = {p.name for p in written}
    assert {"sweep.csv", "runs.csv", "sweep.json"} <= names
    assert {f"sweep-{name}.png" for name in PLOTS} <= names
    for path in tmp_path.glob("*.png"):
        assert path.read_bytes().startswith(PNG_MAGIC)
    with (tmp_path / "sweep.csv").open(encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    assert [int(r["routing.spray_copies"]) for r in table] == [1, 8]
    assert float(table[1]["dm_delivery_ratio_mean"]) == pytest.approx(
        points[1]["figures"]["dm_delivery_ratio"]["mean"])
    with (tmp_path / "runs.csv").open(encoding="utf-8", newline="") as f:
        assert len(list(csv.DictReader(f))) == 4
    doc = json.loads((tmp_path / "sweep.json").read_text(encoding="utf-8"))
    assert doc["axes"] == [{"key": "routing.spray_copies", "values": [1, 8]}]
    assert doc["points"] == json.loads(json.dumps(points))
    assert doc["timing"]["machine"]


def test_dask_cluster_runs_the_same_sweep_from_the_command_line(tmp_path: Path) -> None:
    from distributed import LocalCluster

    settings = ["--set", "scenario.duration=10m", "--set", "workload.alerts[0].at=1m",
                "--set", "ble.range=15,30"]
    expected = execute(plan(short(), [Axis("scenario.duration", ("10m",)),
                                      Axis("workload.alerts[0].at", ("1m",)),
                                      Axis("ble.range", (15, 30))], seeds=1), workers=1)
    # Threads in this process, reachable over TCP: the CLI in a subprocess submits to it.
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                      dashboard_address=None) as cluster:  # type: ignore[no-untyped-call]
        result = subprocess.run(
            [sys.executable, "-m", "cli.main", "sim", "sweep", "small", *settings,
             "--seeds", "1", "--dask", cluster.scheduler_address, "--out", str(tmp_path),
             "--json", "--quiet"],
            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    doc = json.loads((tmp_path / "sweep.json").read_text(encoding="utf-8"))
    assert doc["timing"]["executor"].startswith("dask tcp://")
    # Both runs executed on the cluster's worker, i.e. in this test process.
    assert {r["worker"] for r in doc["runs"]} == {f"{socket.gethostname()}:{os.getpid()}"}
    assert [r["figures"] for r in doc["runs"]] == json.loads(
        json.dumps([r["figures"] for r in expected]))
    printed = json.loads(result.stdout)
    assert [p["point"]["ble.range"] for p in printed["points"]] == [15, 30]


def test_an_unreachable_dask_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "sim", "sweep", "small", "--set",
         "scenario.duration=10m", "--seeds", "1", "--dask", "tcp://127.0.0.1:9",
         "--dask-timeout", "1", "--out", str(tmp_path / "out"), "--quiet"],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_every_figure_names_a_key_the_summary_has(
        in_process: tuple[list[Axis], list[dict[str, Any]]]) -> None:
    # A misspelt path would read as "no value" in every run; each must lead to a real key.
    _axes, rows = in_process
    summary = rows[0]["summary"]
    for name, (path, _unit) in FIGURES.items():
        node: Any = summary
        for step in path:
            assert (step < len(node)) if isinstance(step, int) else (step in node), (name, step)
            node = node[step]
