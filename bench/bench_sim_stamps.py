"""DM delivery under a Sybil flood, without and with proof-of-work stamps (docs/protocol.md §15).

Usage: python bench/bench_sim_stamps.py [--seeds 7,8,9] [--duration 3h] [--rate 900]
           [--conditions none,sybil,sybil-stamps,none-stamps,sybil-pays]
           [--set KEY=VALUE ...] [--jsonl runs.jsonl]

The bundled `small` scenario (96 residents, 4 hubs, 12 DMs per resident per day) for
`--duration`, once per seed and condition:

* none: no attacker;  none-stamps: no attacker, every node stamps and requires stamps;
* sybil: one attacker posting `--rate` junk posts per hour from t = 0, each from a fresh
  identity, nodes without stamps;
* sybil-stamps: the same flood, honest nodes stamping their own and requiring stamps of keys
  new to them; the attacker does not pay;
* sybil-pays: as sybil-stamps, but the attacker mints a stamp for every fresh identity.

`--set KEY=VALUE` (repeatable, as the CLI's) changes the scenario for every condition, e.g.
`--set routing.store_bytes=262144 --set ble.throughput=5000`; the keys a condition sets
(`workload.attacker.count`, `routing.stamps`, `workload.attacker.stamps`) and the ones the
other options set are refused there. `--jsonl FILE` appends one JSON line per run (condition,
seed, DMs created and delivered, ratio, junk, CPU and wall seconds, load average), which
`bench/plot_sim_stamps.py` draws.

Prints, per condition, the DMs delivered per seed, the delivery ratio (mean ± 95 % Student t
half-width over seeds) and its loss against `none` paired by seed, the junk sent, and the CPU
and wall seconds. Each run is the CLI's `meshnode sim run small --seed S --set ...` with the
keys printed in the header.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from common import header

from sim.config import ScenarioError
from sim.driver import Simulation
from sim.metrics import summarise
from sim.overrides import load_scenario, parse_assignment
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


# Keys the script sets itself, per condition or from its own options: not for `--set`.
RESERVED = frozenset({"scenario.seed", "scenario.duration", "workload.attacker.start",
                      "workload.attacker.rate", "workload.attacker.count", "routing.stamps",
                      "workload.attacker.stamps"})


def extra_settings(texts: list[str]) -> tuple[str, ...]:
    """The `--set KEY=VALUE` texts, checked: well formed, and no key the script sets itself.

    Raises ScenarioError naming the key otherwise, so a figure cannot silently mix conditions.
    """
    for text in texts:
        key, _ = parse_assignment(text, many=False)
        if key in RESERVED:
            raise ScenarioError(key, "is set by the script (per condition or by its own "
                                "option), not by --set")
    return tuple(texts)


def load(settings: tuple[str, ...]) -> Scenario:
    """The bundled `small` scenario with `--set`-style `settings`, as the CLI reads them."""
    return load_scenario("small", settings)


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
    parser.add_argument("--set", dest="settings", action="append", default=[],
                        metavar="KEY=VALUE", help="a scenario setting for every condition")
    parser.add_argument("--jsonl", help="append one JSON line per run to this file")
    args = parser.parse_args()
    try:
        extra = extra_settings(args.settings)
    except ScenarioError as error:
        parser.error(str(error))
    seeds = [int(s) for s in args.seeds.split(",")]
    common = (f"scenario.duration={args.duration}", "workload.attacker.start=0",
              f"workload.attacker.rate={args.rate}", *extra)
    header(f"Sybil flood and stamps: small, {args.duration}, {args.rate:g} junk posts/h, "
           f"seeds {args.seeds}")
    print(f"common settings: {' '.join('--set ' + s for s in common)}")
    print()
    print("| condition | settings | DMs delivered per seed | delivery ratio | loss vs none "
          "(paired) | junk posts | CPU s | wall s |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    base: list[float] | None = None
    for name in args.conditions.split(","):
        runs = []
        for seed in seeds:
            run = one(seed, (*common, *CONDITIONS[name]))
            runs.append(run)
            if args.jsonl:
                with open(args.jsonl, "a") as f:
                    f.write(json.dumps({"condition": name, "seed": seed, **run,
                                        "load": os.getloadavg()}) + "\n")
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
