"""The simulator benchmark: one scenario at several sizes, each in its own process.

For every size the scenario is scaled (residents and hubs in the scenario's proportion; the
neighbourhood model keeps its density, so the area grows), alerts after the end of a shortened
run are dropped and alert hubs beyond the scaled hub count wrap round. Each size runs in a
fresh child process (`python -m sim.bench --child ...`) so its peak resident memory
(`ru_maxrss`) is its own; the child streams progress and its result as JSON lines. An extra
run under cProfile at one size gives the top functions by own time; it is separate because
profiling slows the run down and would distort the timings.
"""

from __future__ import annotations

import cProfile
import dataclasses
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.config import ScenarioError
from sim.driver import Simulation
from sim.metrics import summarise
from sim.output import machine
from sim.overrides import load_scenario
from sim.scenario import Scenario

__all__ = ["DEFAULT_SIZES", "BenchError", "BenchReport", "SizeResult", "markdown",
           "report_json", "run_bench", "scaled"]

DEFAULT_SIZES = (1_000, 5_000, 10_000)
TOP = 15
Progress = Callable[[str, float, float, int], None]  # run label, simulated s, end, events


class BenchError(RuntimeError):
    """A benchmark child process failed; the message carries its error output."""


@dataclass(frozen=True, slots=True)
class SizeResult:
    """One size's figures; `profile` rows are (own s, cumulative s, calls, function)."""

    nodes: int
    hubs: int
    duration: float
    setup_seconds: float
    run_seconds: float
    metrics_seconds: float
    events: int
    peak_rss_bytes: int
    profiled: bool = False
    profile_total: float = 0.0
    profile: tuple[tuple[float, float, int, str], ...] = ()

    @property
    def sim_per_wall(self) -> float:
        return self.duration / self.run_seconds if self.run_seconds else 0.0

    @property
    def events_per_second(self) -> float:
        return self.events / self.run_seconds if self.run_seconds else 0.0


@dataclass(frozen=True, slots=True)
class BenchReport:
    command: str
    machine: str
    source: str
    seed: int
    sizes: tuple[SizeResult, ...]
    profile: SizeResult | None = None


def scaled(scenario: Scenario, nodes: int, duration: float | None) -> Scenario:
    """The scenario with `nodes` devices and, optionally, a new duration: a bigger or smaller
    area at the same density, with hubs and shops in proportion to the population."""
    if scenario.mobility.model == "trace":
        raise ScenarioError("mobility.model", "a replayed trace has a fixed size; benchmark "
                            "a mobility model instead")
    pop = scenario.population
    total = pop.hubs + pop.residents
    hubs = round(nodes * pop.hubs / total) if total else 0
    hubs = max(hubs, 1 if pop.hubs else 0)
    if nodes <= hubs:
        raise ScenarioError("--sizes", f"{nodes} nodes is too few for this scenario")
    meta = scenario.scenario
    if duration is not None:
        meta = dataclasses.replace(meta, duration=duration, step=min(meta.step, duration))
    alerts = tuple(dataclasses.replace(a, hub=a.hub % hubs) for a in scenario.workload.alerts
                   if a.at < meta.duration and hubs)
    hood = scenario.neighbourhood
    shops = round(hood.shops * (nodes - hubs) / pop.residents) if pop.residents else hood.shops
    shops = max(shops, 1 if hood.shops else 0)
    return dataclasses.replace(
        scenario, scenario=meta,
        neighbourhood=dataclasses.replace(hood, shops=shops),
        population=dataclasses.replace(pop, hubs=hubs, residents=nodes - hubs),
        workload=dataclasses.replace(scenario.workload, alerts=alerts))


def _where(filename: str) -> str:
    paths = sysconfig.get_paths()
    for prefix in (paths["purelib"], str(Path(__file__).resolve().parents[1]), paths["stdlib"],
                   sys.prefix):
        if filename.startswith(prefix):
            return filename[len(prefix):].lstrip("/")
    return filename


def _top(profiler: cProfile.Profile, count: int) -> tuple[float, list[tuple[float, float,
                                                                            int, str]]]:
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (filename, line, func), (_cc, calls, own, cum, _callers) in (
            stats.stats.items()):  # type: ignore[attr-defined]
        where = func if filename == "~" else f"{_where(filename)}:{line}({func})"
        rows.append((float(own), float(cum), int(calls), where))
    rows.sort(key=lambda r: r[0], reverse=True)
    return float(stats.total_tt), rows[:count]  # type: ignore[attr-defined]


def _peak_rss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024  # Linux: KiB


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one size (in the child process), reporting progress lines on stdout."""
    scenario = scaled(load_scenario(spec["source"], spec["set"]), spec["nodes"], spec["duration"])

    def progress(t: float, events: int) -> None:
        print(json.dumps({"t": t, "end": scenario.scenario.duration, "events": events}),
              flush=True)

    start = time.perf_counter()
    sim = Simulation(scenario)
    setup = time.perf_counter() - start
    profiler = cProfile.Profile() if spec["profile"] else None
    start = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    outcome = sim.run(progress)
    if profiler is not None:
        profiler.disable()
    run = time.perf_counter() - start
    start = time.perf_counter()
    summarise(outcome, run)
    metrics = time.perf_counter() - start
    result: dict[str, Any] = {
        "nodes": scenario.population.hubs + scenario.population.residents,
        "hubs": scenario.population.hubs, "duration": scenario.scenario.duration,
        "setup_seconds": setup, "run_seconds": run, "metrics_seconds": metrics,
        "events": outcome.events, "peak_rss_bytes": _peak_rss(),
        "profiled": profiler is not None, "profile_total": 0.0, "profile": [],
    }
    if profiler is not None:
        result["profile_total"], result["profile"] = _top(profiler, spec["top"])
    return result


def _run_child(spec: dict[str, Any], on_progress: Progress | None) -> SizeResult:
    label = f"{spec['nodes']:,} nodes" + (", profiled" if spec["profile"] else "")
    command = [sys.executable, "-m", "sim.bench", "--child", json.dumps(spec)]
    # The child must import this very package, installed or not, from the caller's directory
    # (relative scenario paths stay valid).
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
    # stderr goes to a file: a pipe that nobody reads while we follow stdout could fill up.
    with tempfile.TemporaryFile("w+") as stderr, subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env) as child:
        assert child.stdout is not None
        result: dict[str, Any] | None = None
        for line in child.stdout:
            message = json.loads(line)
            if "result" in message:
                result = message["result"]
            elif on_progress is not None:
                on_progress(label, float(message["t"]), float(message["end"]),
                            int(message["events"]))
        child.wait()
        stderr.seek(0)
        errors = stderr.read()
    if child.returncode != 0 or result is None:
        tail = "\n".join(errors.strip().splitlines()[-8:])
        raise BenchError(f"the {spec['nodes']}-node run failed (exit {child.returncode}):\n"
                         f"{tail}")
    profile = tuple((float(a), float(b), int(c), str(d)) for a, b, c, d in result.pop("profile"))
    return SizeResult(**result, profile=profile)


def run_bench(source: str, *, sizes: Sequence[int] = DEFAULT_SIZES,
              duration: float | None = None, settings: Sequence[str] = (),
              profile_size: int | None = 0, command: str = "",
              on_progress: Progress | None = None) -> BenchReport:
    """Run every size in its own process, then (unless `profile_size` is None) one profiled
    run at `profile_size` (0: the smallest size). Validates everything before running."""
    base = load_scenario(source, settings)
    for nodes in sizes:
        scaled(base, nodes, duration)
    spec = {"source": source, "set": list(settings), "duration": duration, "top": TOP,
            "profile": False}
    results = tuple(_run_child({**spec, "nodes": nodes}, on_progress) for nodes in sizes)
    profiled = None
    if profile_size is not None and sizes:
        target = profile_size or min(sizes)
        scaled(base, target, duration)
        profiled = _run_child({**spec, "nodes": target, "profile": True}, on_progress)
    return BenchReport(command=command, machine=machine(), source=source,
                       seed=base.scenario.seed, sizes=results, profile=profiled)


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def markdown(report: BenchReport) -> str:
    """The report as Markdown: command, machine, a table per size, the profile."""
    lines = ["# Simulator benchmark", "",
             f"Command: `{report.command}`  ", f"Machine: {report.machine}  ",
             f"Scenario: `{report.source}` (seed {report.seed}), scaled to each size with "
             "hubs and shops in proportion; each size in its own process.", "",
             "| nodes | hubs | simulated | setup s | run s | sim s / wall s | events | events/s "
             "| metrics s | peak RSS MiB |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report.sizes:
        lines.append(f"| {r.nodes:,} | {r.hubs} | {_duration(r.duration)} | "
                     f"{r.setup_seconds:.1f} | {r.run_seconds:.1f} | {r.sim_per_wall:,.1f} | "
                     f"{r.events:,} | {r.events_per_second:,.0f} | {r.metrics_seconds:.1f} | "
                     f"{r.peak_rss_bytes / 2**20:,.0f} |")
    p = report.profile
    if p is not None:
        lines += ["", f"## Where the time goes: {p.nodes:,} nodes, {_duration(p.duration)}, "
                  f"top {len(p.profile)} by own time (cProfile)", "",
                  f"Profiled run: {p.run_seconds:.1f} s wall (cProfile adds overhead); "
                  f"{p.profile_total:.1f} s profiled in total.", "",
                  "| own s | own % | cumulative s | calls | function |",
                  "|---:|---:|---:|---:|---|"]
        for own, cum, calls, where in p.profile:
            share = 100 * own / p.profile_total if p.profile_total else 0.0
            lines.append(f"| {own:.2f} | {share:.1f} | {cum:.2f} | {calls:,} | "
                         f"`{where.replace('|', '/')}` |")
    return "\n".join(lines) + "\n"


def report_json(report: BenchReport) -> dict[str, Any]:
    """The report as plain data (sizes with their derived rates)."""
    def size(r: SizeResult) -> dict[str, Any]:
        doc = dataclasses.asdict(r)
        doc["sim_per_wall"] = r.sim_per_wall
        doc["events_per_second"] = r.events_per_second
        return doc

    return {"command": report.command, "machine": report.machine, "source": report.source,
            "seed": report.seed, "sizes": [size(r) for r in report.sizes],
            "profile": size(report.profile) if report.profile else None}


def _main(argv: Sequence[str]) -> int:
    if len(argv) != 2 or argv[0] != "--child":
        print("usage: python -m sim.bench --child SPEC (internal; use `meshnode sim bench`)",
              file=sys.stderr)
        return 2
    result = _child(json.loads(argv[1]))
    print(json.dumps({"result": result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
