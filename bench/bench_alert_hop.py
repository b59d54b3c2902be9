"""A relay's work on one alert, in one process: this tree against another commit.

    python bench/bench_alert_hop.py [--base main] [--runs 3] [--messages 300]

A `Node` on a real `SqliteStore` (a file in a temporary directory, WAL, synchronous=FULL),
linked with two in-memory peers (`meshnode.testing.Mesh`), takes `--messages` alerts of the
example authority (2 languages, one polygon each, its certificate cached after the first)
from one peer and relays each to the other, each alert in its own group commit as the
daemon's hop does. The figures are the `receive` of each alert frame at the relay, the work
of a hop on the core's thread without the link layer and the commit: the median and mean CPU
time of the calling thread (`time.thread_time`) per alert, in ms, so a loaded machine
disturbs it less than wall time. The commit itself (an fsync) is not timed.

With `--base`, that commit's tree (`git archive` into a temporary directory) and this one run
alternately, `--runs` times each, every run in a fresh process importing its tree through
`PYTHONPATH`; the load average is printed beside each.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def one(alerts: int) -> dict[str, object]:
    """One run in this process, with whatever `meshnode` PYTHONPATH gives."""
    import meshnode
    from meshnode.alerts.examples import example_authority
    from meshnode.crypto.identity import Identity
    from meshnode.events import AlertReceived
    from meshnode.node import Node, NodeConfig
    from meshnode.store.sqlite import SqliteStore
    from meshnode.testing import Mesh
    from meshnode.wire import encode_message

    now = int(time.time())
    authority = example_authority(now - 10, root_name="Bench root", issuer_name="Bench region",
                                  issuer_id="bench-vr")
    data = [encode_message(authority.alert(now, seq=i + 1, identifier=f"bench.{now}.{i}"))
            for i in range(alerts)]
    cpu: list[float] = []
    with tempfile.TemporaryDirectory(prefix="meshnode-alert-hop-") as tmp:
        mesh = Mesh(trust=authority.trust)
        mesh.add("source", now)
        store = SqliteStore(Path(tmp) / "messages.db", 64 * 1024 * 1024)
        relay = Node(Identity.generate(), store, authority.trust, now, NodeConfig(seed=1))
        mesh.nodes["relay"] = relay
        mesh.add("next", now)
        mesh.connect("source", "relay", now)
        mesh.connect("relay", "next", now)
        receive = relay.receive

        def timed(link: object, frame: bytes, at: int) -> object:
            if len(frame) < 1000:  # a Hello or a Done; the alerts' frames are 2 kB
                return receive(link, frame, at)  # type: ignore[arg-type]
            relay.begin_batch()
            start = time.thread_time()
            out = receive(link, frame, at)  # type: ignore[arg-type]
            cpu.append(time.thread_time() - start)
            relay.commit_batch()
            return out

        relay.receive = timed  # type: ignore[method-assign]
        for raw in data:
            mesh.local("source", mesh.nodes["source"].inject(raw, now), now)
        relayed = sum(isinstance(e, AlertReceived) for e in mesh.events["next"])
        store.close()
    alert_cpu = cpu
    return {"tree": str(Path(meshnode.__file__).parent.parent), "alerts": alerts,
            "relayed": relayed, "median_ms": 1000 * statistics.median(alert_cpu),
            "mean_ms": 1000 * statistics.mean(alert_cpu)}


def main() -> None:
    sys.path.insert(0, str(HERE / "bench"))
    from bench_hub_receive import compare_trees, tree_table

    compared = compare_trees(__file__, __doc__, 300, one)
    if compared is None:
        return
    args, runs = compared
    tree_table(args.base, runs, [
        ("relay's receive of an alert, CPU ms (median)", "median_ms", 3),
        ("CPU ms (mean)", "mean_ms", 3), ("relayed", "relayed", None), ("load", "load", None)])


if __name__ == "__main__":
    main()
