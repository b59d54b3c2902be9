"""Capture real reconciliation pairs from the default scenario, for bench/bench_recon_split.py.

Runs the simulation (1,000 nodes by default) and keeps every `--every`-th reconciliation
session's two snapshots: the initiator's and the responder's items with their classes, as the
two sides brought them to the session (§10.2), and the simulated hour it started in. The pairs
are matched by the opening's bytes (the responder's first message received is the initiator's
opening). Written as one pickle (a list of dicts), so that split policies can be compared on the
differences the network really produces, not on a model of them.

It measures by wrapping `Reconciler` methods in this process (a measurement tool, not product
code; the wrappers change no result).

    python bench/capture_recon_pairs.py --nodes 1000 --hours 5 --every 40 --out pairs.pickle
"""

from __future__ import annotations

import argparse
import pickle
from typing import Any

from meshnode.routing.reconcile import Reconciler
from sim.bench import scaled
from sim.driver import Simulation
from sim.scenario import bundled

HOUR = 3600.0


def _snapshot(recon: Reconciler) -> tuple[list[Any], list[int]]:
    items = recon._items  # measurement only: the session's snapshot
    n = len(items)
    return list(items.items(0, n)), list(items.classes(0, n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=5)
    parser.add_argument("--every", type=int, default=40)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    clock = {"hour": 0, "openings": 0}
    waiting: dict[bytes, tuple[int, tuple[list[Any], list[int]]]] = {}
    pairs: list[dict[str, Any]] = []
    initiate, receive = Reconciler.initiate, Reconciler.receive

    def initiate_probe(self: Reconciler) -> bytes:
        data = initiate(self)
        clock["openings"] += 1
        if clock["openings"] % args.every == 0:
            waiting[data] = (clock["hour"], _snapshot(self))
        return data

    def receive_probe(self: Reconciler, data: bytes) -> bytes | None:
        if self.rounds == 0 and data in waiting:
            hour, (items, classes) = waiting.pop(data)
            mine, mine_classes = _snapshot(self)
            pairs.append({"hour": hour, "initiator": items, "initiator_classes": classes,
                          "responder": mine, "responder_classes": mine_classes})
        return receive(self, data)

    Reconciler.initiate = initiate_probe  # type: ignore[method-assign]
    Reconciler.receive = receive_probe  # type: ignore[method-assign]
    sim = Simulation(scaled(bundled("neighbourhood"), args.nodes, args.hours * HOUR))

    def progress(t: float, _events: int) -> None:
        if int(t // HOUR) != clock["hour"]:
            clock["hour"] = int(t // HOUR)
            waiting.clear()  # openings never answered (lost links) are not kept
    sim.run(progress)
    with open(args.out, "wb") as f:
        pickle.dump(pairs, f)
    print(f"{len(pairs)} pairs written to {args.out}")


if __name__ == "__main__":
    main()
