"""CPU of one reconciliation session shaped like the simulator's later hours (issue 17).

Two sets share `--n` items, half of them class 1 (a live copy, flagged GIVES_LIVE) and half
class 0 (a dead copy, flagged HELD, so their ids travel with their times); `--class-diffs` of
the shared ids are held in the other class on the second side, and `--only` more ids are held
by each side alone. That is the shape `bench/probe_sync_differences.py` counts in the default
scenario (in its hour 2: about 350 items, 18 class differences, 6 ids on each side only).
Prints the session's bytes and messages, and the best of `--runs` timings of `--repeat`
sessions (process CPU, both sides, item sets built beforehand), in µs per session.

    python bench/bench_reconcile_classes.py --n 350 --class-diffs 17 --only 6
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable

from meshnode.routing.reconcile import GIVES_LIVE, HELD, Item, Reconciler, SortedItems

EPOCH = 1_700_000_000
SPAN = 3 * 3600


def _describe(item_id: bytes, cls: int) -> int:
    return GIVES_LIVE if cls else HELD


def sets(n: int, class_diffs: int, only: int, seed: int) -> tuple[SortedItems, SortedItems]:
    rng = random.Random(seed)

    def fresh(k: int) -> list[Item]:
        return [(EPOCH + rng.randrange(SPAN), rng.randbytes(16)) for _ in range(k)]
    shared = fresh(n)
    first = {item_id: rng.randrange(2) for _, item_id in shared}
    second = dict(first)
    for _, item_id in rng.sample(shared, class_diffs):
        second[item_id] ^= 1
    return (SortedItems(shared + fresh(only), first),
            SortedItems(shared + fresh(only), second))


def session(a: SortedItems, b: SortedItems,
            describe: Callable[[bytes, int], int] = _describe) -> tuple[int, int]:
    """One whole session; returns (bytes both ways, messages)."""
    initiator = Reconciler(a, initiator=True, describe=describe)
    responder = Reconciler(b, initiator=False, describe=describe)
    message: bytes | None = initiator.initiate()
    size, messages = 0, 0
    while message is not None:
        reply = responder.receive(message)
        size, messages = size + len(message) + len(reply), messages + 2
        message = initiator.receive(reply)
    return size, messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=350)
    parser.add_argument("--class-diffs", type=int, default=17)
    parser.add_argument("--only", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    a, b = sets(args.n, args.class_diffs, args.only, args.seed)
    size, messages = session(a, b)
    timings = []
    for _ in range(args.runs):
        cpu = time.process_time()
        for _ in range(args.repeat):
            session(a, b)
        timings.append((time.process_time() - cpu) / args.repeat * 1e6)
    print(json.dumps({"n": args.n, "class_diffs": args.class_diffs, "only": args.only,
                      "bytes": size, "messages": messages,
                      "best_us_per_session": round(min(timings)),
                      "us_per_session": sorted(round(t) for t in timings)}))


if __name__ == "__main__":
    main()
