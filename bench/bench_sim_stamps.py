"""DM delivery under a Sybil flood, without and with proof-of-work stamps (docs/protocol.md §15).

Usage: python bench/bench_sim_stamps.py [--seeds 7,8,9] [--duration 3h] [--rate 900]
           [--conditions none,sybil,sybil-stamps,none-stamps,sybil-pays]

The bundled `small` scenario (96 residents, 4 hubs, 12 DMs per resident per day) for
`--duration`, once per seed and condition:

* none: no attacker;  none-stamps: no attacker, every node stamps and requires stamps;
* sybil: one attacker posting `--rate` junk posts per hour from t = 0, each from a fresh
  identity, nodes without stamps;
* sybil-stamps: the same flood, honest nodes stamping their own and requiring stamps of keys
  new to them; the attacker does not pay;
* sybil-pays: as sybil-stamps, but the attacker mints a stamp for every fresh identity.

Prints, per condition, the DMs delivered per seed, the delivery ratio (mean ± 95 % Student t
half-width over seeds) and its loss against `none` paired by seed, the junk sent, and the CPU
and wall seconds. Each run is the CLI's `meshnode sim run small --seed S --set ...` with the
keys printed in the header.
"""

from __future__ import annotations

import argparse
import time

from common import header

from sim.driver import Simulation
from sim.metrics import summarise
from sim.overrides import apply, parse_assignment, read_source, scenario_from_table
from sim.scenario import Scenario
from sim.stats import estimate

CONDITIONS: dict[str, tuple[str, ...]] = {
    "none": ("workload.attacker.count=0", "routing.stamps=false"),
    "none-stamps": ("workload.attacker.count=0", "routing.stamps=true"),
    "sybil": ("workload.attacker.count=1", "routing.stamps=false"),
    "sybil-stamps": ("workload.attacker.count=1", "routing.stamps=true"),
    "sybil-pays": ("workload.attacker.count=1", "routing.stamps=true",
                   "workload.attacker.stamps=true"),
}


def load(settings: tuple[str, ...]) -> Scenario:
    """The bundled `small` scenario with `--set`-style `settings`, as the CLI reads them."""
    source = read_source("small")
    table = source.table
    for text in settings:
        key, (value,) = parse_assignment(text, many=False)
        table = apply(table, key, value)
    return scenario_from_table(table, source.base)


def one(seed: int, settings: tuple[str, ...]) -> dict[str, float]:
    scenario = load((f"scenario.seed={seed}", *settings))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    out = Simulation(scenario).run()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    dms = summarise(out, wall)["dms"]
    return {"created": dms["created"], "delivered": dms["delivered"],
            "ratio": dms["delivery_ratio"], "junk": out.flood_posts, "cpu": cpu, "wall": wall}


def _pm(values: list[float]) -> str:
    e = estimate(values)
    return "—" if e.mean is None else f"{e.mean:.3f} ± {e.ci95 or 0:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="7,8,9")
    parser.add_argument("--duration", default="3h")
    parser.add_argument("--rate", type=float, default=900.0)
    parser.add_argument("--conditions", default="none,sybil,sybil-stamps,none-stamps")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    common = (f"scenario.duration={args.duration}", "workload.attacker.start=0",
              f"workload.attacker.rate={args.rate}")
    header(f"Sybil flood and stamps: small, {args.duration}, {args.rate:g} junk posts/h, "
           f"seeds {args.seeds}")
    print(f"common settings: {' '.join('--set ' + s for s in common)}")
    print()
    print("| condition | settings | DMs delivered per seed | delivery ratio | loss vs none "
          "(paired) | junk posts | CPU s | wall s |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    base: list[float] | None = None
    for name in args.conditions.split(","):
        runs = [one(seed, (*common, *CONDITIONS[name])) for seed in seeds]
        ratios = [r["ratio"] for r in runs]
        if name == "none":
            base = ratios
        loss = "—" if base is None or name == "none" else _pm(
            [b - r for b, r in zip(base, ratios, strict=True)])
        delivered = ", ".join(f"{int(r['delivered'])}/{int(r['created'])}" for r in runs)
        print(f"| {name} | {' '.join(CONDITIONS[name])} | {delivered} | {_pm(ratios)} "
              f"| {loss} | {int(sum(r['junk'] for r in runs) / len(runs)):,} "
              f"| {min(r['cpu'] for r in runs):.0f}–{max(r['cpu'] for r in runs):.0f} "
              f"| {min(r['wall'] for r in runs):.0f}–{max(r['wall'] for r in runs):.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
