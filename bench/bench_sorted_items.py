"""CPU of keeping the reconciled set up to date, against its size (issue 17).

A node takes a snapshot of its reconciled set (`SortedItems`) at every Hello; between two
contacts a few items change, so the snapshot is `updated` from the last one. This times, for
sets of n items: one `updated` adding one item (the common case), the bisection and range
fingerprint reconciliation does per range, and finding what a newer snapshot added
(`added_since`, or a set of the older snapshot where the tree lacks it). Runs on any tree
with `SortedItems` (the older list-based one too), so a before/after compares like with like:

    python bench/bench_sorted_items.py                      # this tree
    PYTHONPATH=/tmp/before python bench/bench_sorted_items.py   # another, from its own root
"""

from __future__ import annotations

import argparse
import json
import random
import time

from meshnode.routing.reconcile import Item, SortedItems

EPOCH = 1_700_000_000


def _items(rnd: random.Random, count: int) -> list[Item]:
    return [(EPOCH + rnd.randrange(3 * 86400), rnd.randbytes(16)) for _ in range(count)]


def _added(new: SortedItems, old: SortedItems) -> list[Item]:
    if hasattr(new, "added_since"):
        return list(new.added_since(old))
    sent = set(old.items(0, len(old)))  # what the list-based tree's node did
    return [item for item in new.items(0, len(new)) if item not in sent]


def measure(n: int, rounds: int, seed: int) -> dict[str, float]:
    rnd = random.Random(seed)
    base = SortedItems(_items(rnd, n))
    news = _items(rnd, rounds)
    s = base
    cpu = time.process_time()
    for item in news:
        s = s.updated(add=[item])
    update = (time.process_time() - cpu) / rounds
    probes = [base.items(i, i + 1)[0] for i in range(0, n, max(1, n // 200))]
    cpu = time.process_time()
    for _ in range(20):
        for item in probes:
            i = s.bisect(item)
            s.fingerprint(i // 2, i)
    lookup = (time.process_time() - cpu) / (20 * len(probes))
    older = s
    newer = s.updated(add=_items(rnd, 3))
    cpu = time.process_time()
    for _ in range(50):
        found = _added(newer, older)
    diff = (time.process_time() - cpu) / 50
    assert len(found) == 3
    return {"n": n, "updated_us": round(update * 1e6, 1),
            "bisect_fingerprint_us": round(lookup * 1e6, 2),
            "added_us": round(diff * 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="300,1000,3000,10000")
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for n in (int(x) for x in args.sizes.split(",")):
        print(json.dumps(measure(n, args.rounds, args.seed)), flush=True)


if __name__ == "__main__":
    main()
