"""`meshnode sim`: run, sweep and benchmark the simulator; list scenarios and parameters.

    meshnode sim run small --plot                 one run; results/<name>-seed<seed>/
    meshnode sim run my.toml --set ble.range=30   a scenario file with an override
    meshnode sim sweep small --set routing.spray_copies=4,8,16 --seeds 5 --plot
    meshnode sim sweep small --set ble.range=10,20 --dask tcp://scheduler:8786
    meshnode sim bench --sizes 1000,5000 --duration 1h
    meshnode sim list | meshnode sim params
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from cli.errors import CliError
from sim import bench as simbench
from sim import output, sweep
from sim.config import ScenarioError, describe, parse_duration
from sim.driver import Simulation
from sim.metrics import run_bounds, summarise
from sim.overrides import (
    Source,
    parse_assignment,
    read_source,
    scenario_from_table,
    with_settings,
)
from sim.scenario import Scenario, bundled, bundled_names, parameter_table
from sim.stats import Estimate
from sim.traces import TraceError

__all__ = ["register"]

KEYS_HINT = "see `meshnode sim params` for every key, its default and its meaning"


def register(sub: Any) -> None:
    p = sub.add_parser("sim", help="simulate thousands of nodes: run, sweep, bench scenarios")
    group = p.add_subparsers(dest="sim_command", metavar="SIM_COMMAND", required=True)

    r = group.add_parser("run", help="run one scenario and write its results")
    _scenario_args(r)
    r.add_argument("--seed", type=int, help="shorthand for --set scenario.seed=N")
    r.add_argument("--out", metavar="DIR", type=Path,
                   help="output directory (default: <output.dir>/<name>-seed<seed>/)")
    r.add_argument("--plot", action=argparse.BooleanOptionalAction, default=None,
                   help="write PNG plots (default: the scenario's output.plots, when "
                   "matplotlib is installed)")
    _display_args(r)
    r.set_defaults(handler=run)

    s = group.add_parser("sweep", help="run a grid of parameter values × seeds and aggregate")
    s.add_argument("scenario", metavar="SCENARIO", help="a scenario file or a bundled name")
    s.add_argument("--set", dest="settings", action="append", default=[],
                   metavar="KEY=V1,V2,...",
                   help="a swept (or, with one value, fixed) scenario key, e.g. "
                   "routing.spray_copies=4,8,16 (repeatable: the grid is the product)")
    s.add_argument("--seeds", type=int, default=3, help="seeds per point: the scenario's seed "
                   "+ 0, 1, ... (default: 3)")
    s.add_argument("--workers", type=int, help="local worker processes (default: CPU count; "
                   "1 runs in this process)")
    s.add_argument("--dask", metavar="ADDRESS", help="run on this Dask scheduler, e.g. "
                   "tcp://10.0.0.5:8786 (every worker needs meshnode installed)")
    s.add_argument("--dask-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="how long to try to reach the Dask scheduler (default: 30)")
    s.add_argument("--out", metavar="DIR", type=Path,
                   help="output directory (default: <output.dir>/<name>-sweep/)")
    s.add_argument("--plot", action="store_true", help="write one PNG per figure")
    _display_args(s)
    s.set_defaults(handler=run_sweep)

    b = group.add_parser("bench", help="time the simulator at several sizes")
    b.add_argument("scenario", metavar="SCENARIO", nargs="?", default="neighbourhood",
                   help="a scenario file or a bundled name (default: neighbourhood)")
    b.add_argument("--sizes", default=",".join(str(n) for n in simbench.DEFAULT_SIZES),
                   help="node counts, comma-separated (default: 1000,5000,10000)")
    b.add_argument("--duration", help="simulated time per size, e.g. 1h (default: the "
                   "scenario's)")
    b.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key (repeatable)")
    b.add_argument("--profile-size", type=int, default=0, metavar="N",
                   help="nodes in the extra cProfile run (default: the smallest size)")
    b.add_argument("--no-profile", action="store_true", help="skip the profiled run")
    b.add_argument("--out", metavar="FILE", type=Path, help="also write the Markdown report")
    _display_args(b)
    b.set_defaults(handler=run_bench)

    ls = group.add_parser("list", help="the bundled scenarios")
    ls.set_defaults(handler=list_scenarios)

    pa = group.add_parser("params", help="every scenario key with its default and meaning")
    pa.add_argument("--markdown", action="store_true", help="print the Markdown table")
    pa.set_defaults(handler=params)


def _scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", metavar="SCENARIO",
                   help=f"a scenario file or a bundled name ({', '.join(bundled_names())})")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key, e.g. scenario.duration=30m or ble.range=30 "
                   "(repeatable)")


def _display_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


# --- errors -----------------------------------------------------------------------------------


@contextmanager
def _errors() -> Iterator[None]:
    """Turn the simulator's typed errors into CliErrors that name the key and the fix."""
    try:
        yield
    except ScenarioError as error:
        if error.key:
            raise CliError(f"scenario key {error.key}: {error.reason} ({KEYS_HINT})") from None
        raise CliError(f"scenario: {error.reason}") from None
    except TraceError as error:
        raise CliError(f"contact trace: {error} (fix the trace file or trace.strict)") from None
    except output.PlotsUnavailable as error:
        raise CliError(f"{error} (or run without --plot)") from None
    except sweep.ClusterUnavailable as error:
        raise CliError(str(error)) from None
    except simbench.BenchError as error:
        raise CliError(str(error)) from None


def _command() -> str:
    return output.command_line(sys.argv[1:])


def _load(args: argparse.Namespace) -> tuple[Source, Scenario]:
    settings = list(args.settings)
    if getattr(args, "seed", None) is not None:
        settings.append(f"scenario.seed={args.seed}")
    source = with_settings(read_source(args.scenario), settings)
    return source, scenario_from_table(source.table, source.base)


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                    TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), console=console,
                    transient=False)


# --- run --------------------------------------------------------------------------------------


def _want_plots(flag: bool | None, scenario: Scenario) -> bool:
    if flag is not None:
        return flag
    if not scenario.output.plots:
        return False
    try:
        output.require_matplotlib()
    except output.PlotsUnavailable:
        return False
    return True


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True, quiet=args.quiet)
    with _errors():
        _, scenario = _load(args)
        plots = _want_plots(args.plot, scenario)
        if plots:
            output.require_matplotlib()  # fail before the run, not after it
        out_dir: Path = args.out or output.default_dir(scenario)
        started = datetime.datetime.now(datetime.UTC)
        meta = scenario.scenario
        with _progress(err) as bar:
            task = bar.add_task(f"{meta.name} seed {meta.seed}", total=meta.duration,
                                status="setting up")
            begin, begin_cpu = time.perf_counter(), time.process_time()
            simulation = Simulation(scenario)
            begin_run = time.perf_counter()

            def progress(t: float, events: int) -> None:
                rate = events / max(time.perf_counter() - begin_run, 1e-9)
                bar.update(task, completed=t, status=f"sim {_clock(t)} / {_clock(meta.duration)}"
                           f"  {rate:,.0f} events/s")

            outcome = simulation.run(progress)
            wall, cpu = time.perf_counter() - begin, time.process_time() - begin_cpu
            bar.update(task, status=f"{outcome.events:,} events, computing the oracle")
            bounds = run_bounds(outcome)  # once, for the summary and the coverage table
            summary = summarise(outcome, wall, cpu, bounds)
            try:
                files = output.write_run(out_dir, outcome, summary, command=_command(),
                                         source=args.scenario, plots=plots, started=started,
                                         bounds=bounds)
            except OSError as error:
                raise CliError(f"cannot write results to {out_dir}: {error}") from None
            bar.update(task, status=f"done: {outcome.events:,} events in {wall:.1f} s")
    if args.json:
        print(json.dumps(output.clean({**summary, "out_dir": str(out_dir),
                                       "files": [str(f) for f in files]}), indent=2))
    else:
        _show_run(Console(), summary, out_dir, files, plots)
    return 0


NA = "n/a"  # a figure the run has no value for (a mark after its end, nothing delivered)


def _pct(value: float | None) -> str:
    return NA if value is None else f"{100 * value:.1f} %"


def _pct_ci(value: float | None, ci: list[float] | tuple[float, float] | None) -> str:
    if value is None or ci is None:
        return _pct(value)
    return f"{_pct(value)} ({100 * ci[0]:.0f}–{100 * ci[1]:.0f} %)"


def _num(value: float | None, fmt: str = ",.1f", unit: str = "") -> str:
    return NA if value is None else f"{value:{fmt}}{unit}"


def _show_run(console: Console, summary: dict[str, Any], out_dir: Path, files: list[Path],
              plots: bool) -> None:
    table = Table("figure", "measured", "oracle bound", title=(
        f"{summary['scenario']} (seed {summary['seed']}): {summary['nodes']:,} nodes, "
        f"{_clock(summary['duration_s'])} simulated"))
    for k, alert in enumerate(summary["alerts"]):
        for mark, cov in alert["coverage"].items():
            table.add_row(f"alert {k} coverage at {mark.replace('min', ' min')}",
                          _pct(cov["coverage"]),
                          _pct(cov["oracle"]))
        table.add_row(f"alert {k} time to 90 %", _num(alert["time_to_90"], ",.0f", " s"),
                      _num(alert["oracle_time_to_90"], ",.0f", " s"))
    posts, dms, over = summary["posts"], summary["dms"], summary["overhead"]
    table.add_row("post delivery ratio", _pct(posts["delivery_ratio"]), "")
    table.add_row("post latency p50 / p90", f"{_num(posts['latency']['p50'], ',.0f')} / "
                  f"{_num(posts['latency']['p90'], ',.0f')} s", "")
    table.add_row(f"DMs delivered (of {dms['created']})", _pct(dms["delivery_ratio"]), "")
    if dms["oracle_sample"]:
        # Measured and bound on the same sampled DMs: the oracle runs on a sample only.
        table.add_row(f"DMs delivered, oracle's sample of {dms['oracle_sample']} (95 % CI)",
                      _pct_ci(dms["measured_in_sample"], dms["measured_in_sample_ci95"]),
                      _pct_ci(dms["oracle_delivery_ratio"], dms["oracle_ci95"]))
    sender = dms["sender_sees"]
    table.add_row("DMs carried / receipt back (as senders see them)",
                  f"{_pct(sender['carried_ratio'])} / {_pct(sender['acknowledged_ratio'])}", "")
    table.add_row("relay copies / DM bytes on air, per delivered DM",
                  f"{_num(dms['relay_copies_per_delivered'], ',.1f')} / "
                  f"{_num(dms['bytes_on_air_per_delivered'], ',.0f')}", "")
    table.add_row("transmissions per delivery", _num(over["transmissions_per_delivery"],
                                                     ",.2f"), "")
    table.add_row("bytes on air per delivery", _num(over["bytes_per_delivery"], ",.0f"), "")
    console.print(table)
    run = summary["run"]
    console.print(f"{run['events']:,} events in {run['wall_seconds']:.1f} s wall, "
                  f"{_num(run.get('cpu_seconds'), '.1f')} s CPU "
                  f"({_num(run['events_per_second'], ',.0f')} events/s, "
                  f"{_num(run['simulated_per_wall_second'], ',.0f')} simulated s per wall s)")
    console.print(f"results in {out_dir}/: " + ", ".join(f.name for f in files))
    if not plots:
        # Not markup: rich would take "[plots]" for a style tag and print "-e '.'".
        console.print("(no plots: add --plot; they need matplotlib: "
                      f"{output.INSTALL_HINT})", markup=False)


# --- sweep ------------------------------------------------------------------------------------


def _axes(settings: Sequence[str]) -> list[sweep.Axis]:
    axes = []
    for text in settings:
        key, values = parse_assignment(text, many=True)
        axes.append(sweep.Axis(key, tuple(values)))
    return axes


def _estimate(doc: dict[str, Any], fmt: Callable[[float | None], str]) -> str:
    e = Estimate(doc["n"], doc["mean"], doc["ci95"])
    if e.mean is None:
        return NA
    return fmt(e.mean) + ("" if e.ci95 is None else f" ± {fmt(e.ci95)}")


def run_sweep(args: argparse.Namespace) -> int:
    err = Console(stderr=True, quiet=args.quiet)
    if args.seeds < 1:
        raise CliError("--seeds: must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise CliError("--workers: must be at least 1")
    with _errors():
        source = read_source(args.scenario)
        axes = _axes(args.settings)
        tasks = sweep.plan(source, axes, args.seeds)
        if args.plot:
            output.require_matplotlib()
        first = scenario_from_table(tasks[0].table, source.base)
        out_dir: Path = args.out or Path(first.output.dir) / f"{first.scenario.name}-sweep"
        where = f"Dask at {args.dask}" if args.dask else (
            f"{args.workers or 'all'} local workers")
        varied = [a.key for a in axes if len(a.values) > 1]
        begin = time.perf_counter()
        with _progress(err) as bar:
            task = bar.add_task(f"sweep: {len(tasks)} runs on {where}", total=len(tasks),
                                status="starting")

            def done(row: dict[str, Any]) -> None:
                bar.advance(task)
                shown = ", ".join(f"{k}={row['point'][k]}" for k in varied)
                bar.update(task, status=f"last: {shown + ', ' if shown else ''}seed "
                           f"{row['seed']} in {row['wall_seconds']:.1f} s")

            rows = sweep.execute(tasks, workers=args.workers, dask=args.dask, on_result=done,
                                 timeout=args.dask_timeout)
        points = sweep.aggregate(axes, rows)
        timing = {"wall_seconds": time.perf_counter() - begin, "runs": len(rows),
                  "executor": f"dask {args.dask}" if args.dask else "local process pool",
                  "workers": args.workers}
        try:
            files = sweep.write_sweep(out_dir, axes, rows, points, command=_command(),
                                      source=args.scenario, timing=timing, plots=args.plot)
        except OSError as error:
            raise CliError(f"cannot write results to {out_dir}: {error}") from None
    if args.json:
        print(json.dumps(output.clean({"points": points, "out_dir": str(out_dir),
                                       "files": [str(f) for f in files]}), indent=2))
        return 0
    console = Console()

    def pct(v: float | None) -> str:
        return _pct(v).replace(" %", "")

    fixed = ", ".join(f"{a.key}={a.values[0]}" for a in axes if len(a.values) == 1)
    table = Table(*varied, "runs", "alert 30 min %", "alert 60 min %",
                  "alert to 90 % s", "DMs delivered %", "DMs / oracle", "B / delivery",
                  title="sweep: mean ± 95 % CI over seeds" + (f" ({fixed})" if fixed else ""))
    for column in table.columns:
        column.overflow = "fold"  # wrap a figure in a narrow terminal, never cut it off
    for p in points:
        f = p["figures"]
        table.add_row(*[str(p["point"][k]) for k in varied], str(p["runs"]),
                      _estimate(f["alert_coverage_30min"], pct),
                      _estimate(f["alert_coverage_60min"], pct),
                      _estimate(f["alert_time_to_90_s"], lambda v: _num(v, ",.0f")),
                      _estimate(f["dm_delivery_ratio"], pct),
                      _estimate(f["dm_ratio_to_oracle"], lambda v: _num(v, ".2f")),
                      _estimate(f["bytes_per_delivery"], lambda v: _num(v, ",.0f")))
    console.print(table)
    console.print(f"results in {out_dir}/: " + ", ".join(f.name for f in files))
    return 0


# --- bench ------------------------------------------------------------------------------------


LONG_BENCH = 2_000  # nodes: above this at a scenario's full duration, a size takes hours


def bench_warning(scenario: str, sizes: Sequence[int], duration: float | None) -> str | None:
    """What to say before a benchmark that will run for a long time (None: nothing)."""
    if duration is not None and max(sizes) <= LONG_BENCH:
        return None
    span = ("the scenario's full simulated duration" if duration is None
            else f"{_clock(duration)} simulated")
    return (f"note: sim bench runs {scenario} at {', '.join(f'{n:,}' for n in sizes)} nodes, "
            f"each for {span}, plus a profiled run: at these settings that takes hours "
            "(Ctrl-C stops it). A quick look: meshnode sim bench small --sizes 200,400 "
            "--duration 30m")


def run_bench(args: argparse.Namespace) -> int:
    err = Console(stderr=True, quiet=args.quiet)
    with _errors():
        try:
            sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        except ValueError:
            raise CliError(f"--sizes: expected node counts like 1000,5000, not {args.sizes!r}"
                           ) from None
        if not sizes or min(sizes) < 2:
            raise CliError("--sizes: give at least one node count of 2 or more")
        duration = None if args.duration is None else parse_duration(args.duration,
                                                                      "--duration")
        if duration is not None and duration <= 0:
            raise CliError("--duration: must be > 0")
        warning = bench_warning(args.scenario, sizes, duration)
        if warning:
            err.print(warning, style="bold")
        with _progress(err) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(label: str, t: float, end: float, events: int) -> None:
                if label not in tasks:
                    tasks[label] = bar.add_task(label, total=end, status="")
                bar.update(tasks[label], completed=t,
                           status=f"sim {_clock(t)} / {_clock(end)}  {events:,} events")

            report = simbench.run_bench(
                args.scenario, sizes=sizes, duration=duration, settings=args.settings,
                profile_size=None if args.no_profile else args.profile_size,
                command=_command(), on_progress=progress)
    text = simbench.markdown(report)
    if args.out is not None:
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text, encoding="utf-8")
        except OSError as error:
            raise CliError(f"cannot write {args.out}: {error}") from None
    if args.json:
        print(json.dumps(simbench.report_json(report), indent=2))
    else:
        print(text, end="")
    return 0


# --- list, params -----------------------------------------------------------------------------


def _first_comment(name: str) -> str:
    """The first sentence of the comment block a bundled scenario file starts with."""
    text = (resources.files("sim") / "scenarios" / f"{name}.toml").read_text(encoding="utf-8")
    block = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        block.append(line.lstrip("#").strip())
    prose = " ".join(block)
    end = prose.find(". ")
    return prose if end < 0 else prose[:end + 1]


def list_scenarios(args: argparse.Namespace) -> int:
    table = Table("name", "nodes", "duration", "description", title="bundled scenarios "
                  "(meshnode sim run NAME)")
    for name in bundled_names():
        with _errors():
            scenario = bundled(name)
        meta, pop = scenario.scenario, scenario.population
        table.add_row(name, f"{pop.residents + pop.hubs:,}", _clock(meta.duration),
                      meta.description or _first_comment(name))
    Console().print(table)
    return 0


def params(args: argparse.Namespace) -> int:
    if args.markdown:
        print(parameter_table())
        return 0
    table = Table("key", "default", "meaning",
                  title="scenario keys (the TOML section is the part before the dot)")
    for p in describe(Scenario):
        table.add_row(p.key, p.default, p.doc)
    Console().print(table)
    return 0
