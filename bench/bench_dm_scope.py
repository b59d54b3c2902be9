"""DM delivery, acknowledgement and stored receipts per node, before/after a routing change.

Issue 15 changed DM tags to pair tags (docs/protocol.md §5.1) and scoped receipts to the DM's
travel (§4.4). This runs a bundled scenario (scaled to `--nodes` when given) for each seed and
prints, per run: DMs created and delivered, delivery latency p50, the ratio to the oracle,
the share the sender saw acknowledged, the receipts and all messages stored per node at the
end (mean, max), and CPU and wall seconds. Run it in two trees to compare:

    python bench/bench_dm_scope.py small --hours 6 --seeds 1 2 3
    python bench/bench_dm_scope.py neighbourhood --nodes 300 --hours 6 --seeds 1
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

from sim.bench import scaled
from sim.driver import Simulation
from sim.metrics import summarise
from sim.scenario import bundled

HOUR = 3600.0
RECEIPT = 3  # the wire kind


def run(name: str, nodes: int | None, hours: float, seed: int) -> dict[str, float]:
    base = bundled(name)
    scenario = (scaled(base, nodes, hours * HOUR) if nodes else dataclasses.replace(
        base, scenario=dataclasses.replace(base.scenario, duration=hours * HOUR)))
    scenario = dataclasses.replace(scenario,
                                   scenario=dataclasses.replace(scenario.scenario, seed=seed))
    wall, cpu = time.perf_counter(), time.process_time()
    sim = Simulation(scenario)
    outcome = sim.run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    dms = summarise(outcome, wall, cpu)["dms"]
    receipts = [len(node.store.by_kind(RECEIPT)) for node in sim.nodes]
    stored = [node.store.usage().count for node in sim.nodes]
    return {
        "seed": seed, "dms": dms["created"], "delivered": dms["delivered"],
        "ratio": dms["delivery_ratio"], "to_oracle": dms["ratio_to_oracle"] or 0.0,
        "p50_s": (dms["latency"] or {}).get("p50") or 0.0,
        "acked": dms["sender_sees"]["acknowledged_ratio"],
        "receipts_mean": statistics.fmean(receipts), "receipts_max": max(receipts),
        "stored_mean": statistics.fmean(stored), "cpu_s": cpu, "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario")
    parser.add_argument("--nodes", type=int, default=None)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    for seed in args.seeds:
        row = run(args.scenario, args.nodes, args.hours, seed)
        print("  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in row.items()), flush=True)


if __name__ == "__main__":
    main()
