"""The 72-hour outage soak (issue 9, item 6): run the bundled `soak-72h` scenario and print
traced meshnode memory and DM copy-count entries every 6 simulated hours, store occupancy
(fullest store vs its capacity), every alert's final coverage beside the oracle, and wall time.

    python bench/bench_sim_soak.py                 # the full scenario (300 nodes, 72 h)
    python bench/bench_sim_soak.py --nodes 60      # scaled down (hubs in proportion)

tracemalloc slows the run about twofold; the figures are memory, not speed. `--rss` samples the
process's resident memory instead (no tracing: the speed of a plain run, coarser figures).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
import tracemalloc

from sim.bench import scaled
from sim.driver import Simulation
from sim.metrics import summarise
from sim.scenario import bundled

HOUR = 3600.0


def _rss() -> int:
    """This process's resident memory in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=None, help="scale to this many nodes")
    parser.add_argument("--step", type=float, default=None, help="mobility step in seconds")
    parser.add_argument("--every", type=float, default=6.0, help="memory sample, hours")
    parser.add_argument("--json", metavar="FILE", help="also write the run's summary as JSON")
    parser.add_argument("--rss", action="store_true",
                        help="sample resident memory instead of tracing allocations")
    args = parser.parse_args()
    scenario = bundled("soak-72h")
    if args.nodes is not None:
        scenario = scaled(scenario, args.nodes, None)
    if args.step is not None:
        scenario = dataclasses.replace(
            scenario, scenario=dataclasses.replace(scenario.scenario, step=args.step))
    start = time.perf_counter()
    sim = Simulation(scenario)
    fullest = [0.0]
    overfull = [0]
    next_sample = [0.0]
    print(f"nodes {sim.n}, {scenario.scenario.duration / HOUR:.0f} h, "
          f"step {scenario.scenario.step:g} s")
    memory = "RSS MB" if args.rss else "traced meshnode MB"
    print(f"sim h | {memory} | DM bookkeeping entries | fullest store | wall s")

    def progress(t: float, _events: int) -> None:
        for node in sim.nodes:
            usage = node.store.usage()
            fullest[0] = max(fullest[0], usage.used_bytes / usage.capacity_bytes)
            overfull[0] += usage.used_bytes > usage.capacity_bytes
        if t >= next_sample[0]:
            if args.rss:
                traced = _rss()
            else:
                snap = tracemalloc.take_snapshot().filter_traces(
                    [tracemalloc.Filter(True, "*meshnode*")])
                traced = sum(stat.size for stat in snap.statistics("filename"))
            copies = sum(int(node.status(0)["dm_bookkeeping"]) for node in sim.nodes)  # type: ignore[call-overload]
            print(f"{t / HOUR:5.1f} | {traced / 1e6:7.2f} | {copies:7d} | {fullest[0]:.3f} | "
                  f"{time.perf_counter() - start:6.0f}", flush=True)
            next_sample[0] = t + args.every * HOUR

    if not args.rss:
        tracemalloc.start()
    out = sim.run(progress)
    tracemalloc.stop()
    wall = time.perf_counter() - start
    summary = summarise(out, wall)
    print(f"fullest store {fullest[0]:.3f} of capacity; samples over capacity: {overfull[0]}")
    for alert in summary["alerts"]:
        print(f"alert at {alert['created'] / HOUR:.2f} h: final coverage "
              f"{alert['final_coverage']:.3f} vs oracle {alert['final_oracle']:.3f} "
              f"(ratio {alert['final_ratio']}); 60 min {alert['coverage'].get('60min')}")
    print(f"wall {wall:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1, default=float)


if __name__ == "__main__":
    main()
