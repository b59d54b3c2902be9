"""`meshnode sim`: a small scenario end to end through the real command in a subprocess."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from cli.sim import bench_warning
from sim.scenario import bundled_names, parameter_table
from sim.sweep import PLOTS
from tests.cli.conftest import Run

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# 30 simulated minutes, the alert after one minute from a hub it can leave: a few seconds.
SHORT = ["--set", "scenario.duration=30m", "--set", "workload.alerts[0].at=1m",
         "--set", "workload.alerts[0].hub=3", "--set", "ble.range=40"]
DETERMINISTIC = ("results.json", "coverage.csv", "samples.csv", "messages.csv")


def test_run_writes_json_csv_and_plots(meshnode: Run, tmp_path: Path) -> None:
    from matplotlib.image import imread

    out = tmp_path / "out"
    result = meshnode("sim", "run", "small", *SHORT, "--out", str(out), "--plot", "--json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["scenario"] == "small" and results["seed"] == 7
    assert results["duration_s"] == 1_800.0
    assert results["parameters"]["ble"]["range"] == 40.0
    assert results["command"].startswith("meshnode sim run small --set scenario.duration=30m")
    assert printed["alerts"] == results["alerts"]
    assert printed["run"]["wall_seconds"] > 0
    timing = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert timing["wall_seconds"] == printed["run"]["wall_seconds"]
    with (out / "coverage.csv").open(encoding="utf-8", newline="") as f:
        coverage = list(csv.DictReader(f))
    assert float(coverage[-1]["alert0"]) == results["alerts"][0]["final_coverage"] > 0.3
    for name in ("coverage.png", "latency.png", "overhead.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        assert imread(out / name).shape[0] > 200
    assert sorted(printed["files"]) == sorted(str(p) for p in out.iterdir())


def test_same_command_gives_byte_identical_results(meshnode: Run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ("sim", "run", "small", *SHORT, "--out", str(out), "--no-plot", "--quiet")
    first = meshnode(*args)
    assert first.returncode == 0, first.stderr
    before = {name: (out / name).read_bytes() for name in (*DETERMINISTIC, "run.json")}
    second = meshnode(*args)
    assert second.returncode == 0, second.stderr
    for name in DETERMINISTIC:
        assert (out / name).read_bytes() == before[name], name
    assert not list(out.glob("*.png"))
    # Another seed is another run.
    other = meshnode("sim", "run", "small", *SHORT, "--seed", "8", "--out", str(out),
                     "--no-plot")
    assert other.returncode == 0, other.stderr
    assert (out / "messages.csv").read_bytes() != before["messages.csv"]
    assert "results in" in other.stdout and "DMs delivered" in other.stdout
    # The oracle's DM figure stands beside the delivery of the same sample, not of all DMs.
    assert "oracle's sample of" in other.stdout
    assert "pip install -e '.[plots]'" in other.stdout


def test_default_output_directory(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "sim", "run", "small", "--set",
         "scenario.duration=10m", "--no-plot", "--quiet"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "results" / "small-seed7" / "results.json").is_file()


def test_scenario_errors_name_the_key_and_write_nothing(meshnode: Run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    for args, expected in (
        (("--set", "ble.range=-1"), "scenario key ble.range: must be > 0"),
        (("--set", "ble.rnage=3"), "scenario key ble.rnage: unknown key"),
        (("--set", "scenario.duration=2m"), "workload.alerts[0].at"),
    ):
        result = meshnode("sim", "run", "small", *args, "--out", str(out))
        assert result.returncode == 2, args
        assert expected in result.stderr and "meshnode sim params" in result.stderr
        assert "Traceback" not in result.stderr
    missing = meshnode("sim", "run", "no-such-scenario", "--out", str(out))
    assert missing.returncode == 2 and "small" in missing.stderr
    assert not out.exists()


def test_plots_without_matplotlib_fail_before_running(meshnode: Run, tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    (fake / "matplotlib").mkdir(parents=True)
    (fake / "matplotlib" / "__init__.py").write_text("raise ImportError('not here')\n")
    out = tmp_path / "out"
    env = {"PYTHONPATH": os.pathsep.join((str(fake), str(ROOT)))}
    result = meshnode("sim", "run", "small", "--out", str(out), "--plot", env=env)
    assert result.returncode == 2
    assert "pip install -e '.[plots]'" in result.stderr
    assert not out.exists()
    # Without --plot the scenario's `output.plots = true` is skipped, not an error.
    quiet = meshnode("sim", "run", "small", "--set", "scenario.duration=10m", "--out", str(out),
                     env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert not list(out.glob("*.png")) and (out / "results.json").is_file()


def test_sweep_in_a_local_process_pool(meshnode: Run, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = meshnode("sim", "sweep", "small", "--set", "scenario.duration=10m",
                      "--set", "routing.spray_copies=1,8", "--seeds", "2", "--workers", "2",
                      "--out", str(out), "--plot", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert "mean ± 95 % CI" in result.stdout
    # 10-minute runs have no 30- or 60-minute coverage: n/a, and at 80 columns nothing is
    # cut off ("…"): cells wrap instead.
    assert "n/a" in result.stdout and "…" not in result.stdout
    with (out / "sweep.csv").open(encoding="utf-8", newline="") as f:
        points = list(csv.DictReader(f))
    assert [p["routing.spray_copies"] for p in points] == ["1", "8"]
    assert all(p["runs"] == "2" and p["dm_delivery_ratio_n"] == "2" for p in points)
    with (out / "runs.csv").open(encoding="utf-8", newline="") as f:
        assert [r["seed"] for r in csv.DictReader(f)] == ["7", "8", "7", "8"]
    assert sorted(p.name for p in out.glob("sweep-*.png")) == sorted(
        f"sweep-{name}.png" for name in PLOTS)
    # The DM oracle is plotted beside the delivery of its own sample of DMs.
    assert (out / "sweep-dm_delivered_in_sample.png").is_file()


def test_bench_at_reduced_scale(meshnode: Run, tmp_path: Path) -> None:
    report = tmp_path / "bench.md"
    result = meshnode("sim", "bench", "small", "--sizes", "30,60", "--duration", "1m",
                      "--no-profile", "--out", str(report))
    assert result.returncode == 0, result.stderr
    text = report.read_text(encoding="utf-8")
    assert text == result.stdout
    assert "Command: `meshnode sim bench small --sizes 30,60" in text
    assert "\n| 30 |" in text and "\n| 60 |" in text and "cProfile" not in text
    bad = meshnode("sim", "bench", "--sizes", "lots")
    assert bad.returncode == 2 and "--sizes" in bad.stderr


def test_list_and_params(meshnode: Run) -> None:
    listed = meshnode("sim", "list")
    assert listed.returncode == 0, listed.stderr
    for name in bundled_names():
        assert name in listed.stdout
    assert "96 residents" in listed.stdout  # the small scenario's description
    params = meshnode("sim", "params", "--markdown")
    assert params.returncode == 0
    assert params.stdout.strip() == parameter_table()
    table = meshnode("sim", "params")
    assert "ble.range" in table.stdout and "routing.spray_copies" in table.stdout


def test_a_long_benchmark_says_so_before_it_starts() -> None:
    assert bench_warning("small", [30, 60], 60.0) is None
    for sizes, duration in (([1_000, 5_000, 10_000], None), ([5_000], 600.0)):
        warning = bench_warning("neighbourhood", sizes, duration)
        assert warning is not None and "takes hours" in warning
        assert "--sizes 200,400 --duration 30m" in warning
