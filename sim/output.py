"""Result files of one run: JSON, CSV and (optionally) PNG plots.

`write_run` writes, into one directory:

* `results.json`: the `sim.metrics.summarise` figures, the scenario's parameters, the command
  and the meshnode version. It holds nothing that depends on the machine or the wall clock,
  so the same scenario, seed, command and code give a byte-identical file.
* `run.json`: the wall-clock side (wall seconds, events/s, simulated seconds per wall second,
  the machine line, start time). Never compare these across machines.
* `coverage.csv` (alert coverage among residents against the oracle at every sample time),
  `samples.csv` (the driver's periodic samples), `messages.csv` (one row per DM) and, when
  `output.contacts` is set, `contacts.csv` (the run's contact intervals).
* with a message list (`workload.messages`): `message_stats.txt`, The ONE's MessageStatsReport
  figures in its own `key: value` layout, to set beside ONE's report of the same scenario.
* with `plots`: `coverage.png`, `latency.png` and `overhead.png` (matplotlib, imported only
  here; `PlotsUnavailable` if it is missing).

Every file is written to a temporary name and renamed into place, so an interrupted run never
leaves a half-written file under a final name; optional files of an earlier run into the same
directory that this run does not write are removed.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import json
import math
import os
import platform
import shlex
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.driver import Outcome
from sim.metrics import Bounds, coverage_series
from sim.scenario import Scenario

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PLOT_FILES", "TIMING_KEYS", "PlotsUnavailable", "clean", "command_line",
           "contact_table", "coverage_table", "default_dir", "machine", "message_table",
           "new_figure", "one_stats_text", "require_matplotlib", "results_document",
           "run_document", "sample_table", "save_figure", "version", "write_plots",
           "write_run"]

TIMING_KEYS = ("wall_seconds", "cpu_seconds", "events_per_second", "simulated_per_wall_second")
PLOT_FILES = ("coverage.png", "latency.png", "overhead.png")
INSTALL_HINT = "pip install -e '.[plots]'"

Table = tuple[list[str], list[list[object]]]


class PlotsUnavailable(RuntimeError):
    """matplotlib is not installed; the message says how to install it."""


def machine() -> str:
    """One line describing the machine and interpreter, for timing reports."""
    return (f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, numpy {np.__version__}, "
            f"{platform.system()} {platform.release()}").replace("  ", " ")


def version() -> str:
    """The installed meshnode version ("unknown" when run from a bare source tree)."""
    try:
        return metadata.version("meshnode")
    except metadata.PackageNotFoundError:
        return "unknown"


def default_dir(scenario: Scenario) -> Path:
    """`<output.dir>/<scenario name>-seed<seed>/`."""
    meta = scenario.scenario
    return Path(scenario.output.dir) / f"{meta.name}-seed{meta.seed}"


def clean(value: Any) -> Any:
    """JSON-safe copy: tuples to lists, numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def results_document(summary: dict[str, Any], scenario: Scenario, *, command: str,
                     source: str) -> dict[str, Any]:
    """The deterministic part of a run: figures, parameters, command and code version."""
    doc = {k: v for k, v in summary.items() if k != "run"}
    doc["run"] = {k: v for k, v in summary.get("run", {}).items() if k not in TIMING_KEYS}
    doc["parameters"] = dataclasses.asdict(scenario)
    doc["source"] = source
    doc["command"] = command
    doc["meshnode_version"] = version()
    return clean(doc)  # type: ignore[no-any-return]


def run_document(summary: dict[str, Any], *, command: str,
                 started: datetime.datetime | None = None) -> dict[str, Any]:
    """The wall-clock part of a run: timing figures, the machine line, when it started."""
    run = summary.get("run", {})
    doc: dict[str, Any] = {k: run.get(k) for k in TIMING_KEYS}
    doc["machine"] = machine()
    doc["command"] = command
    if started is not None:
        doc["started_utc"] = started.astimezone(datetime.UTC).isoformat(timespec="seconds")
    return clean(doc)  # type: ignore[no-any-return]


def sample_times(scenario: Scenario) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The sample grid: every `output.sample` seconds from 0, plus the end of the run."""
    end = scenario.scenario.duration
    times = np.arange(0.0, end, scenario.output.sample, dtype=np.float64)
    return np.append(times, end) if not times.size or times[-1] < end else times


def coverage_table(outcome: Outcome, bounds: Bounds | None = None) -> Table:
    """Alert coverage among residents, measured, oracle and realistic bound (`sim.metrics`),
    per alert, on the sample grid (`bounds`: the run's, if already computed)."""
    series = coverage_series(outcome, sample_times(outcome.scenario), bounds)
    alerts = len(outcome.alert_created)
    header = ["t_s", "t_min"]
    for k in range(alerts):
        header += [f"alert{k}", f"alert{k}_oracle", f"alert{k}_realistic"]
    rows: list[list[object]] = []
    for i, t in enumerate(series["t"]):
        row: list[object] = [t, t / 60.0]
        for k in range(alerts):
            row += [series[f"alert{k}"][i], series[f"alert{k}_oracle"][i],
                    series[f"alert{k}_realistic"][i]]
        rows.append(row)
    return header, rows


def sample_table(outcome: Outcome) -> Table:
    """The driver's periodic samples; tuple-valued fields become one column per item."""
    samples = [{f.name: getattr(s, f.name) for f in dataclasses.fields(s)}
               for s in outcome.samples]
    widths: dict[str, int] = {}
    for sample in samples:
        for key, value in sample.items():
            size = len(value) if isinstance(value, list | tuple) else 0
            widths[key] = max(widths.get(key, 0), size)
    if "alert_coverage" in widths:
        widths["alert_coverage"] = max(widths["alert_coverage"], len(outcome.alert_created))
    header: list[str] = []
    for key, width in widths.items():
        if key == "alert_coverage":
            header += [f"alert{k}_coverage" for k in range(width)]
        elif width:
            header += [f"{key}{k}" for k in range(width)]
        else:
            header.append(key)
    rows: list[list[object]] = []
    for sample in samples:
        row: list[object] = []
        for key, width in widths.items():
            value = sample.get(key, "")
            if width:
                items: list[object] = list(value) if isinstance(value, list | tuple) else []
                row += items + [""] * (width - len(items))
            else:
                row.append(value)
        rows.append(row)
    return header, rows


def message_table(outcome: Outcome) -> Table:
    """One row per DM: id, creation time, origin, target, delivery time and latency (or empty);
    with a message list, also the list's id of the message and the delivered copy's hops."""
    header = ["id", "created", "origin", "target", "delivered", "latency"]
    listed = bool(outcome.listed_ids)
    if listed:
        header += ["list_id", "hops"]
    rows: list[list[object]] = []
    for msg_id, (created, origin, target) in sorted(outcome.dm_created.items(),
                                                    key=lambda kv: (kv[1][0], kv[0])):
        delivered = outcome.dm_delivered.get(msg_id)
        row: list[object] = [msg_id.hex(), created, origin, target,
                             "" if delivered is None else delivered,
                             "" if delivered is None else delivered - created]
        if listed:
            ref = outcome.listed_dm.get(msg_id)
            row += ["" if ref is None else outcome.listed_ids[ref],
                    outcome.dm_hops.get(msg_id, "")]
        rows.append(row)
    return header, rows


def contact_table(outcome: Outcome) -> Table:
    """The run's contact intervals (node indices a < b, up and down in seconds)."""
    rows: list[list[object]] = []
    contacts = outcome.contacts
    if contacts is not None:
        order = np.lexsort((contacts.b, contacts.a, contacts.up))
        for k in order.tolist():
            rows.append([int(contacts.a[k]), int(contacts.b[k]), float(contacts.up[k]),
                         float(contacts.down[k])])
    return ["a", "b", "up", "down"], rows


ONE_STATS_KEYS = ("created", "relayed", "delivered", "delivery_prob", "overhead_ratio",
                  "latency_avg", "latency_med", "hopcount_avg", "hopcount_med",
                  "duplicates")  # the last is meshnode's own (`sim.metrics.message_stats`)


def one_stats_text(stats: dict[str, Any], summary: dict[str, Any]) -> str:
    """`stats` (`sim.metrics.message_stats`) in the layout of ONE's MessageStatsReport, NaN
    where a figure is undefined (as ONE writes it)."""
    lines = [f"Message stats for scenario {summary['scenario']}",
             f"sim_time: {summary['duration_s']:.4f}"]
    for key in ONE_STATS_KEYS:
        value = stats[key]
        if value is None:
            text = "NaN"
        elif isinstance(value, int) or key == "hopcount_med":  # ONE writes an int there
            text = str(int(value))
        else:
            text = f"{value:.4f}"
        lines.append(f"{key}: {text}")
    return "\n".join(lines) + "\n"


def _csv_text(table: Table) -> str:
    header, rows = table
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _json_text(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _write(path: Path, data: str | bytes) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def write_run(out_dir: Path, outcome: Outcome, summary: dict[str, Any], *, command: str,
              source: str, plots: bool = False,
              started: datetime.datetime | None = None,
              bounds: Bounds | None = None) -> list[Path]:
    """Write a run's result files into `out_dir` (created if needed); returns their paths.
    `bounds`: the run's oracle and realistic bound, as `summary` used them (else computed
    again)."""
    if plots:
        require_matplotlib()
    out_dir.mkdir(parents=True, exist_ok=True)
    scenario = outcome.scenario
    coverage = coverage_table(outcome, bounds)
    written = [
        _write(out_dir / "results.json", _json_text(
            results_document(summary, scenario, command=command, source=source))),
        _write(out_dir / "run.json", _json_text(
            run_document(summary, command=command, started=started))),
        _write(out_dir / "coverage.csv", _csv_text(coverage)),
        _write(out_dir / "samples.csv", _csv_text(sample_table(outcome))),
        _write(out_dir / "messages.csv", _csv_text(message_table(outcome))),
    ]
    if scenario.output.contacts:
        written.append(_write(out_dir / "contacts.csv", _csv_text(contact_table(outcome))))
    if summary.get("message_list"):
        written.append(_write(out_dir / "message_stats.txt",
                              one_stats_text(summary["message_list"], summary)))
    if plots:
        written += write_plots(out_dir, outcome, summary, coverage)
    # Optional files left by an earlier run into the same directory would belong to that run.
    for name in ("contacts.csv", "message_stats.txt", *PLOT_FILES):
        if out_dir / name not in written:
            (out_dir / name).unlink(missing_ok=True)
    return written


# --- plots ------------------------------------------------------------------------------------


def require_matplotlib() -> None:
    """Raise `PlotsUnavailable` (naming the install command) unless matplotlib imports."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotsUnavailable(f"plots need matplotlib: {INSTALL_HINT}") from None


def new_figure(width: float = 7.0, height: float = 4.2) -> Figure:
    """A matplotlib Figure without pyplot's global state (safe in threads and workers)."""
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save_figure(figure: Figure, path: Path) -> Path:
    """Save as PNG (no software/date metadata) via a temporary name."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return _write(path, buffer.getvalue())


def _ecdf(values: Sequence[float]) -> tuple[list[float], list[float]]:
    ordered = sorted(values)
    n = len(ordered)
    return ordered, [(i + 1) / n for i in range(n)]


def _coverage_plot(outcome: Outcome, coverage: Table, path: Path) -> Path:
    header, rows = coverage
    fig = new_figure()
    ax = fig.add_subplot()
    t = np.array([row[0] for row in rows], dtype=np.float64)
    for k, created in enumerate(outcome.alert_created):
        measured = np.array([row[header.index(f"alert{k}")] for row in rows], dtype=np.float64)
        oracle = np.array([row[header.index(f"alert{k}_oracle")] for row in rows],
                          dtype=np.float64)
        realistic = np.array([row[header.index(f"alert{k}_realistic")] for row in rows],
                             dtype=np.float64)
        after = t >= created
        minutes = (t[after] - created) / 60.0
        colour = f"C{k}"
        ax.step(minutes, measured[after], where="post", color=colour,
                label=f"alert {k} (t = {created / 60:.0f} min)")
        ax.step(minutes, oracle[after], where="post", color=colour, linestyle="--",
                label=f"alert {k} oracle")
        ax.step(minutes, realistic[after], where="post", color=colour, linestyle=":",
                label=f"alert {k} realistic bound")
    ax.set_xlabel("minutes since the alert was issued")
    ax.set_ylabel("share of residents holding the verified alert")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(f"{outcome.scenario.scenario.name}: alert coverage vs oracle and realistic "
                 "bound")
    if outcome.alert_created:
        ax.legend(loc="lower right", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no alerts in this scenario", ha="center", transform=ax.transAxes)
    return save_figure(fig, path)


def _latency_plot(outcome: Outcome, path: Path) -> Path:
    residents = outcome.kinds == 1
    alert: list[float] = []
    for created, arrival in zip(outcome.alert_created, outcome.alert_arrival, strict=True):
        reached = arrival[residents]
        alert += (reached[np.isfinite(reached)] - created).tolist()
    dms = [outcome.dm_delivered[i] - outcome.dm_created[i][0] for i in outcome.dm_delivered]
    series = (("alert (residents)", alert), ("posts", list(outcome.post_latencies)),
              ("DMs", dms))
    fig = new_figure()
    ax = fig.add_subplot()
    plotted = False
    for label, values in series:
        # Zero latencies (the origin itself) cannot go on a log axis: clip to one second.
        minutes = [max(v, 1.0) / 60.0 for v in values]
        if minutes:
            x, y = _ecdf(minutes)
            ax.step(x, y, where="post", label=f"{label}, n = {len(values)}")
            plotted = True
    if plotted:
        ax.set_xscale("log")
        # Below the axes, not over the curves (which end at the lower right).
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=3, fontsize="small",
                  frameon=False)
    else:
        ax.text(0.5, 0.5, "nothing was delivered", ha="center", transform=ax.transAxes)
    ax.set_xlabel("latency [minutes, log scale]")
    ax.set_ylabel("share of deliveries within")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3, which="both")
    ax.set_title(f"{outcome.scenario.scenario.name}: latency of delivered messages")
    return save_figure(fig, path)


def _overhead_plot(outcome: Outcome, summary: dict[str, Any], path: Path) -> Path:
    """Counts on a log axis (a few dozen DMs next to tens of thousands of frames, each bar
    labelled), and the cost per delivery as two panels: transmissions and kB are different
    units, so they never share an axis."""
    over = summary.get("overhead", {})
    fig = new_figure(10.0, 4.2)
    left, middle, right = fig.subplots(1, 3, width_ratios=(3, 1, 1))
    alert_receptions = sum(int(np.isfinite(a).sum()) - 1 for a in outcome.alert_arrival)
    counts = {"alert receptions": alert_receptions,
              "post receptions": sum(outcome.post_receptions.values()),
              "DMs delivered": len(outcome.dm_delivered),
              "message frames": outcome.msg_frames, "all frames": outcome.frames}
    bars = left.bar(range(len(counts)), [max(v, 0) for v in counts.values()],
                    color=[f"C{i}" for i in range(5)])
    left.bar_label(bars, labels=[f"{v:,}" for v in counts.values()], fontsize="small")
    left.set_yscale("symlog", linthresh=1)  # log, with 0 drawn as 0
    left.set_ylim(0, max(10, max(counts.values()) * 4))
    left.set_xticks(range(len(counts)), list(counts), rotation=30, ha="right")
    left.set_ylabel("count [log scale]")
    left.set_title("deliveries and transmissions")
    for ax, label, value, colour in (
            (middle, "transmissions", over.get("transmissions_per_delivery"), "C5"),
            (right, "kB on air", None if over.get("bytes_per_delivery") is None
             else over["bytes_per_delivery"] / 1000.0, "C6")):
        shown = value if value is not None else 0.0
        per = ax.bar([0], [shown], color=colour, width=0.6)
        ax.bar_label(per, labels=["n/a" if value is None else f"{shown:,.2f}"])
        ax.set_xticks([0], [label])
        ax.set_ylim(0, max(shown * 1.25, 1.0))
        ax.set_title("per delivery")
    fig.suptitle(f"{outcome.scenario.scenario.name}: overhead")
    return save_figure(fig, path)


def write_plots(out_dir: Path, outcome: Outcome, summary: dict[str, Any],
                coverage: Table | None = None) -> list[Path]:
    """coverage.png, latency.png and overhead.png into `out_dir`."""
    require_matplotlib()
    out_dir.mkdir(parents=True, exist_ok=True)
    coverage = coverage if coverage is not None else coverage_table(outcome)
    return [_coverage_plot(outcome, coverage, out_dir / PLOT_FILES[0]),
            _latency_plot(outcome, out_dir / PLOT_FILES[1]),
            _overhead_plot(outcome, summary, out_dir / PLOT_FILES[2])]


def command_line(argv: Iterable[str]) -> str:
    """The command as the user would retype it: `meshnode ...`."""
    return shlex.join(["meshnode", *argv])
