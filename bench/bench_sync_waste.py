"""What sync spends airtime on, hour by hour: protocol v2's "never spend airtime on a difference
nobody can act on" (issue 15, docs/protocol.md §10.2).

Runs a scenario in the simulator and prints, for every simulated hour, summed over all nodes:
completed sync sessions, bytes sent per frame type (Hello, Recon, Want, Msg, Done), Msg frames,
ids asked for with Want, how many of those the holder then could not send (no hops left, or the
forwarding policy said no: the wasted-Want ratio), queued messages refused that way (pushes
included) against the Msg frames sent, and the bytes per completed session (the per-contact
cost). A flat bytes-per-session column and a refused share near zero are what the protocol
should achieve. At the end it prints the delivery figures (DMs delivered / sent, post
receptions) so that a saving is never bought with delivery, and with `--json FILE` writes all
of it for bench/compare_sync_waste.py.

    python bench/bench_sync_waste.py                          # neighbourhood scaled to 500, 6 h
    python bench/bench_sync_waste.py --nodes 150 --hours 24 --seed 2 --json run.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import header

from sim.bench import scaled
from sim.driver import Outcome, Simulation
from sim.overrides import apply, parse_value, read_source, scenario_from_table

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
        total["upgraded"] += getattr(stats, "upgraded", 0)  # absent before protocol v2
    total["msg_frames"] = sim.out.msg_frames
    return total


def _hour_row(hour: float, delta: Counter[str]) -> dict[str, Any]:
    done = delta["sessions"]
    sent = sum(delta[f] for f in FRAMES)
    return {
        "hour": hour, "sessions": done, **{f"{f}_bytes": delta[f] for f in FRAMES},
        "msg_frames": delta["msg_frames"], "wanted": delta["wanted"],
        "want_refused": delta["want_refused"], "unoffered": delta["unoffered"],
        "upgraded": delta["upgraded"],
        "refused_share": delta["want_refused"] / delta["wanted"] if delta["wanted"] else 0.0,
        "unoffered_per_msg": delta["unoffered"] / delta["msg_frames"]
        if delta["msg_frames"] else 0.0,
        "bytes_per_session": sent / done if done else 0.0,
    }


def delivery(out: Outcome) -> dict[str, float]:
    """DMs delivered / sent, and post receptions per post (by devices other than the
    author)."""
    dms = len(out.dm_created)
    posts = len(out.post_created)
    return {
        "dms": dms, "dm_delivered": len(out.dm_delivered),
        "dm_delivery": len(out.dm_delivered) / dms if dms else 0.0,
        "posts": posts, "post_receptions": sum(out.post_receptions.values()),
        "receptions_per_post": sum(out.post_receptions.values()) / posts if posts else 0.0,
        "msg_frames": out.msg_frames, "bytes_on_air": out.bytes_on_air,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="neighbourhood")
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=None, help="the scenario's master seed")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    header("sync waste per simulated hour")
    source = read_source(args.scenario)
    table = source.table
    sets = list(args.set) + ([f"scenario.seed={args.seed}"] if args.seed is not None else [])
    for assignment in sets:
        key, _, value = assignment.partition("=")
        table = apply(table, key, parse_value(value))  # a copy: the earlier bench lost it
    scenario = scaled(scenario_from_table(table, source.base), args.nodes, args.hours * HOUR)
    sim = Simulation(scenario)
    print(f"nodes {sim.n}, {args.hours:g} h, sets {sets or 'none'}")
    print("hour | sessions | " + " | ".join(f"{f} kB" for f in FRAMES)
          + " | Msg frames | wanted | refused | refused share | unoffered/Msg | upgraded"
          " | bytes/session")
    last: Counter[str] = Counter()
    next_hour = [HOUR]
    rows: list[dict[str, Any]] = []
    start, cpu = time.perf_counter(), time.process_time()

    def progress(t: float, _events: int) -> None:
        while t >= next_hour[0]:
            now = _totals(sim)
            row = _hour_row(next_hour[0] / HOUR, now - last)
            rows.append(row)
            print(f"{row['hour']:4.0f} | {row['sessions']:8,} | "
                  + " | ".join(f"{row[f + '_bytes'] / 1000:,.0f}" for f in FRAMES)
                  + f" | {row['msg_frames']:,} | {row['wanted']:,} | {row['want_refused']:,}"
                  f" | {row['refused_share']:.3f} | {row['unoffered_per_msg']:.3f}"
                  f" | {row['upgraded']:,} | {row['bytes_per_session']:,.0f}", flush=True)
            last.clear()
            last.update(now)
            next_hour[0] += HOUR

    out = sim.run(progress)
    wall, used = time.perf_counter() - start, time.process_time() - cpu
    total = _totals(sim)
    figures = delivery(out)
    print(f"day: wanted {total['wanted']:,}, refused {total['want_refused']:,}, unoffered "
          f"{total['unoffered']:,}, Msg frames {total['msg_frames']:,}, upgraded "
          f"{total['upgraded']:,}")
    print(f"delivery: DMs {figures['dm_delivered']:,}/{figures['dms']:,} "
          f"({figures['dm_delivery']:.3f}), post receptions {figures['post_receptions']:,} "
          f"({figures['receptions_per_post']:.1f} per post), bytes on air "
          f"{figures['bytes_on_air']:,}")
    load = os.getloadavg()[0]
    print(f"wall {wall:.0f} s, CPU {used:.0f} s, load {load:.1f}")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "nodes": sim.n, "hours": args.hours, "sets": sets, "rows": rows,
            "total": dict(total), "delivery": figures, "wall": wall, "cpu": used,
            "load": load}, indent=1) + "\n")


if __name__ == "__main__":
    main()
