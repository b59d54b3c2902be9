"""Tests that run real daemons: the helpers live in `meshnode.daemon.harness` (benchmarks use
them too); the scenarios that assert stay here."""

from __future__ import annotations

import os
import signal

from meshnode.daemon import api
from meshnode.daemon.daemon import CRASH_AT
from meshnode.daemon.harness import (
    Authority,
    Events,
    fast_config,
    links_up,
    make_authority,
    make_posts,
    prefill,
    stored_ids,
    wait_for,
)
from meshnode.daemon.localnet import LocalNode
from meshnode.wire import decode_message

__all__ = [
    "DM_TEXT",
    "Authority",
    "Events",
    "fast_config",
    "links_up",
    "make_authority",
    "make_posts",
    "prefill",
    "relay_killed_mid_transfer",
    "stored_ids",
    "wait_for",
]


DM_TEXT = "Are you OK? We have spare water at the gym."


def relay_killed_mid_transfer(a: LocalNode, b: LocalNode, c: LocalNode, authority: Authority,
                              posts: int) -> None:
    """The chain A–B–C (A cannot reach C): A holds `posts` posts and injects an alert and a DM
    for C; B is SIGKILLed while posts stream through it and restarted. Asserts that what B had
    accepted survived the kill, and that everything reaches C and the DM's receipt A.

    B kills itself (`MESHNODE_CRASH_AT=posts:N`) once a tenth of the posts are committed: a
    kill sent by the test when it has counted them would come late on a loaded machine, after
    the whole transfer."""
    raws = make_posts(posts)
    post_ids = {decode_message(r).id.hex() for r in raws}
    prefill(a, raws)
    os.environ[CRASH_AT] = f"posts:{posts // 10}"
    try:
        b.start()
    finally:
        del os.environ[CRASH_AT]
    c.start()
    for node in (b, c):
        node.wait_ready()
    # B subscribes before A (who holds the backlog) starts: B cannot have taken any of it yet,
    # however fast the transfer runs once the link is up.
    at_b = Events(b, ("post_received",))
    at_a: Events | None = None
    try:
        a.start()
        a.wait_ready()
        at_a = Events(a, ("dm_delivered",))
        # Nothing here asks B: on a quiet machine B may already have taken its tenth of the
        # posts and killed itself (the link A–B comes up as soon as A runs).
        whoami = c.request(api.Whoami())
        a.request(api.ContactAdd("C", sign_key=bytes.fromhex(whoami["sign_key"]),
                                 dh_key=bytes.fromhex(whoami["dh_key"])))
        alert = authority.alert()
        assert a.request(api.Inject(alert))["accepted"] is True
        dm_id = a.request(api.SendDm("C", DM_TEXT))["id"]

        # B kills itself once a tenth of the posts went through it: mid-transfer.
        process = b.process
        assert process is not None
        wait_for("B to kill itself mid-transfer", lambda: process.poll() is not None, 90)
        assert process.returncode == -signal.SIGKILL, b.tail()
        at_b.close()
        accepted = {e["id"] for e in at_b.of("post_received")}
        held = {i.hex() for i in stored_ids(b)}
        assert posts // 10 <= len(held & post_ids) < posts, "B was not killed mid-transfer"
        assert accepted <= held, "B lost messages it had accepted"

        b.start()
        b.wait_ready()

        def c_has_everything() -> bool:
            status = c.request(api.Status())
            return bool(status["store"]["by_kind"].get("post", 0) >= posts
                        and c.request(api.Alerts())["alerts"]
                        and c.request(api.Inbox())["messages"])

        wait_for("C holding every post, the alert and the DM", c_has_everything, 90)
        at_c_posts = c.request(api.Posts("wijk-noord", limit=1000))["posts"]
        assert len(at_c_posts) == min(posts, 1000)
        assert {p["id"] for p in at_c_posts} <= post_ids
        [dm] = c.request(api.Inbox())["messages"]
        assert dm["text"] == DM_TEXT and dm["id"] == dm_id
        assert dm["from"]["fingerprint"] == a.identity.fingerprint
        [got] = c.request(api.Alerts())["alerts"]
        assert got["id"] == decode_message(alert).id.hex() and got["issuer"] == "Test region"
        # B carried the DM without being able to open it.
        assert b.request(api.Inbox())["messages"] == []
        at_a.wait_count("dm_delivered", 1, 60)
        [sent] = a.request(api.Outbox())["messages"]
        assert sent["id"] == dm_id and sent["delivered"] is not None
    finally:
        if at_a is not None:
            at_a.close()
        at_b.close()
