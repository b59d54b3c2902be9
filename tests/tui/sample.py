"""Fixed API results (shaped as the daemon's, docs/api.md) for the TUI snapshot tests.

The alert is a real one: the example NL-Alert signed by tests.crypto.chain's throwaway
authority, verified, and rendered by `meshnode.daemon.views.alert_view` as the daemon does.
"""

from __future__ import annotations

from typing import Any

from meshnode.crypto.authority import VerifiedAlert, verify_alert
from meshnode.daemon.alertlog import LoggedAlert
from meshnode.daemon.views import alert_view, history_view
from tests.crypto.chain import NOW, make_chain

ALICE = "OWDK 3MZL WGLU 5LQ2 7GBP JJGA 2XHY NZ4B"
BOB = "NSIM XPS5 CCC5 6MDI RHCP VLYU LJUN HRPO"
CAROL_OLD = "ZKRA BVWQ UQ3E UTGZ LCWR V3DB XWN7 WFRP"
CAROL_NEW = "IXR4 2KHS C34E MK3I 2URN 7K7C ODZL WR2A"


def _person(name: str | None, fingerprint: str, key: str) -> dict[str, Any]:
    return {"sign_key": key * 32, "fingerprint": fingerprint, "name": name,
            "known": name is not None}


def rejected() -> dict[str, Any]:
    """An alert refused before the app opened, as `rejected_alerts` returns it."""
    return {"rejected": [{"reason": "alert unknown root", "link": "udp:192.168.1.31:4917",
                          "first_seen": NOW - 200, "last_seen": NOW - 100, "count": 2}]}


def snapshot() -> dict[str, Any]:
    chain = make_chain()
    verified = verify_alert(chain.alert(), chain.trust, NOW)
    assert isinstance(verified, VerifiedAlert)
    me, bob = _person("me", ALICE, "aa"), _person("bob", BOB, "bb")
    view = alert_view(verified, True)
    history = history_view([LoggedAlert(verified.msg_id, NOW + 30, view)], NOW + 60)
    return {
        "status": {"name": "alice", "fingerprint": ALICE, "links": 2, "last_sync": NOW - 45,
                   "store": {"messages": 42, "used_bytes": 51_200,
                             "capacity_bytes": 268_435_456},
                   "counters": {"accepted_total": 40, "rejected_total": 3, "duplicates": 7,
                                "relayed": 12},
                   "inbox": {"received": 1, "sent": 3}, "roots": ["Test root"]},
        "whoami": {"fingerprint": ALICE, "name": "alice"},
        "peers": {"peers": [
            {"link": "udp:192.168.1.20:4917", "transport": "udp", "address": "192.168.1.20:4917",
             "state": "up", "last_sync": NOW - 45, "rtt_ms": 3.2, "datagrams_in": 120,
             "datagrams_out": 98},
            {"link": "ble:central:3", "transport": "ble", "state": "up", "last_sync": NOW - 300},
            {"link": "udp:192.168.1.31:4917", "transport": "udp", "address": "192.168.1.31:4917",
             "state": "probing", "last_sync": None, "rtt_ms": None, "datagrams_in": 0,
             "datagrams_out": 4}]},
        "channels": {"channels": [
            {"channel": "wijk-noord", "posts": 2, "latest": NOW, "unread": 0},
            {"channel": "markt", "posts": 3, "latest": NOW - 600, "unread": 2}]},
        "posts": {"channel": "wijk-noord", "posts": [
            {"id": "01", "channel": "wijk-noord", "author": bob,
             "text": "Water verkrijgbaar bij de sporthal", "created": NOW - 300},
            {"id": "02", "channel": "wijk-noord", "author": me, "text": "Dank je, ik ga er heen",
             "created": NOW - 120}]},
        "alerts": {"alerts": [view]},
        "alert_history": {"threads": history},
        "rejected_alerts": {"rejected": []},
        "contacts": {
            "contacts": [{"name": "bob", "fingerprint": BOB, "sign_key": "bb" * 32},
                         {"name": "carol", "fingerprint": CAROL_OLD, "sign_key": "cc" * 32}],
            "warnings": [{"name": "carol", "old_fingerprint": CAROL_OLD,
                          "new_fingerprint": CAROL_NEW}]},
        "inbox": {"messages": [{"id": "10", "from": bob, "text": "Alles goed bij jullie?",
                                "created": NOW - 900, "received": NOW - 880}]},
        "outbox": {"messages": [
            {"id": "11", "to": bob, "text": "Ja, geen stroom", "created": NOW - 800,
             "handovers": 2, "delivered": NOW - 700},
            {"id": "12", "to": bob, "text": "Heb je kaarsen?", "created": NOW - 400,
             "handovers": 1, "delivered": None},
            {"id": "13", "to": bob, "text": "Ik kom om 5 uur", "created": NOW - 60,
             "handovers": 0, "delivered": None}]},
    }
