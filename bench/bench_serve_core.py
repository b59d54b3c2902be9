"""The serving side of a sync per message sent, in one process: this tree against another commit.

    python bench/bench_serve_core.py [--base 5f03a7a] [--runs 3] [--messages 6000]

A `Node` ("A") with a real `SqliteStore` (a file in a temporary directory, WAL) holding
`--messages` posts (from throw-away authors, put in one transaction before A starts, as
`bench_daemon.py --only sync` prefills its daemon A) syncs them to an empty node B (in memory)
through `meshnode.testing.Mesh`, which delivers frames at once, in order: B's Hello, the
reconciliation, B's Wants and A's bursts of posts. The figure is the CPU time of the calling
thread inside A's calls (`link_up`, `receive`, `ready`, `handle_timer`; `time.thread_time`)
per post B stored: what the serving core costs without the UDP link layer and trio (its sync
set built from the store, the ranges it lists, the Wants it answers, the bursts it makes).

With `--base`, that commit's tree (`git archive` into a temporary directory) and this one run
alternately, `--runs` times each, every run in a fresh process importing its tree through
`PYTHONPATH`. The load average is printed beside each.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
FAST = 1_000_000.0


def one(messages: int) -> dict[str, object]:
    """One run in this process, with whatever `meshnode` PYTHONPATH gives."""
    import dataclasses

    import meshnode
    from meshnode.crypto.authority import TrustStore
    from meshnode.crypto.identity import Identity
    from meshnode.daemon.harness import fast_config, make_posts
    from meshnode.node import Node
    from meshnode.store import Priority, SqliteStore, StoredMessage
    from meshnode.testing import Mesh
    from meshnode.wire import Kind, PostBody, decode_body, decode_message

    base = fast_config()
    config = dataclasses.replace(base.node, peer_rate=FAST, peer_burst=FAST, post_rate=FAST,
                                 post_burst=FAST, serve_rate=FAST, serve_burst=FAST,
                                 store_mb=256).node_config()
    now = int(time.time())
    posts = []
    for raw in make_posts(messages):
        msg = decode_message(raw)
        body = decode_body(Kind.POST, msg.body)
        assert isinstance(body, PostBody)
        posts.append(StoredMessage(id=msg.id, kind=int(Kind.POST), raw=raw,
                                   priority=int(Priority.POST), created=body.created,
                                   expires=body.expires, received=now, channel=body.channel))
    with tempfile.TemporaryDirectory(prefix="meshnode-serve-core-") as tmp:
        store = SqliteStore(Path(tmp) / "messages.db", 256 * 1024 * 1024)
        store.put_many(posts, now)
        mesh = Mesh()
        a = Node(Identity.generate(), store, TrustStore([]), now, config)
        spent = [0.0]
        for name in ("link_up", "receive", "ready", "handle_timer"):
            setattr(a, name, _timed(getattr(a, name), spent))
        mesh.nodes["A"] = a
        mesh.add("B", now, config, capacity=256 * 1024 * 1024)
        wall = time.perf_counter()
        mesh.connect("A", "B", now)
        wall = time.perf_counter() - wall
        got = mesh.nodes["B"].held.usage().count
        store.close()
    return {"tree": str(Path(meshnode.__file__).parent.parent), "messages": messages,
            "received": got, "serve_ms": 1000 * spent[0] / max(got, 1), "wall_s": wall}


def _timed(call: Any, spent: list[float]) -> Any:
    def timed(*args: Any) -> Any:
        start = time.thread_time()
        try:
            return call(*args)
        finally:
            spent[0] += time.thread_time() - start
    return timed


def main() -> None:
    sys.path.insert(0, str(HERE / "bench"))
    from bench_hub_receive import compare_trees, tree_table

    compared = compare_trees(__file__, __doc__, 6_000, one)
    if compared is None:
        return
    args, runs = compared
    tree_table(args.base, runs, [
        ("serving core: CPU ms per post sent", "serve_ms", 3),
        (f"wall s for {args.messages:,} (both nodes)", "wall_s", 2),
        ("received", "received", None), ("load", "load", None)])


if __name__ == "__main__":
    main()
