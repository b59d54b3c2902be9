"""A browser node carries the authority messages it verified on to the next node it meets, as
a node relays them (docs/protocol.md §6, §10.1 steps 2 and 5): alerts, revocations and
certificates, compared by the Hello's summaries (fields 4 and 5) and sent first, revocations
and certificates before alerts; routing clamped on arrival and one hop less at each hand-over,
so a copy with no hops left stays; never what failed its check (a forged signature, a root
this phone does not trust); a root rotation is followed and carried; the alerts held are
bounded. Messages are signed here by the Python authority code; Node.js runs the browser's own
modules (tests/web/js/carry.mjs): real code on both sides, storage a list where the page has
IndexedDB."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode.alerts.examples import example_authority
from meshnode.crypto.authority import create_revocation, issue_cert, rotate_root
from meshnode.wire import Message, Routing, encode_message

RUNNER = Path(__file__).parent / "js" / "carry.mjs"
MAX_ALERTS = 500  # the browser's bound (alerts.js)


def _hex(msg: Message, hops: int = 5, copies: int = 3) -> str:
    return encode_message(msg.with_routing(Routing(hops, copies))).hex()


def _id(msg: Message) -> str:
    return msg.id.hex()


@pytest.fixture(scope="module")
def run() -> dict[str, Any]:
    now = int(time.time())  # the browser's modules judge by the real clock
    auth = example_authority(now, root_name="Test root")
    stranger = example_authority(now, root_name="Stranger", issuer_id="nl-x")
    new_root = ed25519.Ed25519PrivateKey.generate()
    successor = example_authority(now, root=new_root, issuer_id="nl-vr18", serial=5)
    alert = auth.alert(now - 60, seq=1, identifier="brand")
    forged = auth.alert(now - 60, seq=2, identifier="nep")
    forged = Message(forged.kind, forged.body, bytes([forged.sig[0] ^ 1]) + forged.sig[1:])
    msgs = {
        "alert": alert,
        "forged": forged,
        "stranger": stranger.alert(now - 60, seq=1, identifier="vreemd"),
        "dead": auth.alert(now - 60, seq=3, identifier="dood"),
        "revoke": create_revocation(auth.root, [999], now - 30, "test"),
        "cert": issue_cert(auth.root, dataclasses.replace(auth.cert, serial=18,
                                                          issuer_id="gm-test")),
        "rotation": rotate_root(auth.root, new_root, "Test root 2", 40, now - 10, now + 86_400),
        "new_root_alert": successor.alert(now - 5, seq=1, identifier="opvolger"),
    }
    hexed = {k: _hex(m) for k, m in msgs.items()}
    hexed["dead"] = _hex(msgs["dead"], hops=0)
    bulk = [_hex(auth.alert(now - 60, seq=10 + i, identifier=f"b{i}"))
            for i in range(MAX_ALERTS + 1)]
    node = shutil.which("node") or shutil.which("nodejs")
    assert node is not None, "Node.js is needed (apt-get install nodejs; .ci/run installs it)"
    done = subprocess.run(
        [node, str(RUNNER)], capture_output=True, text=True, timeout=300,
        input=json.dumps({"root": auth.root.public_key().public_bytes_raw().hex(),
                          "messages": hexed, "bulk": bulk}))
    assert done.returncode == 0, done.stderr
    facts: dict[str, Any] = json.loads(done.stdout)
    facts["ids"] = {k: _id(m) for k, m in msgs.items()}
    return facts


def test_the_phone_keeps_what_verified_and_nothing_else(run: dict[str, Any]) -> None:
    ids = run["ids"]
    assert run["phone_verified"] == sorted([ids["alert"], ids["dead"]])
    assert run["phone_holds"] == sorted([ids["revoke"], ids["cert"]])
    assert run["phone_refused"] == ["bad signature", "unknown root"]
    assert run["saved_alerts"] == sorted([ids["alert"], ids["dead"]])  # kept in its storage
    assert run["phone_alert_routing"] == [5, 3]  # as received, within the clamps (32, 8)


def test_the_hello_summarises_trust_and_alerts(run: dict[str, Any]) -> None:
    ids = run["ids"]
    assert run["phone_summary"] == {"trust": sorted([ids["revoke"], ids["cert"]]),
                                    "alerts": [["nl-vr17", ["1", "3"]]]}


def test_the_next_node_gets_what_verified_trust_first_with_one_hop_less(
        run: dict[str, Any]) -> None:
    ids = run["ids"]
    assert run["closed"] == []
    sent = {x["id"] for x in run["sent"] if x["kind"] in (5, 6, 7)}
    assert sent == {ids["alert"], ids["revoke"], ids["cert"]}
    assert run["kinds_in_order"][:3] in ([7, 6, 5], [6, 7, 5])  # §10.1 step 4
    assert run["hub_verified"] == [ids["alert"]]
    assert run["hub_holds"] == sorted([ids["revoke"], ids["cert"]])
    assert run["hub_alert_routing"] == [4, 1]  # one hop less, one copy (epidemic)
    assert run["again"] == []  # the summaries now agree: nothing is sent twice


def test_what_failed_its_check_or_has_no_hops_left_is_never_sent(run: dict[str, Any]) -> None:
    ids = run["ids"]
    sent = {x["id"] for x in run["sent"]}
    assert ids["forged"] not in sent  # a forged signature: the genuine alert has another id
    assert ids["stranger"] not in sent
    assert ids["dead"] not in sent


def test_a_rotation_is_followed_and_carried_to_the_next_node(run: dict[str, Any]) -> None:
    assert run["rotations"] == [["Test root 2"], ["Test root 2"]]
    assert run["new_root_alert"] == [True, True]


def test_the_alerts_held_are_bounded(run: dict[str, Any]) -> None:
    assert run["bulk_held"] == MAX_ALERTS
    assert run["bulk_last"] == "no room: the alerts held are at their bound"
    assert run["bulk_summary"] == [["nl-vr17", 64]]  # Hello field 5: the latest 64 only


def test_a_hello_whose_summaries_break_the_rules_is_refused_and_answered_with_nothing(
        run: dict[str, Any]) -> None:
    """Field 5 empty, an issuer with no or 65 sequence numbers, an empty or non-text issuer,
    a negative number, 33 issuers, and fields 3 and 4 sent empty (not canonical): each Hello
    counts as one malformed frame, and the phone sends nothing after its own Hello (no
    reconciliation, none of what it carries)."""
    assert run["bad_hellos"] == [[1, 1]] * 9
