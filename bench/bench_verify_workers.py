"""Can Ed25519 verification leave the daemon's core thread? Verifications per second of wall
time, on this machine as it is loaded right now, for the same work done

* in the calling thread;
* in two threads (only faster if the verification releases the GIL: libsodium through
  PyNaCl's cffi bindings does, for the C part of each call);
* in two processes, half each (what the machine's free cores allow, with no GIL shared): if
  two threads come as close to this as they do to one thread's time, the GIL is not what
  limits them, the machine's load is;
* in the calling process plus a worker process fed batches over a pipe (as a verifying
  worker beside the daemon's core would be).

    python bench/bench_verify_workers.py [--messages 4000] [--batch 64] [--rounds 1]

`--rounds` repeats the rows in turn, so that they share the machine's moments of load.

CPU time (all threads and children) is printed beside wall time, and the load average beside
every line: on a machine with no idle core a second thread or process cannot help.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import header

from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import create_post, signing_key_of, verify_message
from meshnode.crypto.verify import ed25519_valid
from meshnode.wire import Message, decode_body

Work = list[tuple[bytes, bytes, bytes]]  # (key, signature, signed bytes)


def work(count: int) -> Work:
    author = Identity.generate()
    out = []
    for i in range(count):
        msg: Message = create_post(author, "wijk", f"bericht {i}", 1_790_000_000)
        verify_message(msg)
        out.append((signing_key_of(decode_body(msg.kind, msg.body)), msg.sig, msg.signed_bytes))
    return out


def verify_all(items: Work) -> int:
    return sum(ed25519_valid(k, s, d) for k, s, d in items)


def _worker(conn: Connection) -> None:
    while True:
        items = conn.recv()
        if items is None:
            return
        conn.send([ed25519_valid(k, s, d) for k, s, d in items])


def in_parallel(items: Work, count: int, kind: Callable[..., Any]) -> None:
    """Split `items` into `count` shares, each verified by its own `kind` (a thread or a
    process), all at once."""
    share = len(items) // count
    workers = [kind(target=verify_all, args=(items[i * share:(i + 1) * share],))
               for i in range(count)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def with_process(items: Work, batch: int) -> None:
    """Alternate batches: every other one goes to the worker, the rest is verified here."""
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=_worker, args=(child,))
    proc.start()
    try:
        for i in range(0, len(items), 2 * batch):
            parent.send(items[i:i + batch])
            verify_all(items[i + batch:i + 2 * batch])
            parent.recv()
    finally:
        parent.send(None)
        proc.join()


def measure(name: str, fn: object, count: int) -> None:
    assert callable(fn)
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), os.times()
    fn()
    wall, c1 = time.perf_counter() - t0, os.times()
    cpu = (c1.user + c1.system + c1.children_user + c1.children_system
           - c0.user - c0.system - c0.children_user - c0.children_system)
    print(f"| {name} | {count / wall:,.0f} | {wall:.2f} | {cpu:.2f} | {load:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    header("Ed25519 verification: calling thread, two threads, two processes, a worker process")
    items = work(args.messages)
    print("| where | verifications/s (wall) | wall s | CPU s | load |")
    print("|---|---:|---:|---:|---:|")
    fork = mp.get_context("fork")
    for _ in range(args.rounds):
        measure("calling thread", lambda: verify_all(items), len(items))
        measure("two threads", lambda: in_parallel(items, 2, threading.Thread), len(items))
        measure("two processes", lambda: in_parallel(items, 2, fork.Process), len(items))
        measure(f"here + a worker process (batches of {args.batch})",
                lambda: with_process(items, args.batch), len(items))


if __name__ == "__main__":
    main()
