"""A receiving daemon SIGKILLed at the exact moments of its group commit — inside a batch
(run through the node, its rows still pending in memory), on the commit's thread after the
batch's rows were written into the transaction and before its COMMIT, between the COMMIT and
the release of the batch's outputs, on
its check-ahead worker's thread just after it verified a frame whose result the core has not
taken yet, and on the commit's thread before the COMMIT of batch k while the core has already
run batch k+1 (overlap: k+1's outputs are held too) — loses nothing it acknowledged and
stores nothing unverified; started again, it fetches the rest. The first two and the last run
without the check-ahead worker (`check_ahead = "off"`, the core verifies everything itself),
the others with it.

The daemon kills itself at the chosen moment (`MESHNODE_CRASH_AT`, `meshnode.daemon.daemon.
CrashPoint`): a real process dies by SIGKILL in the middle of syncing a backlog over UDP. The
peer's backlog carries forged posts (signatures that fail), stored behind its back."""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path

import pytest

from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import create_post
from meshnode.daemon import api
from meshnode.daemon.daemon import CRASH_AT
from meshnode.daemon.localnet import LocalNet, LocalNode
from meshnode.wire import Message, decode_message, encode_message
from tests.daemons import Events, make_posts, prefill, wait_for
from tests.faults.helpers import fault_config, store_ids

pytestmark = pytest.mark.slow
BACKLOG = 500
FORGED = 40


def _forged(count: int) -> list[bytes]:
    """Posts whose signatures fail: the body of a genuine post, a made-up signature. Made now,
    so that they are fresh when the peer offers them (an expired post is never offered)."""
    author = Identity.generate()
    now = int(time.time())
    out = []
    for i in range(count):
        real = create_post(author, "wijk-noord", f"vervalst {i}", now)
        out.append(encode_message(Message(real.kind, real.body, bytes([i % 251 + 1]) * 64)))
    return out


def _wait_killed(node: LocalNode, timeout: float = 60.0) -> None:
    proc = node.process
    assert proc is not None
    wait_for(f"{node.name} to reach its crash point", lambda: proc.poll() is not None, timeout)
    assert proc.returncode == -signal.SIGKILL, node.tail()


def _posts(node: LocalNode) -> int:
    return int(node.request(api.Status())["store"]["by_kind"].get("post", 0))


@pytest.mark.parametrize(("point", "check_ahead"),
                         [("batch:3", "off"), ("written:3", "off"), ("commit:3", "on"),
                          ("verify:20", "on"), ("overlap:2", "off")])
def test_a_kill_inside_the_group_commit_loses_nothing_acknowledged(
        tmp_path: Path, point: str, check_ahead: str, monkeypatch: pytest.MonkeyPatch) -> None:
    genuine = make_posts(BACKLOG)
    forged = _forged(FORGED)
    forged_ids = {decode_message(r).id.hex() for r in forged}
    with LocalNet.line(tmp_path, ["A", "B"], fault_config(check_ahead=check_ahead)) as net:
        hub, peer = net["A"], net["B"]
        for node in net.nodes:
            node.setup()
        prefill(peer, genuine + forged)
        monkeypatch.setenv(CRASH_AT, point)
        hub.start()
        monkeypatch.delenv(CRASH_AT)
        hub.wait_ready()
        events = Events(hub, ("post_received",))
        peer.start()
        peer.wait_ready()
        _wait_killed(hub)
        events.join(10)
        with contextlib.suppress(OSError):
            events.client.close()
        acknowledged = {e["id"] for e in events.of("post_received")}
        held = store_ids(hub.data_dir)  # SQLite's integrity check and the store's pass
        assert acknowledged <= held, f"{point}: {len(acknowledged - held)} published, then lost"
        assert not held & forged_ids, f"{point}: forged posts were stored"
        if point.startswith("commit"):
            # The killed batch was on disk and never published: durable before announced.
            assert held - acknowledged

        hub.start()
        hub.wait_ready()
        wait_for("the hub fetching the rest of the backlog",
                 lambda: _posts(hub) >= BACKLOG, 90)
        assert net.stop() == {"A": 0, "B": 0}
        held = store_ids(hub.data_dir)
        assert {decode_message(r).id.hex() for r in genuine} <= held
        assert not held & forged_ids
