"""CPU µs per `MemoryStore.put` into a store already holding n messages.

A simulated node's store grows all day (hundreds to thousands of messages), and each put keeps
the store's sorted indexes; this shows how the cost of one put follows n. For each n, best of
`--repeats` stores: fill with n messages, then time `--puts` more (CPU clock).

    python bench/bench_memory_put.py --sizes 100,300,1000,3000
"""

from __future__ import annotations

import argparse
import time

from bench_store import make_messages

from meshnode.store import MemoryStore


def per_put(n: int, puts: int, seed: int) -> float:
    msgs = make_messages(n + puts, seed)
    store = MemoryStore(64 * 2**20)
    for m in msgs[:n]:
        store.put(m, 0)
    start = time.process_time()
    for m in msgs[n:]:
        store.put(m, 0)
    return (time.process_time() - start) / puts * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,300,1000,3000")
    parser.add_argument("--puts", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for n in (int(s) for s in args.sizes.split(",")):
        best = min(per_put(n, args.puts, seed) for seed in range(args.repeats))
        print(f"n={n}: {best:.1f} µs per put (best of {args.repeats} x {args.puts})")


if __name__ == "__main__":
    main()
