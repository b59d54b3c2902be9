"""Where a simulated hour's time goes, and how it grows with the hour (issue 17, item 5).

Runs the bundled `neighbourhood` scenario scaled to `--nodes` devices for `--hours` simulated
hours (posts scoped with `--post-hops`, as in the issue) and prints, per simulated hour, the
process CPU seconds and wall seconds it took and the events handled, then the top functions of
a cProfile of the first hour and of the last one (own time), so that the growth can be traced
to the functions that grow. Profiled hours cost about 1.5-2x: `--no-profile` for clean per-hour
CPU.

    python bench/bench_sim_hours.py --nodes 1000 --hours 3 --post-hops 3
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import itertools
import pstats
import time

from sim.bench import scaled
from sim.driver import Simulation
from sim.scenario import bundled

HOUR = 3600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=3)
    parser.add_argument("--post-hops", type=int, default=3)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--no-profile", action="store_true",
                        help="per-hour CPU without cProfile's overhead (about 1.5-2x)")
    args = parser.parse_args()
    base = scaled(bundled("neighbourhood"), args.nodes, args.hours * HOUR)
    scenario = dataclasses.replace(base, routing=dataclasses.replace(
        base.routing, post_hops=args.post_hops))
    sim = Simulation(scenario)
    profiles = {} if args.no_profile else {0: cProfile.Profile(),
                                           args.hours - 1: cProfile.Profile()}
    marks: list[tuple[float, float, int]] = []  # (cpu, wall, events) at each hour start
    state = {"hour": -1}

    def progress(t: float, events: int) -> None:
        hour = min(int(t // HOUR), args.hours)
        if hour == state["hour"]:
            return
        if state["hour"] in profiles:
            profiles[state["hour"]].disable()
        marks.append((time.process_time(), time.perf_counter(), events))
        state["hour"] = hour
        if hour in profiles:
            profiles[hour].enable()

    sim.run(progress)
    print(f"{args.nodes} nodes, posts scoped to {args.post_hops} hops")
    print("hour | CPU s | wall s | events")
    for h, (start, end) in enumerate(itertools.pairwise(marks)):
        print(f"{h} | {end[0] - start[0]:.1f} | {end[1] - start[1]:.1f} | {end[2] - start[2]:,}")
    for hour, profile in profiles.items():
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
        print(f"--- cProfile of hour {hour} (own time) ---")
        print("\n".join(line for line in out.getvalue().splitlines()[4:] if line.strip()))


if __name__ == "__main__":
    main()
