"""The simulator's own cost outside the nodes, and a digest of a run's results (issue 17).

Runs the bundled `neighbourhood` scenario scaled to `--nodes` devices for `--hours` simulated
hours (posts scoped to `--post-hops`) and prints one JSON line: the run's CPU and wall
seconds, its events, the CPU seconds spent inside the link model's samplers (discovery and
connect delays, drawn for every new contact), peak RSS, and a digest of `summarise`'s figures
without the timing ones. Two trees give the same digest exactly when their results are the
same, so before/after comparisons run the script against each tree in turn (`--profile`
instead runs under cProfile and prints each area's share of own time: the nodes' code
`meshnode`, each simulator module, the rest; cProfile inflates many small Python calls, so the
shares are indicative):

    git archive OLD_COMMIT | tar -x -C /tmp/before
    for i in 1 2 3; do
      PYTHONPATH=/tmp/before python bench/bench_sim_overhead.py --label before
      PYTHONPATH=. python bench/bench_sim_overhead.py --label after
    done
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import hashlib
import json
import pstats
import resource
import time
from collections.abc import Callable
from typing import Any

from sim import linkmodel
from sim.bench import scaled
from sim.driver import Simulation
from sim.metrics import summarise
from sim.scenario import bundled

HOUR = 3600.0
SAMPLERS = ("discovery_delay", "connect_delay")


def _timed(spent: dict[str, float], name: str) -> None:
    """Replace linkmodel.`name` by a wrapper adding its CPU time to spent[name]."""
    inner: Callable[..., Any] = getattr(linkmodel, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[name] += time.process_time() - start

    setattr(linkmodel, name, wrapper)


def _area(filename: str) -> str:
    if "/meshnode/" in filename:
        return "meshnode (the nodes)"
    if "/sim/" in filename:
        return "sim/" + filename.rsplit("/sim/", 1)[1]
    return "other (builtins, numpy, msgpack, cryptography, ...)"


def _print_areas(profile: cProfile.Profile) -> None:
    own: dict[str, float] = {}
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        own[_area(filename)] = own.get(_area(filename), 0.0) + tottime
    total = sum(own.values())
    for area, seconds in sorted(own.items(), key=lambda kv: -kv[1]):
        print(f"{100 * seconds / total:5.1f} %  {seconds:7.2f} s  {area}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=1)
    parser.add_argument("--post-hops", type=int, default=3)
    parser.add_argument("--label", default="")
    parser.add_argument("--profile", action="store_true", help="own time by area, cProfiled")
    args = parser.parse_args()
    spent = dict.fromkeys(SAMPLERS, 0.0)
    for name in SAMPLERS:
        _timed(spent, name)
    base = scaled(bundled("neighbourhood"), args.nodes, args.hours * HOUR)
    scenario = dataclasses.replace(base, routing=dataclasses.replace(
        base.routing, post_hops=args.post_hops))
    sim = Simulation(scenario)
    # CPU time, not wall: on a shared machine wall time charges waits to whatever ran.
    profile = cProfile.Profile(time.process_time) if args.profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    out = sim.run()
    if profile is not None:
        profile.disable()
        _print_areas(profile)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    summary = summarise(out, 1.0)
    summary.pop("run")  # timings and the memo's hits: not results
    digest = hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest()
    print(json.dumps({
        "label": args.label, "nodes": args.nodes, "hours": args.hours,
        "cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "events": out.events,
        "sampler_cpu_s": {k: round(v, 3) for k, v in spent.items()},
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "results_digest": digest[:16]}))


if __name__ == "__main__":
    main()
