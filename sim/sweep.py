"""Parameter sweeps: a grid of scenario overrides × seeds, run in parallel, aggregated.

`plan` expands axes (dotted keys with values, from `--set key=v1,v2`) into one `Task` per
(point, seed); each task carries the merged TOML table, so a worker re-validates it exactly as
a file would be. Seeds are the point's `scenario.seed` + 0, 1, …, seeds − 1. `execute` runs
the tasks in a local process pool (spawned workers), in this process (`workers=1`), or on a
Dask cluster (`dask=ADDRESS`; every worker needs this package installed): the same
`run_task` function everywhere. `aggregate` gives, per point, the mean and 95 % Student-t
interval of each key figure over seeds (`sim.stats`); `write_sweep` writes `sweep.csv`,
`sweep.json`, `runs.csv` and, optionally, one PNG per figure against the first swept key.

Key figures are those of the first alert of the scenario; a figure that a run does not
reach (e.g. time to 90 % coverage) is left out of that point's mean, and its `n` says how
many runs reached it.
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
import itertools
import json
import multiprocessing
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.config import ScenarioError
from sim.driver import Simulation
from sim.metrics import summarise
from sim.output import clean, machine, new_figure, save_figure, version
from sim.overrides import Source, apply, scenario_from_table
from sim.stats import Estimate, estimate

__all__ = ["FIGURES", "PLOTS", "Axis", "ClusterUnavailable", "Task", "aggregate", "execute",
           "figures", "plan", "run_task", "write_sweep"]

# name -> (path into the summary, unit label). Alert figures are the first alert's.
FIGURES: dict[str, tuple[tuple[str | int, ...], str]] = {
    "alert_coverage_30min": (("alerts", 0, "coverage", "30min", "coverage"), "share"),
    "alert_oracle_30min": (("alerts", 0, "coverage", "30min", "oracle"), "share"),
    "alert_coverage_60min": (("alerts", 0, "coverage", "60min", "coverage"), "share"),
    "alert_oracle_60min": (("alerts", 0, "coverage", "60min", "oracle"), "share"),
    "alert_time_to_90_s": (("alerts", 0, "time_to_90"), "s"),
    "alert_oracle_time_to_90_s": (("alerts", 0, "oracle_time_to_90"), "s"),
    # The realistic bound (`sim.metrics.realistic_contacts`) and the battery cost of urgency.
    "alert_realistic_30min": (("alerts", 0, "coverage", "30min", "realistic"), "share"),
    "alert_ratio_30min": (("alerts", 0, "coverage", "30min", "ratio"), "ratio"),
    "alert_realistic_time_to_90_s": (("alerts", 0, "realistic_time_to_90"), "s"),
    "urgent_wh_per_phone": (("energy", "urgent_wh_mean"), "Wh"),
    "urgent_phones": (("energy", "urgent_phones"), "phones"),
    "dm_delivery_ratio": (("dms", "delivery_ratio"), "share"),
    "dm_delivered_in_sample": (("dms", "measured_in_sample"), "share"),
    "dm_oracle_delivery_ratio": (("dms", "oracle_delivery_ratio"), "share"),
    "dm_ratio_to_oracle": (("dms", "ratio_to_oracle"), "ratio"),
    "dm_realistic_delivery_ratio": (("dms", "realistic_delivery_ratio"), "share"),
    "dm_oracle_latency_median_s": (("dms", "oracle_latency", "p50"), "s"),
    "dm_latency_median_s": (("dms", "latency", "p50"), "s"),
    "dm_acknowledged_ratio": (("dms", "sender_sees", "acknowledged_ratio"), "share"),
    "dm_relay_copies_per_delivered": (("dms", "relay_copies_per_delivered"), "copies"),
    "dm_bytes_per_delivered": (("dms", "bytes_on_air_per_delivered"), "B"),
    "bytes_per_delivery": (("overhead", "bytes_per_delivery"), "B"),
}
# One plot per measured figure, with its oracle bound (if any) dashed on the same axes.
PLOTS: dict[str, tuple[str, str | None]] = {
    "alert_coverage_30min": ("alert coverage at 30 min", "alert_oracle_30min"),
    "alert_coverage_60min": ("alert coverage at 60 min", "alert_oracle_60min"),
    "alert_time_to_90_s": ("time to 90 % alert coverage [s]", "alert_oracle_time_to_90_s"),
    "dm_delivery_ratio": ("DM delivery ratio (all DMs)", None),
    # The oracle runs on a sample of DMs: its bound goes beside the same sample's delivery.
    "dm_delivered_in_sample": ("DM delivery (oracle's sample)", "dm_oracle_delivery_ratio"),
    "dm_ratio_to_oracle": ("DM delivery / oracle delivery (sample)", None),
    "bytes_per_delivery": ("bytes on air per delivery [B]", None),
}
INSTALL_HINT = "pip install -e '.[cluster]'"


class ClusterUnavailable(RuntimeError):
    """dask.distributed is missing or the scheduler cannot be reached."""


@dataclass(frozen=True, slots=True)
class Axis:
    """A swept scenario key and its values (TOML values, as in the scenario file)."""

    key: str
    values: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Task:
    """One run of a sweep: a validated scenario table, picklable for any worker."""

    index: int
    point: tuple[tuple[str, object], ...]
    seed: int
    table: dict[str, Any]
    base: str


def _points(axes: Sequence[Axis]) -> Iterator[tuple[tuple[str, object], ...]]:
    for values in itertools.product(*(axis.values for axis in axes)):
        yield tuple(zip((axis.key for axis in axes), values, strict=True))


def plan(source: Source, axes: Sequence[Axis], seeds: int) -> list[Task]:
    """Every (point, seed) run, each validated now so errors surface before any work."""
    if seeds < 1:
        raise ScenarioError("", "--seeds must be at least 1")
    keys = [axis.key for axis in axes]
    if len(set(keys)) != len(keys):
        raise ScenarioError(next(k for k in keys if keys.count(k) > 1), "set more than once")
    tasks: list[Task] = []
    for point in _points(axes):
        table = source.table
        for key, value in point:
            table = apply(table, key, value)
        first = scenario_from_table(table, source.base).scenario.seed
        for offset in range(seeds):
            seeded = apply(table, "scenario.seed", first + offset)
            scenario_from_table(seeded, source.base)
            tasks.append(Task(len(tasks), point, first + offset, seeded, source.base))
    return tasks


def _dig(summary: dict[str, Any], path: tuple[str | int, ...]) -> float | None:
    node: Any = summary
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return None
        elif not isinstance(node, dict) or step not in node:
            return None
        node = node[step]
    return float(node) if isinstance(node, int | float) and not isinstance(node, bool) else None


def figures(summary: dict[str, Any]) -> dict[str, float | None]:
    """The key figures of one run's summary (None where the run has no value)."""
    return {name: _dig(summary, path) for name, (path, _unit) in FIGURES.items()}


def run_task(task: Task) -> dict[str, Any]:
    """Run one task (in any process or Dask worker) and return its row."""
    scenario = scenario_from_table(task.table, task.base)
    start = time.perf_counter()
    outcome = Simulation(scenario).run()
    wall = time.perf_counter() - start
    summary = summarise(outcome, wall)
    return {"index": task.index, "point": dict(task.point), "seed": task.seed,
            "figures": figures(summary), "events": outcome.events, "wall_seconds": wall,
            "worker": f"{socket.gethostname()}:{os.getpid()}",
            "summary": clean({k: v for k, v in summary.items() if k != "run"})}


OnResult = Callable[[dict[str, Any]], None]


def _local(tasks: Sequence[Task], workers: int, on_result: OnResult | None) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    if workers <= 1:
        for task in tasks:
            results.append(run_task(task))
            if on_result is not None:
                on_result(results[-1])
        return results
    # Spawned (not forked) workers: the parent may run threads (a progress bar) and forking a
    # threaded process can deadlock; spawn is also what macOS and Windows do anyway.
    context = multiprocessing.get_context("spawn")
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        futures = [pool.submit(run_task, task) for task in tasks]
        for future in concurrent.futures.as_completed(futures):
            results.append(future.result())
            if on_result is not None:
                on_result(results[-1])
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return results


def _dask(tasks: Sequence[Task], address: str, on_result: OnResult | None,
          timeout: float) -> list[dict[str, Any]]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ClusterUnavailable(f"--dask needs dask.distributed: {INSTALL_HINT}") from None
    try:
        client = Client(address, timeout=timeout,  # type: ignore[no-untyped-call]
                        set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {address}: {error}"
                                 ) from None
    results: list[dict[str, Any]] = []
    with client:
        futures = client.map(run_task, list(tasks), pure=False)
        for future in as_completed(futures, loop=client.loop):  # type: ignore[no-untyped-call]
            results.append(future.result())
            if on_result is not None:
                on_result(results[-1])
    return results


def execute(tasks: Sequence[Task], *, workers: int | None = None, dask: str | None = None,
            on_result: OnResult | None = None, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Run every task; rows come back in task order. `workers` defaults to the CPU count."""
    if dask is not None:
        rows = _dask(tasks, dask, on_result, timeout)
    else:
        count = workers if workers is not None else (os.cpu_count() or 1)
        rows = _local(tasks, min(count, len(tasks)), on_result)
    return sorted(rows, key=lambda row: int(row["index"]))


def _estimate_doc(e: Estimate) -> dict[str, float | int | None]:
    return {"n": e.n, "mean": e.mean, "ci95": e.ci95, "low": e.low, "high": e.high}


def aggregate(axes: Sequence[Axis], rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per point (in grid order): runs, seeds and each figure's mean and 95 % interval."""
    points = []
    for point in _points(axes):
        wanted = dict(point)
        runs = [row for row in rows if row["point"] == wanted]
        points.append({
            "point": wanted, "runs": len(runs), "seeds": [row["seed"] for row in runs],
            "figures": {name: _estimate_doc(estimate([row["figures"][name] for row in runs]))
                        for name in FIGURES},
        })
    return points


def _cell(value: object) -> object:
    if isinstance(value, list | dict):
        return json.dumps(value)
    return "" if value is None else value


def _csv(header: list[str], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return buffer.getvalue()


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_sweep(out_dir: Path, axes: Sequence[Axis], rows: Sequence[dict[str, Any]],
                points: Sequence[dict[str, Any]], *, command: str, source: str,
                timing: dict[str, Any], plots: bool = False) -> list[Path]:
    """sweep.csv (one row per point), runs.csv (one per run), sweep.json, plots if asked."""
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = [axis.key for axis in axes]
    header = [*keys, "runs"]
    for name in FIGURES:
        header += [f"{name}_mean", f"{name}_ci95", f"{name}_n"]
    table = []
    for p in points:
        row: list[object] = [p["point"][k] for k in keys] + [p["runs"]]
        for name in FIGURES:
            f = p["figures"][name]
            row += [f["mean"], f["ci95"], f["n"]]
        table.append(row)
    run_header = [*keys, "seed", *FIGURES, "events", "wall_seconds"]
    run_rows = [[row["point"][k] for k in keys] + [row["seed"]]
                + [row["figures"][name] for name in FIGURES]
                + [row["events"], row["wall_seconds"]] for row in rows]
    doc = clean({
        "command": command, "source": source, "meshnode_version": version(),
        "axes": [{"key": a.key, "values": list(a.values)} for a in axes],
        "confidence": "95 % Student t over seeds (mean ± ci95)",
        "points": list(points), "runs": list(rows),
        "timing": {**timing, "machine": machine()},
    })
    written = [_write(out_dir / "sweep.csv", _csv(header, table)),
               _write(out_dir / "runs.csv", _csv(run_header, run_rows)),
               _write(out_dir / "sweep.json",
                      json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n")]
    if plots:
        written += plot_sweep(out_dir, axes, points)
    return written


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def plot_sweep(out_dir: Path, axes: Sequence[Axis], points: Sequence[dict[str, Any]]
               ) -> list[Path]:
    """One PNG per key figure against the first swept key; a line per other combination."""
    varied = [a for a in axes if len(a.values) > 1] or list(axes)
    if not varied:
        return []
    x_axis, others = varied[0], varied[1:]
    numeric = all(_is_number(v) for v in x_axis.values)
    positions = {repr(v): (float(v) if numeric else float(i))  # type: ignore[arg-type]
                 for i, v in enumerate(x_axis.values)}
    written = []
    for name, (label, bound) in PLOTS.items():
        fig = new_figure()
        ax = fig.add_subplot()
        groups = itertools.product(*(a.values for a in others))
        for g, combo in enumerate(groups):
            fixed = dict(zip((a.key for a in others), combo, strict=True))
            chosen = [p for p in points
                      if all(p["point"].get(k) == v for k, v in fixed.items())]
            tag = ", ".join(f"{k}={v}" for k, v in fixed.items())
            for figure, style in ((name, "o-"), (bound, "s--")):
                if figure is None:
                    continue
                xs, ys, errs = [], [], []
                for p in chosen:
                    f = p["figures"][figure]
                    if f["mean"] is not None:
                        xs.append(positions[repr(p["point"][x_axis.key])])
                        ys.append(f["mean"])
                        errs.append(f["ci95"] or 0.0)
                if xs:
                    what = "oracle" if figure == bound else "measured"
                    ax.errorbar(xs, ys, yerr=errs, fmt=style, color=f"C{g}", capsize=3,
                                label=f"{what}{', ' + tag if tag else ''}")
        # Ticks at the swept values themselves: an integer key never gets 2.5.
        ax.set_xticks(list(positions.values()), [str(v) for v in x_axis.values])
        ax.set_xlabel(x_axis.key)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.set_title(f"{label} vs {x_axis.key} (mean, 95 % CI)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=2,
                      fontsize="small", frameon=False)
        written.append(save_figure(fig, out_dir / f"sweep-{name}.png"))
    return written
