"""Where a simulation's memory goes: the default scenario scaled to `--nodes` for `--minutes`.

Runs the bundled `neighbourhood` scenario as `bench_sim_day.py` does and, at the end of the
run (before the metrics), reports what the nodes hold:

* `--census`: every object the garbage collector tracks, plus the bytes objects they refer
  to, counted and sized (`sys.getsizeof`) by type, and the same per stored message copy;
* `--trace`: a `tracemalloc` snapshot grouped by the line that allocated what is still live
  (slows the run about 2-3x; the figures are allocations, not timings).

Without either it only reports peak RSS and the run's CPU and wall, for comparisons of
`--nodes`. One JSON object on stdout.

    python bench/bench_sim_memory.py --nodes 1000 --minutes 120 --census --trace
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import resource
import sys
import time
import tracemalloc
from collections import Counter
from typing import Any

from sim.bench import scaled
from sim.driver import Simulation
from sim.scenario import bundled

PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def census(top: int) -> list[dict[str, Any]]:
    """Objects by type: count and bytes. Bytes, ints and tuples of such are not tracked by the
    collector, so those referred to by tracked objects are added once each (by identity)."""
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    untracked: dict[int, object] = {}
    for obj in gc.get_objects():
        name = type(obj).__qualname__
        counts[name] += 1
        sizes[name] += sys.getsizeof(obj)
        stack = gc.get_referents(obj)
        while stack:  # tuples of atoms are untracked too: walk into them
            ref = stack.pop()
            if gc.is_tracked(ref) or id(ref) in untracked:
                continue
            if type(ref) in (bytes, int, str, float, tuple):
                untracked[id(ref)] = ref
                if type(ref) is tuple:
                    stack.extend(ref)
    for obj in untracked.values():
        name = type(obj).__qualname__ + " (referenced)"
        counts[name] += 1
        sizes[name] += sys.getsizeof(obj)
    return [{"type": name, "count": counts[name], "mib": round(size / 2**20, 2)}
            for name, size in sizes.most_common(top)]


def traced(snapshot: tracemalloc.Snapshot, top: int) -> list[dict[str, Any]]:
    stats = snapshot.statistics("lineno")
    return [{"where": f"{os.path.relpath(s.traceback[0].filename)}:{s.traceback[0].lineno}",
             "count": s.count, "mib": round(s.size / 2**20, 2)} for s in stats[:top]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--census", action="store_true")
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    base_rss = _rss_mib()
    if args.trace:
        tracemalloc.start(1)
    scenario = scaled(bundled("neighbourhood"), args.nodes, args.minutes * 60.0)
    cpu, wall = time.process_time(), time.perf_counter()
    sim = Simulation(scenario)
    out = sim.run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    stored = sum(node.store.usage().count for node in sim.nodes)
    shared = getattr(sim, "shared_bytes", None)  # absent before the stores shared bytes
    report: dict[str, Any] = {
        "label": args.label, "nodes": args.nodes, "sim_minutes": args.minutes,
        "run_cpu_s": round(cpu, 2), "run_wall_s": round(wall, 2), "events": out.events,
        "stored_per_node": round(stored / args.nodes, 1),
        "distinct_raws_shared": None if shared is None else len(shared),
        "rss_end_mib": round(_rss_mib(), 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "base_rss_mib": round(base_rss, 1), "loadavg": os.getloadavg(),
        "tree": os.path.dirname(os.path.dirname(inspect.getfile(Simulation)))}
    report["kib_per_node"] = round((report["peak_rss_mib"] - base_rss) * 1024 / args.nodes, 1)
    report["kib_per_stored_copy"] = round(
        (report["rss_end_mib"] - base_rss) * 2**10 / max(stored, 1), 2)
    if args.trace:
        snapshot = tracemalloc.take_snapshot()
        tracemalloc.stop()
        report["traced_mib"] = round(sum(s.size for s in snapshot.statistics("filename"))
                                     / 2**20, 1)
        report["by_line"] = traced(snapshot, args.top)
    if args.census:
        report["by_type"] = census(args.top)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
