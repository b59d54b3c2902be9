"""The fresh split of §10.2 against splitting by count alone (issue 17, session 10).

Runs the same reconciliation sessions with two split rules, `ReconcileConfig()` (the fresh
split: a range holding the sender's newest item sends its items older than `fresh_window` as
one fingerprint) and `ReconcileConfig(fresh_window=0)` (count alone, the rule before), and
checks that each session learns the same difference with both rules and with either rule on
either side (old and new nodes interoperate). Prints, per group of sessions, the best of
`--runs` CPU timings (process time, both sides, sets built beforehand) in µs per session, the
mean bytes both ways and the mean and largest number of messages.

Sessions come from one of:

* `--pairs FILE`: real pairs written by bench/capture_recon_pairs.py, grouped by simulated
  hour; `--pad N` adds N older items that both sides hold alike (class 0, over the 20 hours
  before the oldest), to see the same differences in a store a day old;
* `--synthetic N,N,...`: N items created at 110 per hour (the default scenario's store growth
  per node), 17 class differences and 6 ids only on each side, all created in the last two
  hours (what fading leaves to differ on), `--old-only K` of those ids instead spread over the
  whole store;
* `--spread N,N,...`: N items over 72 hours, d = 24 differences spread over all of them
  (bench/bench_reconcile.py's shape: the worst case for the fresh split).

    python bench/bench_recon_split.py --synthetic 350,1000,2000,4000,10000
    python bench/bench_recon_split.py --pairs pairs.pickle --pad 1800
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import time
from collections.abc import Iterable
from typing import Any

from meshnode.routing.reconcile import (
    FRESH_WINDOW,
    GIVES_LIVE,
    HELD,
    Item,
    ReconcileConfig,
    Reconciler,
    SortedItems,
)

NOW = 1_790_100_000
RULES = {"count": ReconcileConfig(fresh_window=0), "fresh": ReconcileConfig()}
Pair = tuple[SortedItems, SortedItems]


def _describe(item_id: bytes, cls: int) -> int:
    return GIVES_LIVE if cls else HELD


def session(a: SortedItems, b: SortedItems, ca: ReconcileConfig, cb: ReconcileConfig
            ) -> tuple[int, int, frozenset[bytes], frozenset[bytes]]:
    """One whole session: bytes both ways, messages, and what the initiator learnt."""
    initiator = Reconciler(a, initiator=True, config=ca, describe=_describe)
    responder = Reconciler(b, initiator=False, config=cb, describe=_describe)
    message: bytes | None = initiator.initiate()
    size = messages = 0
    while message is not None:
        reply = responder.receive(message)
        size, messages = size + len(message) + len(reply), messages + 2
        message = initiator.receive(reply)
    return size, messages, initiator.have_ids, initiator.need_ids


def compare(pairs: list[Pair], runs: int) -> dict[str, Any]:
    """Both rules on `pairs`; raises AssertionError if any combination learns otherwise."""
    out: dict[str, Any] = {"sessions": len(pairs),
                           "items_per_side": round(sum(len(a) for a, _ in pairs) / len(pairs))}
    for a, b in pairs:
        learnt = {session(a, b, ca, cb)[2:] for ca in RULES.values() for cb in RULES.values()}
        assert len(learnt) == 1, "the rules disagree on a difference"
    for name, config in RULES.items():
        best = float("inf")
        for _ in range(runs):
            cpu = time.process_time()
            for a, b in pairs:
                session(a, b, config, config)
            best = min(best, (time.process_time() - cpu) / len(pairs) * 1e6)
        costs = [session(a, b, config, config)[:2] for a, b in pairs]
        out[name] = {"us": round(best), "bytes": round(sum(c[0] for c in costs) / len(costs)),
                     "messages": round(sum(c[1] for c in costs) / len(costs), 2),
                     "max_messages": max(c[1] for c in costs)}
    return out


def _sets(shared: list[Item], classes: dict[bytes, int], other: dict[bytes, int],
          a_only: list[Item], b_only: list[Item]) -> Pair:
    def cls(items: Iterable[Item]) -> dict[bytes, int]:
        return {i: 1 if NOW - t < FRESH_WINDOW else 0 for t, i in items}
    return (SortedItems(shared + a_only, classes | cls(a_only)),
            SortedItems(shared + b_only, other | cls(b_only)))


def synthetic(n: int, seed: int, old_only: int, class_diffs: int = 17, only: int = 6) -> Pair:
    rnd = random.Random(seed)
    span = n * 3600 // 110

    def fresh(k: int, window: int) -> list[Item]:
        return [(NOW - rnd.randrange(window), rnd.randbytes(16)) for _ in range(k)]
    shared = fresh(n, span)
    classes = {i: 1 if NOW - t < FRESH_WINDOW else 0 for t, i in shared}
    recent = [item for item in shared if NOW - item[0] < FRESH_WINDOW]
    other = dict(classes)
    for _, item_id in rnd.sample(recent, min(class_diffs, len(recent))):
        other[item_id] ^= 1
    return _sets(shared, classes, other,
                 fresh(only - old_only, FRESH_WINDOW) + fresh(old_only, span),
                 fresh(only - old_only, FRESH_WINDOW) + fresh(old_only, span))


def spread(n: int, seed: int, d: int = 24) -> Pair:
    rnd = random.Random(seed)
    items = [(NOW - rnd.randrange(72 * 3600), rnd.randbytes(16)) for _ in range(n + d)]
    classes = dict.fromkeys((i for _, i in items), 0)
    return _sets(items[:n - d // 2], classes, classes, items[n - d // 2:n], items[n:])


def captured(path: str, per_hour: int, pad: int) -> dict[int, list[Pair]]:
    with open(path, "rb") as f:
        raw: list[dict[str, Any]] = pickle.load(f)
    rnd = random.Random(1)
    by_hour: dict[int, list[dict[str, Any]]] = {}
    for p in raw:
        by_hour.setdefault(p["hour"], []).append(p)
    out: dict[int, list[Pair]] = {}
    for hour, group in sorted(by_hour.items()):
        pairs = []
        for p in rnd.sample(group, min(per_hour, len(group))):
            first = min((p[side][0][0] for side in ("initiator", "responder") if p[side]),
                        default=NOW)
            old = [(first - 1 - rnd.randrange(20 * 3600), rnd.randbytes(16)) for _ in range(pad)]
            zero = dict.fromkeys((i for _, i in old), 0)
            pairs.append(tuple(SortedItems(
                p[side] + old, dict(zip((i for _, i in p[side]), p[f"{side}_classes"],
                                        strict=True)) | zero)
                for side in ("initiator", "responder")))
        out[hour] = pairs  # type: ignore[assignment]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs")
    parser.add_argument("--pad", type=int, default=0)
    parser.add_argument("--per-hour", type=int, default=60)
    parser.add_argument("--synthetic", default="")
    parser.add_argument("--old-only", type=int, default=0)
    parser.add_argument("--spread", default="")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.pairs:
        for hour, pairs in captured(args.pairs, args.per_hour, args.pad).items():
            print(json.dumps({"hour": hour, "pad": args.pad, **compare(pairs, args.runs)}),
                  flush=True)
    for n in (int(x) for x in args.synthetic.split(",") if x):
        pairs = [synthetic(n, seed, args.old_only) for seed in range(args.seeds)]
        print(json.dumps({"synthetic": n, "old_only": args.old_only,
                          **compare(pairs, args.runs)}), flush=True)
    for n in (int(x) for x in args.spread.split(",") if x):
        pairs = [spread(n, seed) for seed in range(args.seeds)]
        print(json.dumps({"spread": n, **compare(pairs, args.runs)}), flush=True)


if __name__ == "__main__":
    main()
