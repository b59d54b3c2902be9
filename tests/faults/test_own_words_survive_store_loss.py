"""The node's own words survive the loss of its message store: after a damaged `messages.db` is
moved aside, the daemon publishes again its own undelivered DMs (from the sealed copies the
inbox keeps) and its own posts, tells the user what came back, and the DMs are delivered and
reported delivered once the recipient is in reach. Real daemons in one process, real UDP on
loopback, real SQLite files. (A 0-byte contact book or inbox: tests/faults/test_corrupt_db.py.)"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest
import trio

from meshnode.crypto.identity import Identity
from meshnode.daemon import api
from meshnode.daemon.daemon import Daemon
from meshnode.daemon.localnet import free_udp_ports
from meshnode.transport.udp import Endpoint
from tests.faults.helpers import fault_config, until
from tests.faults.test_corrupt_db import SEED, flip_page_headers

pytestmark = pytest.mark.slow
DMS, POSTS = 6, 4


def _daemon(data_dir: Path, identity: Identity, port: int, peer: int) -> Daemon:
    base = fault_config()
    udp = dataclasses.replace(base.udp, listen=Endpoint("127.0.0.1", port),
                              peers=(Endpoint("127.0.0.1", peer),))
    return Daemon(data_dir, dataclasses.replace(base, udp=udp), identity, handle_signals=False)


def test_own_undelivered_dms_and_posts_are_published_again_after_the_store_is_lost(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ports = free_udp_ports(2)
    me, them = Identity.generate(), Identity.generate()
    mine, theirs = tmp_path / "me", tmp_path / "them"
    for d in (mine, theirs):
        d.mkdir(mode=0o700)
    sent: dict[str, set[str]] = {}

    async def before_the_damage() -> None:
        a = _daemon(mine, me, ports[0], ports[1])  # the recipient is not running yet
        async with trio.open_nursery() as nursery:
            await nursery.start(a.run)
            pub = them.public
            await a.call(api.ContactAdd("them", sign_key=pub.sign_key, dh_key=pub.dh_key))
            sent["dms"] = {(await a.call(api.SendDm("them", f"dm {i}")))["id"]
                           for i in range(DMS)}
            sent["posts"] = {(await a.call(api.Post("wijk-noord", f"post {i}")))["id"]
                             for i in range(POSTS)}
            nursery.cancel_scope.cancel()

    trio.run(before_the_damage)
    flip_page_headers(mine / "messages.db", random.Random(SEED))

    async def after_the_damage() -> None:
        a = _daemon(mine, me, ports[0], ports[1])
        b = _daemon(theirs, them, ports[1], ports[0])
        async with trio.open_nursery() as nursery:
            await nursery.start(a.run)
            status = (await a.call(api.Status()))["recovery"]
            assert status is not None
            assert (status["dms_restored"], status["posts_restored"]) == (DMS, POSTS)
            assert status["dms_not_restored"] == status["posts_expired"] == 0
            assert Path(status["moved_to"]).exists()
            posts = (await a.call(api.Posts("wijk-noord")))["posts"]
            assert {p["id"] for p in posts} == sent["posts"]
            await nursery.start(b.run)
            await until("the DMs opened by their recipient", lambda: sorted(
                d.text for d in b.inbox.received(limit=100)) == [f"dm {i}" for i in range(DMS)])
            await until("the DMs reported delivered", lambda: all(
                d.delivered is not None for d in a.inbox.sent(limit=100)))
            assert {d.id.hex() for d in a.inbox.sent(limit=100)} == sent["dms"]
            nursery.cancel_scope.cancel()

    with caplog.at_level("CRITICAL", logger="meshnode.daemon"):
        trio.run(after_the_damage)
    [logged] = [r for r in caplog.records if r.getMessage() == "own_messages_restored"]
    fields = logged.fields  # type: ignore[attr-defined]
    assert (fields["dms_restored"], fields["posts_restored"]) == (DMS, POSTS)


def test_a_store_that_opens_cleanly_publishes_nothing_again(tmp_path: Path) -> None:
    """No recovery without a damaged store: `status` says so."""
    ports = free_udp_ports(2)

    async def run() -> None:
        a = _daemon(tmp_path, Identity.generate(), ports[0], ports[1])
        async with trio.open_nursery() as nursery:
            await nursery.start(a.run)
            assert (await a.call(api.Status()))["recovery"] is None
            nursery.cancel_scope.cancel()

    trio.run(run)
