"""The hub's core thread per received post, in one process: this tree against another commit.

    python bench/bench_hub_core.py [--base 0570e36] [--runs 3] [--messages 4000] [--batch 40]
                                   [--overlap]

A `Node` with a real `SqliteStore` (a file in a temporary directory, WAL, synchronous=FULL)
takes `--messages` pre-encoded post frames (from throw-away authors, the abuse limits out of
the way as in bench_daemon.py) on one link, in group commits of `--batch` frames: the calling
thread runs `begin_batch`, the frames' `receive` and `get_timer`, and a worker thread runs
`commit_batch`, as the daemon did before overlap. With `--overlap` (a tree whose `Node` has
`seal_batch`; an older one runs as without), as the daemon does now: batch k is sealed and
committed on the worker (`commit_sealed`) while the calling thread runs batch k+1, and k lands
(`land_batch`) before k+1 is sealed; the wall time then shows what the overlap saves. The
figure is the calling thread's CPU time per message
(`time.thread_time`: the core's share, without the UDP link layer and trio), beside the
process's CPU (the commit thread included) and the wall time. CPU time is what a loaded
machine disturbs least, so this isolates what the store and the node cost the core.

With `--base`, that commit's tree (`git archive` into a temporary directory) and this one run
alternately, `--runs` times each, every run in a fresh process importing its tree through
`PYTHONPATH`; each run prints the tree it imported. The load average is printed beside each.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
FAST = 1_000_000.0


def one(messages: int, batch: int, overlap: bool) -> dict[str, object]:
    """One run in this process, with whatever `meshnode` PYTHONPATH gives."""
    import dataclasses

    import meshnode
    from meshnode.crypto.authority import TrustStore
    from meshnode.crypto.identity import Identity
    from meshnode.daemon.harness import fast_config, make_posts
    from meshnode.node import Node
    from meshnode.routing.frames import NONCE_SIZE, Hello, Msg, encode_frame
    from meshnode.store import SqliteStore

    frames = [encode_frame(Msg(raw)) for raw in make_posts(messages)]
    base = fast_config()
    settings = dataclasses.replace(base.node, peer_rate=FAST, peer_burst=FAST, post_rate=FAST,
                                   post_burst=FAST, serve_rate=FAST, serve_burst=FAST,
                                   store_mb=256)
    with tempfile.TemporaryDirectory(prefix="meshnode-hub-core-") as tmp:
        store = SqliteStore(Path(tmp) / "messages.db", 256 * 1024 * 1024)
        now = int(time.time())
        node = Node(Identity.generate(), store, TrustStore([]), now, settings.node_config())
        link = "bench"
        node.link_up(link, now)
        node.receive(link, encode_frame(Hello(nonce=os.urandom(NONCE_SIZE))), now)
        overlap = overlap and hasattr(node, "seal_batch")
        with ThreadPoolExecutor(1) as commits:
            wall, cpu, core = time.perf_counter(), time.process_time(), time.thread_time()
            flight = None
            for i in range(0, messages, batch):
                node.begin_batch()
                for frame in frames[i:i + batch]:
                    node.receive(link, frame, now)
                node.get_timer()
                if not overlap:
                    commits.submit(node.commit_batch).result()
                    continue
                if flight is not None:
                    flight.result()
                    node.land_batch()
                node.seal_batch()
                flight = commits.submit(node.commit_sealed)
            if flight is not None:
                flight.result()
                node.land_batch()
            core = time.thread_time() - core
            cpu = time.process_time() - cpu
            wall = time.perf_counter() - wall
        stored = store.usage().count
        store.close()
    return {"tree": str(Path(meshnode.__file__).parent.parent), "messages": messages,
            "stored": stored, "core_ms": 1000 * core / messages,
            "process_ms": 1000 * cpu / messages, "wall_s": wall,
            "mode": "overlap" if overlap else "serial"}


def main() -> None:
    sys.path.insert(0, str(HERE / "bench"))
    from bench_hub_receive import compare, tree_options, tree_table

    parser = tree_options(__doc__, 4_000)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--overlap", action="store_true",
                        help="commit batch k while the next one runs (trees that can)")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.messages, args.batch, args.overlap)))
        return
    runs = compare(__file__, args.base, args.runs, "--messages", str(args.messages),
                   "--batch", str(args.batch), *(["--overlap"] if args.overlap else []))
    tree_table(args.base, runs, [
        ("core thread ms per message", "core_ms", 3), ("process CPU ms per message",
                                                       "process_ms", 3),
        (f"wall s for {args.messages:,}", "wall_s", 2), ("stored", "stored", None),
        ("mode", "mode", None), ("load", "load", None)])


if __name__ == "__main__":
    main()
