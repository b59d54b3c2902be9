"""What a run's bounds cost after the run, computed twice (before) or once and shared (now).

Runs one bundled scenario (`--scenario`, `--hours` simulated), then times, alternating
`--rounds` times, what `meshnode sim run` does after the simulation: the summary and the
result files (coverage.csv with the oracle's and the realistic bound's curves), either as
before (`summarise` and `write_run` each building both contact graphs and searching every
alert over each) or as now (`run_bounds` once, shared by both), and `run_bounds` alone (the
work the sharing saves). CPU and wall seconds per round; both ways must write byte-identical
results.json and coverage.csv, which the script checks.

    python bench/bench_sim_bounds.py --scenario small --hours 6 --rounds 3
    python bench/bench_sim_bounds.py --scenario neighbourhood --nodes 1000 --hours 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import header
from sim.bench import scaled
from sim.driver import Outcome, Simulation
from sim.metrics import run_bounds, summarise
from sim.output import write_run
from sim.scenario import bundled

HOUR = 3600.0


def before(outcome: Outcome, out_dir: Path) -> None:
    summary = summarise(outcome, 1.0)
    write_run(out_dir, outcome, summary, command="bench", source="bench")


def now(outcome: Outcome, out_dir: Path) -> None:
    bounds = run_bounds(outcome)
    summary = summarise(outcome, 1.0, bounds=bounds)
    write_run(out_dir, outcome, summary, command="bench", source="bench", bounds=bounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="small")
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--nodes", type=int, default=None,
                        help="scale the scenario to this many devices (default: its own)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    header("sim: a run's bounds computed once and shared")
    base = bundled(args.scenario)
    # At its own size unless --nodes; alerts after the end are dropped.
    nodes = args.nodes or base.population.hubs + base.population.residents
    scenario = scaled(base, nodes, args.hours * HOUR)
    cpu0 = time.process_time()
    outcome = Simulation(scenario).run()
    assert outcome.contacts is not None
    print(f"{args.scenario}, {args.hours:g} h: {len(outcome.kinds)} nodes, "
          f"{len(outcome.contacts):,} contacts, {len(outcome.alert_created)} alert(s), "
          f"{len(outcome.dm_created)} DMs; run {time.process_time() - cpu0:.1f} CPU s")
    times: dict[str, tuple[list[float], list[float]]] = {"before": ([], []), "now": ([], [])}
    once: tuple[list[float], list[float]] = ([], [])
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            cpu, wall = time.process_time(), time.perf_counter()
            run_bounds(outcome)  # the work the sharing saves: one of the two builds
            once[0].append(time.process_time() - cpu)
            once[1].append(time.perf_counter() - wall)
            for label, job in (("before", before), ("now", now)):
                out_dir = Path(tmp) / f"{label}{i}"
                cpu, wall = time.process_time(), time.perf_counter()
                job(outcome, out_dir)
                times[label][0].append(time.process_time() - cpu)
                times[label][1].append(time.perf_counter() - wall)
        for name in ("results.json", "coverage.csv"):
            texts = {(Path(tmp) / f"{label}{i}" / name).read_bytes()
                     for label in times for i in range(args.rounds)}
            assert len(texts) == 1, f"{name} differs between the two ways"
    for label, (cpu_s, wall_s) in [*times.items(), ("run_bounds alone", once)]:
        print(f"{label}: CPU {min(cpu_s):.3f}-{max(cpu_s):.3f} s, wall {min(wall_s):.3f}-"
              f"{max(wall_s):.3f} s over {args.rounds} alternating rounds")


if __name__ == "__main__":
    main()
