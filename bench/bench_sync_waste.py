"""What sync spends airtime on, hour by hour: the baseline for protocol v2's "never reconcile a
difference nobody can act on" (issue 15).

Runs a scenario in the simulator and prints, for every simulated hour, summed over all nodes:
completed sync sessions, bytes sent per frame type (Hello, Recon, Want, Msg, Done), ids asked
for with Want, how many of those the holder then could not send (no hops left, or the forwarding
policy said no: the waste), and the bytes per session. A flat "bytes per session" column and a
wanted-but-refused share near zero are what the protocol should achieve.

    python bench/bench_sync_waste.py                          # neighbourhood scaled to 500, 6 h
    python bench/bench_sync_waste.py --nodes 300 --hours 24 --set routing.post_hops=3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import header

from sim.bench import scaled
from sim.driver import Simulation
from sim.overrides import apply, read_source, scenario_from_table

HOUR = 3600.0
FRAMES = ("Hello", "Recon", "Want", "Msg", "Done")


def _totals(sim: Simulation) -> Counter[str]:
    total: Counter[str] = Counter()
    for node in sim.nodes:
        stats = node.stats
        total.update(stats.frame_bytes)
        total["wanted"] += stats.wanted
        total["want_refused"] += stats.want_refused
        total["unoffered"] += stats.unoffered
        total["sessions"] += stats.sessions
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="neighbourhood")
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    header("sync waste per simulated hour")
    source = read_source(args.scenario)
    table = source.table
    for assignment in args.set:
        key, _, value = assignment.partition("=")
        apply(table, key, value)
    scenario = scaled(scenario_from_table(table, source.base), args.nodes, args.hours * HOUR)
    sim = Simulation(scenario)
    print(f"nodes {sim.n}, {args.hours:g} h, sets {args.set or 'none'}")
    print("hour | sessions | " + " | ".join(f"{f} kB" for f in FRAMES)
          + " | wanted | refused | refused share | bytes/session")
    last: Counter[str] = Counter()
    next_hour = [HOUR]
    start, cpu = time.perf_counter(), time.process_time()

    def progress(t: float, _events: int) -> None:
        if t < next_hour[0]:
            return
        now = _totals(sim)
        delta = now - last
        done = delta["sessions"]
        sent = sum(delta[f] for f in FRAMES)
        share = delta["want_refused"] / delta["wanted"] if delta["wanted"] else 0.0
        print(f"{next_hour[0] / HOUR:4.0f} | {done:8,} | "
              + " | ".join(f"{delta[f] / 1000:,.0f}" for f in FRAMES)
              + f" | {delta['wanted']:,} | {delta['want_refused']:,} | {share:.2f} | "
              f"{sent / done if done else 0:,.0f}", flush=True)
        last.clear()
        last.update(now)
        next_hour[0] += HOUR

    sim.run(progress)
    print(f"wall {time.perf_counter() - start:.0f} s, CPU {time.process_time() - cpu:.0f} s, "
          f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
