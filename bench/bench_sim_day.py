"""A whole simulated day, hour by hour: the issue-17 goals measured in one run.

Runs the bundled `neighbourhood` scenario (the default scenario, posts as shipped unless
`--post-hops` is given) scaled to `--nodes` devices for `--hours` simulated hours, then the
metrics and oracle (`summarise`), and prints one JSON object: process CPU and wall seconds for
the run and for the metrics, peak RSS (`ru_maxrss`), per simulated hour the CPU and wall
seconds, events handled, and at the hour's end the messages and ghosts stored per node, the
open links, the events queued, the sync sets rebuilt so far and the resident set, and
a digest of the results without timings (same seed, same digest). `--profile` runs the whole
thing under cProfile with a CPU-time clock and prints the top functions by own time instead of
trusting its timings. Each hour is also printed to stderr as it ends.

    python bench/bench_sim_day.py --nodes 1000 --hours 24 > day.json
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import hashlib
import io
import json
import os
import pstats
import resource
import signal
import sys
import time
from collections import Counter
from types import FrameType
from typing import Any

from sim.bench import scaled
from sim.driver import Simulation
from sim.metrics import summarise
from sim.overrides import load_scenario

HOUR = 3600.0
PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


class Sampler:
    """A statistical profiler: every `interval` CPU seconds (SIGPROF) it counts each function
    on the stack once (inclusive samples), per simulated hour. Its overhead is a few percent,
    against cProfile's ~8x, so it can follow a run into the hours where cost grows."""

    def __init__(self, interval: float) -> None:
        self.hours: list[Counter[str]] = [Counter()]
        self.own: list[Counter[str]] = [Counter()]
        self.interval = interval

    def start(self) -> None:
        signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)

    def _sample(self, _signum: int, frame: FrameType | None) -> None:
        seen: set[str] = set()
        if frame is not None:  # the innermost Python frame: own time, C calls included
            code = frame.f_code
            self.own[-1][f"{os.path.basename(code.co_filename)}:{code.co_name}"] += 1
        while frame is not None:
            code = frame.f_code
            name = f"{os.path.basename(code.co_filename)}:{code.co_name}"
            if name not in seen:
                seen.add(name)
                self.hours[-1][name] += 1
            frame = frame.f_back
        self.hours[-1]["<samples>"] += 1


def _delivery(summary: dict[str, Any]) -> dict[str, Any]:
    """The headline results a change to sync must not cost: posts, DMs, alerts."""
    posts, dms = summary["posts"], summary["dms"]
    return {"post_receptions": posts["receptions"], "post_delivery": posts["delivery_ratio"],
            "post_latency": posts["latency"], "dm_delivery": dms["delivery_ratio"],
            "alerts": summary["alerts"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--post-hops", type=int, default=None,
                        help="scope posts (default: the scenario's own setting)")
    parser.add_argument("--label", default="")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile (CPU clock) the run; timings are then inflated")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sample", action="store_true",
                        help="sample the stack every 10 ms CPU; inclusive and own shares per hour")
    parser.add_argument("--fade-after", type=int, default=None,
                        help="seconds a flooded item stays class 1 (§10.2; trees with fading)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a scenario setting as `meshnode sim run --set` takes it, e.g. "
                             "workload.posts_per_hour=1 to fill stores sooner (repeatable)")
    args = parser.parse_args()
    if args.fade_after is not None:
        from meshnode.routing import forwarding
        forwarding.FADE_AFTER = args.fade_after
    base_rss = _rss_mib()
    scenario = scaled(load_scenario("neighbourhood", args.set), args.nodes, args.hours * HOUR)
    if args.post_hops is not None:
        scenario = dataclasses.replace(scenario, routing=dataclasses.replace(
            scenario.routing, post_hops=args.post_hops))
    cpu0 = time.process_time()
    sim = Simulation(scenario)
    setup_cpu = time.process_time() - cpu0
    hours: list[dict[str, Any]] = []
    sampler = Sampler(0.01) if args.sample else None
    mark = {"hour": 0, "cpu": time.process_time(), "wall": time.perf_counter(), "events": 0}

    def close_hour(events: int) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        if sampler is not None:
            # No sample while the hour's counters are read: a SIGPROF in the middle of
            # `most_common` adds a key to the dict it iterates (a 24-h run died of it at hour 3).
            sampler.stop()
        stored = sum(node.store.usage().count for node in sim.nodes) / len(sim.nodes)
        ghosts = sum(node.status(0)["ghosts"] for node in sim.nodes) / len(sim.nodes)
        hours.append({"hour": mark["hour"], "cpu_s": round(cpu - mark["cpu"], 3),
                      "wall_s": round(wall - mark["wall"], 3),
                      "events": events - mark["events"], "stored_per_node": round(stored, 1),
                      "ghosts_per_node": round(ghosts, 1), "links": len(sim.links),
                      "queued_events": len(sim.queue),
                      "sync_rebuilds": sum(node.stats.sync_rebuilds for node in sim.nodes),
                      "rss_mib": round(_rss_mib(), 1)})
        # Streamed as it closes, so that a run stopped by a `timeout` still reports its hours.
        if sampler is not None:
            top = sampler.hours[-1]
            total = top["<samples>"] or 1
            hours[-1]["inclusive"] = {k: round(v / total, 3) for k, v in
                                      top.most_common(args.top) if k != "<samples>"}
            own = sampler.own[-1]
            hours[-1]["own"] = {k: round(v / total, 3) for k, v in own.most_common(args.top)}
            sampler.hours.append(Counter())
            sampler.own.append(Counter())
            sampler.start()
        print(json.dumps(hours[-1]), file=sys.stderr, flush=True)
        # The bookkeeping above is not charged to the next hour.
        mark.update(hour=mark["hour"] + 1, cpu=time.process_time(),
                    wall=time.perf_counter(), events=events)

    def progress(t: float, events: int) -> None:
        while t >= (mark["hour"] + 1) * HOUR and mark["hour"] < args.hours:
            close_hour(events)

    profile = cProfile.Profile(time.process_time) if args.profile else None
    if sampler is not None:
        sampler.start()
    run_cpu, run_wall = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    out = sim.run(progress)
    if profile is not None:
        profile.disable()
    if mark["hour"] < args.hours:
        close_hour(out.events)
    if sampler is not None:
        sampler.stop()
    run_cpu, run_wall = time.process_time() - run_cpu, time.perf_counter() - run_wall
    met_cpu, met_wall = time.process_time(), time.perf_counter()
    summary = summarise(out, run_wall)
    met_cpu, met_wall = time.process_time() - met_cpu, time.perf_counter() - met_wall
    summary.pop("run")  # timings and the memo's hits: not results
    digest = hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {
        "label": args.label, "nodes": args.nodes, "sim_hours": args.hours,
        "post_hops": args.post_hops, "settings": args.set, "setup_cpu_s": round(setup_cpu, 2),
        "run_cpu_s": round(run_cpu, 2), "run_wall_s": round(run_wall, 2),
        "metrics_cpu_s": round(met_cpu, 2), "metrics_wall_s": round(met_wall, 2),
        "total_cpu_s": round(time.process_time(), 2),
        "events": out.events, "peak_rss_mib": round(peak, 1),
        "base_rss_mib": round(base_rss, 1),
        "rss_per_node_kib": round((peak - base_rss) * 1024 / args.nodes, 1),
        "results_digest": digest[:16], "loadavg": os.getloadavg(),
        "delivery": _delivery(summary), "hours": hours}
    print(json.dumps(report))
    if profile is not None:
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(args.top)
        print(text.getvalue())


if __name__ == "__main__":
    main()
