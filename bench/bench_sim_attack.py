"""Junk-post floods in the simulator: alert coverage and DM delivery with and without attack.

Usage: python bench/bench_sim_attack.py [--nodes 2520] [--duration 80m] [--modes none,single,sybil]

Runs the default neighbourhood (scaled to --nodes; only its first alert, at 10 minutes, is
kept) once without an attacker and once per attack mode, each attacker flooding from t = 0:
"single" posts 10 junk posts a second under its own identity (bundled `flood-single`),
"sybil" one a second, each from a fresh identity (bundled `flood-sybil`). Prints the alert's
coverage at 30 and 60 minutes after issue (and its ratio to the no-attack run), DMs delivered,
junk posts sent, the most junk any honest store holds, and the wall time. The requirement:
coverage within 10 % of the no-attack run. A Sybil run at full size takes about an hour.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from common import header

from meshnode.wire import Kind
from sim.bench import scaled
from sim.config import parse_duration
from sim.driver import Simulation
from sim.metrics import summarise
from sim.scenario import AttackerSpec, bundled

ATTACKS = {"none": AttackerSpec(count=0),
           "single": bundled("flood-single").workload.attacker,
           "sybil": bundled("flood-sybil").workload.attacker}


def one(nodes: int, duration: float, mode: str) -> dict[str, float]:
    base = scaled(bundled("neighbourhood"), nodes, duration)
    scenario = dataclasses.replace(base, workload=dataclasses.replace(
        base.workload, alerts=base.workload.alerts[:1], attacker=ATTACKS[mode]))
    start = time.perf_counter()
    sim = Simulation(scenario)
    out = sim.run()
    wall = time.perf_counter() - start
    summary = summarise(out, wall)
    honest, bad = set(out.post_created), set(out.attackers.tolist())
    junk = max((sum(m.id not in honest for m in node.store.by_kind(int(Kind.POST)))
                for i, node in enumerate(sim.nodes) if i not in bad), default=0)
    marks = summary["alerts"][0]["coverage"]
    return {"cov30": marks["30min"]["coverage"], "cov60": marks["60min"]["coverage"],
            "dms": summary["dms"]["created"], "delivered": summary["dms"]["delivered"],
            "junk": out.flood_posts, "junk_max": junk, "wall": wall}


def ratio(r: dict[str, float], clean: dict[str, float] | None, key: str) -> str:
    return f"{r[key] / clean[key]:.2f}" if clean and clean[key] else "—"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2520)
    parser.add_argument("--duration", default="80m")
    parser.add_argument("--modes", default="none,single,sybil")
    args = parser.parse_args()
    duration = parse_duration(args.duration, "--duration")
    header(f"simulator floods: {args.nodes} nodes, first {args.duration}")
    print()
    print("| attack | coverage 30 min | vs none | coverage 60 min | vs none | DMs delivered "
          "| junk posts sent | max junk in an honest store | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    clean: dict[str, float] | None = None
    for mode in args.modes.split(","):
        r = one(args.nodes, duration, mode)
        if mode == "none":
            clean = r
        print(f"| {mode} | {r['cov30']:.3f} | {ratio(r, clean, 'cov30')} "
              f"| {r['cov60']:.3f} | {ratio(r, clean, 'cov60')} "
              f"| {int(r['delivered'])}/{int(r['dms'])} | {int(r['junk']):,} "
              f"| {int(r['junk_max']):,} | {r['wall']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
