"""Store benchmark: SQLite accepted puts per second, MemoryStore speed and bytes per message.

Usage: python bench/bench_store.py [--dir DIR] [--count N]

--dir chooses where the SQLite file lives (the disk under test; default: the system temp dir).
Figures depend on the disk's fsync latency: synchronous=FULL syncs the WAL on every commit.
"""

from __future__ import annotations

import argparse
import gc
import random
import sqlite3
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from common import header

from meshnode.store import MemoryStore, PutResult, SqliteStore, StoredMessage
from meshnode.store.base import MESSAGE_OVERHEAD

RAW_SIZE = 300


def make_messages(count: int, seed: int) -> list[StoredMessage]:
    rng = random.Random(seed)
    return [
        StoredMessage(
            id=rng.randbytes(16),
            kind=rng.randint(1, 5),
            raw=rng.randbytes(RAW_SIZE),
            priority=rng.randint(1, 5),
            created=1_700_000_000 + rng.randrange(86_400),
            expires=1_800_000_000,
            received=1_700_000_000,
            channel=rng.choice([None, "buurt", "hub-noord"]),
            tag=rng.randbytes(8) if rng.random() < 0.3 else None,
        )
        for _ in range(count)
    ]


def per_second(count: int, action: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    return count / (time.perf_counter() - start)


def bench_sqlite(directory: Path, count: int) -> None:
    msgs = make_messages(count, seed=1)
    now = 1_700_000_000

    def single(store: SqliteStore) -> Callable[[], None]:
        def run() -> None:
            for m in msgs:
                assert store.put(m, now) is PutResult.ACCEPTED

        return run

    def batched(store: SqliteStore, size: int) -> Callable[[], None]:
        def run() -> None:
            for i in range(0, len(msgs), size):
                store.put_many(msgs[i : i + size], now)

        return run

    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        path = Path(tmp)
        store = SqliteStore(path / "single.db", 1 << 34)
        print(
            f"  put, one commit each (synchronous=FULL): {per_second(count, single(store)):9.0f} /s"
        )
        report_listing(store)
        store.close()
        for size in (10, 100):
            store = SqliteStore(path / f"batch{size}.db", 1 << 34)
            per_s = per_second(count, batched(store, size))
            print(f"  put_many, {size:3d} per commit:                {per_s:9.0f} /s")
            store.close()
        # Full store: every put evicts one message (its own transaction).
        capacity = (count // 4) * (RAW_SIZE + MESSAGE_OVERHEAD)
        store = SqliteStore(path / "full.db", capacity)
        store.put_many(make_messages(count // 4, seed=2), now)
        fresh = make_messages(count, seed=3)
        start = time.perf_counter()
        accepted = sum(store.put(m, now) is PutResult.ACCEPTED for m in fresh)
        per_s = count / (time.perf_counter() - start)
        print(
            f"  put into a full store (with eviction):   {per_s:9.0f} /s "
            f"({accepted}/{count} accepted)"
        )
        store.close()


def report_listing(store: SqliteStore | MemoryStore) -> None:
    start = time.perf_counter()
    pairs = store.ids_since(0)
    elapsed = time.perf_counter() - start
    print(f"  ids_since(0) over {len(pairs)} messages:       {elapsed * 1000:9.1f} ms")


def bench_memory(count: int) -> None:
    msgs = make_messages(count, seed=4)
    now = 1_700_000_000
    timed = MemoryStore(1 << 34)
    start = time.perf_counter()
    for m in msgs:
        timed.put(m, now)
    elapsed = time.perf_counter() - start
    print(f"  put:                                     {count / elapsed:9.0f} /s")
    report_listing(timed)
    del timed
    # Footprint of the store's own structures: the messages already exist outside the trace.
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    store = MemoryStore(1 << 34)
    for m in msgs:
        store.put(m, now)
    gc.collect()
    index_bytes = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert store.usage().count == count
    # The messages themselves, measured the same way (built inside the trace this time).
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    again = make_messages(count, seed=4)
    gc.collect()
    message_bytes = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del again
    total = (index_bytes + message_bytes) / count
    print(f"  store structures per message (dict, indexes): {index_bytes / count:6.0f} B")
    print(f"  one StoredMessage with {RAW_SIZE} B raw:          {message_bytes / count:6.0f} B")
    print(f"  total per stored message:                {total:6.0f} B")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    header("message store")
    print(f"SQLite {sqlite3.sqlite_version}")
    print(f"SqliteStore in {args.dir} ({args.count} messages of {RAW_SIZE} B raw)")
    bench_sqlite(args.dir, args.count)
    print(f"MemoryStore ({args.count} messages of {RAW_SIZE} B raw)")
    bench_memory(args.count)


if __name__ == "__main__":
    main()
