"""Result files of a run: deterministic JSON and CSV, timing kept apart, valid PNG plots."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim import linkmodel, metrics
from sim.driver import Outcome, Simulation
from sim.metrics import link_setup, realistic_contacts, run_bounds, summarise
from sim.oracle import earliest_arrival
from sim.output import (
    PLOT_FILES,
    TIMING_KEYS,
    PlotsUnavailable,
    clean,
    default_dir,
    write_plots,
    write_run,
)
from sim.scenario import AlertSpec, Scenario, bundled

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def scenario(**output: Any) -> Scenario:
    """30 minutes of the small scenario with an alert that reaches most residents."""
    base = bundled("small")
    return dataclasses.replace(
        base, scenario=dataclasses.replace(base.scenario, duration=1_800.0),
        ble=dataclasses.replace(base.ble, range=40.0),
        workload=dataclasses.replace(base.workload, alerts=(AlertSpec(at=60.0, hub=3),)),
        output=dataclasses.replace(base.output, **output))


@pytest.fixture(scope="module")
def run() -> tuple[Outcome, dict[str, Any]]:
    outcome = Simulation(scenario(contacts=True)).run()
    return outcome, summarise(outcome, 1.25)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_results_json_holds_figures_parameters_and_command_but_no_timing(
        run: tuple[Outcome, dict[str, Any]], tmp_path: Path) -> None:
    outcome, summary = run
    write_run(tmp_path, outcome, summary, command="meshnode sim run small", source="small")
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert results["alerts"] == clean(summary["alerts"])
    assert results["dms"] == clean(summary["dms"])
    assert results["run"]["events"] == outcome.events
    assert not set(TIMING_KEYS) & set(results["run"])
    assert "machine" not in json.dumps(results)
    assert results["parameters"] == clean(dataclasses.asdict(outcome.scenario))
    assert results["command"] == "meshnode sim run small"
    assert results["source"] == "small"
    assert results["meshnode_version"]
    timing = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert timing["wall_seconds"] == 1.25
    assert timing["events_per_second"] == outcome.events / 1.25
    assert timing["machine"].count("cores") == 1


def test_coverage_csv_follows_the_run_and_never_beats_the_oracle(
        run: tuple[Outcome, dict[str, Any]], tmp_path: Path) -> None:
    outcome, summary = run
    write_run(tmp_path, outcome, summary, command="c", source="small")
    table = rows(tmp_path / "coverage.csv")
    times = [float(r["t_s"]) for r in table]
    assert times[0] == 0.0 and times[-1] == outcome.scenario.scenario.duration
    assert np.allclose(np.diff(times), outcome.scenario.output.sample)
    measured = np.array([float(r["alert0"]) for r in table])
    oracle = np.array([float(r["alert0_oracle"]) for r in table])
    assert np.all(np.diff(measured) >= 0) and np.all(np.diff(oracle) >= 0)
    assert np.all(measured <= oracle + 1e-12)
    alert = summary["alerts"][0]
    assert measured[-1] == pytest.approx(alert["final_coverage"])
    assert oracle[-1] == pytest.approx(alert["final_oracle"])
    assert measured[-1] > 0.3  # the scenario is chosen so that the alert spreads
    assert all(float(r["t_min"]) == float(r["t_s"]) / 60 for r in table)


def test_messages_csv_has_one_row_per_dm(run: tuple[Outcome, dict[str, Any]],
                                         tmp_path: Path) -> None:
    outcome, summary = run
    write_run(tmp_path, outcome, summary, command="c", source="small")
    table = rows(tmp_path / "messages.csv")
    assert len(table) == summary["dms"]["created"] == len(outcome.dm_created)
    delivered = [r for r in table if r["delivered"]]
    assert len(delivered) == summary["dms"]["delivered"]
    for r in table:
        created, origin, target = outcome.dm_created[bytes.fromhex(r["id"])]
        assert (float(r["created"]), int(r["origin"]), int(r["target"])) == (
            created, origin, target)
        if r["delivered"]:
            assert float(r["latency"]) == pytest.approx(
                float(r["delivered"]) - float(r["created"]))
            assert float(r["latency"]) > 0
        else:
            assert r["latency"] == ""
    assert [float(r["created"]) for r in table] == sorted(float(r["created"]) for r in table)


def test_samples_and_contacts_csv(run: tuple[Outcome, dict[str, Any]], tmp_path: Path) -> None:
    outcome, summary = run
    write_run(tmp_path, outcome, summary, command="c", source="small")
    samples = rows(tmp_path / "samples.csv")
    assert len(samples) == len(outcome.samples)
    assert [float(s["t"]) for s in samples] == [s.t for s in outcome.samples]
    assert [int(s["links"]) for s in samples] == [s.links for s in outcome.samples]
    before = [s for s in samples if float(s["t"]) < outcome.alert_created[0]]
    assert before and all(s["alert0_coverage"] == "" for s in before)
    assert float(samples[-1]["alert0_coverage"]) == outcome.samples[-1].alert_coverage[0]
    contacts = rows(tmp_path / "contacts.csv")
    assert outcome.contacts is not None
    assert len(contacts) == len(outcome.contacts) == summary["links"]["contacts"]
    assert all(int(c["a"]) < int(c["b"]) and float(c["up"]) <= float(c["down"])
               for c in contacts)


def test_contacts_and_plots_only_when_asked(run: tuple[Outcome, dict[str, Any]],
                                            tmp_path: Path) -> None:
    outcome, summary = run
    write_run(tmp_path, outcome, summary, command="c", source="s", plots=True)
    assert (tmp_path / "contacts.csv").exists() and (tmp_path / PLOT_FILES[0]).exists()
    plain = dataclasses.replace(outcome, scenario=scenario(contacts=False))
    names = {p.name for p in write_run(tmp_path, plain, summary, command="c", source="s")}
    assert names == {"results.json", "run.json", "coverage.csv", "samples.csv",
                     "messages.csv"}
    # The earlier run's optional files are gone, and no temporary files are left.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


def test_same_scenario_and_seed_give_byte_identical_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for where, wall in ((first, 1.0), (second, 2.0)):
        outcome = Simulation(scenario()).run()
        write_run(where, outcome, summarise(outcome, wall), command="c", source="small")
    for name in ("results.json", "coverage.csv", "samples.csv", "messages.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "run.json").read_bytes() != (second / "run.json").read_bytes()


def test_plots_are_valid_pngs(run: tuple[Outcome, dict[str, Any]], tmp_path: Path) -> None:
    from matplotlib.image import imread

    outcome, summary = run
    written = write_plots(tmp_path, outcome, summary)
    assert [p.name for p in written] == list(PLOT_FILES)
    for path in written:
        assert path.read_bytes().startswith(PNG_MAGIC)
        image = imread(path)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
        assert image.std() > 0  # something was drawn


def test_missing_matplotlib_names_the_install_and_writes_nothing(
        run: tuple[Outcome, dict[str, Any]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    outcome, summary = run
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(PlotsUnavailable, match=r"pip install -e '\.\[plots\]'"):
        write_run(tmp_path / "out", outcome, summary, command="c", source="s", plots=True)
    assert not (tmp_path / "out").exists()


def test_default_directory_names_scenario_and_seed() -> None:
    assert default_dir(bundled("small")) == Path("results") / "small-seed7"


json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                        st.floats(allow_nan=True, allow_infinity=True))


@given(st.recursive(json_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=4), inner, max_size=4)), max_leaves=20))
def test_clean_always_gives_strict_json(value: object) -> None:
    cleaned = clean(value)
    text = json.dumps(cleaned, allow_nan=False)
    assert json.loads(text) == cleaned
    if isinstance(value, float):
        assert cleaned == (value if math.isfinite(value) else None)


def test_bounds_computed_once_give_the_same_figures_and_files_as_computed_each_time(
        run: tuple[Outcome, dict[str, Any]], tmp_path: Path) -> None:
    outcome, summary = run  # summarised without shared bounds: each figure built its own
    bounds = run_bounds(outcome)
    assert any(int(np.isfinite(a).sum()) > 1 for a in bounds.alerts)  # the alert spread
    # Each shared search is the oracle's own search over the graph it names.
    assert outcome.contacts is not None
    contacts = (outcome.contacts.until_death(outcome.died_at) if outcome.died_at.size
                else outcome.contacts)
    transfer = linkmodel.transfer_time(outcome.alert_bytes, outcome.scenario.ble)
    for k in range(len(outcome.alert_arrival)):
        search = (outcome.alert_origin[k], outcome.alert_created[k], transfer,
                  outcome.alert_expires[k])
        assert np.array_equal(bounds.alerts[k], earliest_arrival(
            contacts, *search, setup=link_setup(outcome)))
        assert np.array_equal(bounds.alerts_realistic[k], earliest_arrival(
            realistic_contacts(outcome), *search))
    shared = summarise(outcome, 1.25, bounds=bounds)
    assert json.dumps(clean(shared), sort_keys=True) == json.dumps(clean(summary),
                                                                   sort_keys=True)
    write_run(tmp_path / "alone", outcome, summary, command="c", source="small")
    write_run(tmp_path / "shared", outcome, shared, command="c", source="small", bounds=bounds)
    for name in ("results.json", "coverage.csv"):
        assert (tmp_path / "shared" / name).read_bytes() == (tmp_path / "alone" / name
                                                             ).read_bytes()


def test_a_summarised_and_written_run_builds_each_contact_graph_once(
        run: tuple[Outcome, dict[str, Any]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What `meshnode sim run` does: the oracle's and the realistic bound's graphs (and with
    them the alert searches) are built once, not once for the summary and again for the
    coverage table."""
    outcome, _ = run
    built: list[int] = []
    graph = metrics.Adjacency

    def counted(contacts: Any) -> Any:
        built.append(len(contacts))
        return graph(contacts)

    monkeypatch.setattr(metrics, "Adjacency", counted)
    bounds = run_bounds(outcome)
    summary = summarise(outcome, 1.0, bounds=bounds)
    write_run(tmp_path, outcome, summary, command="c", source="small", bounds=bounds)
    assert len(built) == 2
