"""Writes to a SqliteStore until killed; reports each durable write on stdout.

Usage: python crash_writer.py DB_PATH SEED [batch]

After `put`/`put_many` returns ACCEPTED it prints `put <hex id>` for each accepted id; after
`set_meta` returns it prints `meta <n>`. Each line is flushed before the next write starts, so
every reported write must be in the database whenever the process dies.

With `batch`, the writes go in group commits (`begin_batch` ... `commit_batch`): before each
commit it prints `batch <hex id>,...` (the batch's accepted ids: all or none of them may be in
the database), and the `put` lines only once the commit returned.
"""

from __future__ import annotations

import random
import sys

from meshnode.store import PutResult, SqliteStore, StoredMessage


def main(path: str, seed: int, batched: bool) -> None:
    rng = random.Random(seed)
    store = SqliteStore(path, 1 << 30)
    counter = int.from_bytes(store.get_meta("counter") or b"\x00", "big")
    out = sys.stdout
    while True:
        batch = [
            StoredMessage(
                id=rng.randbytes(16),
                kind=1,
                raw=rng.randbytes(rng.randint(50, 2000)),
                priority=rng.randint(1, 5),
                created=rng.randint(0, 10**6),
                expires=2 * 10**9,
                received=0,
                channel=rng.choice([None, "buurt"]),
            )
            for _ in range(rng.choice([1, 1, 1, 7, 40] if batched else [1, 1, 1, 7]))
        ]
        if batched:
            store.begin_batch()
            done = [m for m in batch if store.put(m, 1) is PutResult.ACCEPTED]
            if done:
                out.write(f"batch {','.join(m.id.hex() for m in done)}\n")
                out.flush()
            store.commit_batch()
        else:
            results = store.put_many(batch, 1) if len(batch) > 1 else [store.put(batch[0], 1)]
            done = [m for m, r in zip(batch, results, strict=True) if r is PutResult.ACCEPTED]
        for msg in done:
            out.write(f"put {msg.id.hex()}\n")
        out.flush()
        if rng.random() < 0.2:
            counter += 1
            store.set_meta("counter", counter.to_bytes(8, "big"))
            out.write(f"meta {counter}\n")
            out.flush()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:] == ["batch"])
