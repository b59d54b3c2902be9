"""A row SQLite refuses when the hub's commit thread writes a batch behind (the write-behind of
`SqliteStore`, between the batch's run through the node and its COMMIT): the hub releases
nothing of that batch, stops rather than run on with a store it cannot write, and keeps
exactly what it acknowledged before; started again once the store takes the row, it fetches
the rest.

Real daemons over UDP on loopback, a real SQLite file. What refuses the row is a trigger put
into the hub's store before it starts (SQLite raising ABORT for one post's bytes), as a
constraint or an I/O error on that statement would: nothing here is faked."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

import pytest

from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import create_post
from meshnode.daemon import api
from meshnode.daemon.localnet import LocalNet, LocalNode
from meshnode.store import SqliteStore
from meshnode.wire import decode_message, encode_message
from tests.daemons import Events, make_posts, prefill, wait_for
from tests.faults.helpers import CAPACITY, fault_config, log_events, store_ids

pytestmark = pytest.mark.slow
BACKLOG = 300
MARK = "weiger-mij"  # the refused post's text: its bytes appear in its row's raw


def _refuse_rows_with(node: LocalNode, mark: str) -> None:
    """Create the hub's store and make SQLite refuse any row whose bytes hold `mark`."""
    path = node.data_dir / "messages.db"
    SqliteStore(path, CAPACITY).close()
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("CREATE TRIGGER refuse BEFORE INSERT ON messages "
                   f"WHEN instr(NEW.raw, X'{mark.encode().hex()}') > 0 "
                   "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
    finally:
        db.close()


def _drop_refusal(node: LocalNode) -> None:
    db = sqlite3.connect(node.data_dir / "messages.db", isolation_level=None)
    try:
        db.execute("DROP TRIGGER refuse")
    finally:
        db.close()


def _posts(node: LocalNode) -> int:
    return int(node.request(api.Status())["store"]["by_kind"].get("post", 0))


def test_a_row_refused_while_a_batch_is_written_behind_releases_nothing_of_it(
        tmp_path: Path) -> None:
    genuine = make_posts(BACKLOG)
    refused = encode_message(create_post(Identity.generate(), "wijk-noord", MARK,
                                         int(time.time())))
    refused_id = decode_message(refused).id.hex()
    with LocalNet.line(tmp_path, ["A", "B"], fault_config()) as net:
        hub, peer = net["A"], net["B"]
        for node in net.nodes:
            node.setup()
        prefill(peer, [*genuine[:150], refused, *genuine[150:]])
        _refuse_rows_with(hub, MARK)
        hub.start()
        hub.wait_ready()
        events = Events(hub, ("post_received",))
        peer.start()
        peer.wait_ready()
        assert hub.process is not None
        wait_for("the hub to stop on the refused write", lambda: hub.process.poll() is not None,
                 60)
        events.join(10)
        with contextlib.suppress(OSError):
            events.client.close()
        assert hub.process.returncode == 2, hub.tail()
        [failed] = log_events(hub, "storage_failed")
        assert "refused by the test" in failed["error"]
        acknowledged = {e["id"] for e in events.of("post_received")}
        held = store_ids(hub.data_dir)  # SQLite's integrity check and the store's pass
        assert refused_id not in acknowledged | held
        assert acknowledged <= held, f"{len(acknowledged - held)} published, then lost"

        _drop_refusal(hub)
        hub.start()
        hub.wait_ready()
        wait_for("the hub fetching the rest", lambda: _posts(hub) >= BACKLOG + 1, 90)
        assert net.stop() == {"A": 0, "B": 0}
        held = store_ids(hub.data_dir)
        assert {decode_message(r).id.hex() for r in genuine} | {refused_id} <= held
