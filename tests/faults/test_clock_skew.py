"""Clock skew between nodes (sans-IO, each node with its own `now`): nodes whose clocks differ
by up to an hour either way exchange posts, DMs, receipts and alerts, and their expiry does
not drop valid messages. Beyond the hour, a message is held back, not lost: it is refused
without being remembered, and accepted once the receiver's clock has caught up."""

from __future__ import annotations

import dataclasses

import pytest

from meshnode import wire
from meshnode.alerts.examples import example_nl_alert
from meshnode.crypto.authority import MAX_CLOCK_SKEW, Reason
from meshnode.crypto.identity import Identity
from meshnode.crypto.sealing import seal_dm
from meshnode.crypto.signing import create_post
from meshnode.events import (
    AlertReceived,
    DmDelivered,
    DmReceived,
    PostReceived,
    Refusal,
    Rejected,
)
from meshnode.node import Node, NodeConfig
from meshnode.testing import Mesh
from tests.crypto.chain import NOW, Chain, make_chain

HOUR = 3_600
SKEW = NodeConfig().clock_skew


@dataclasses.dataclass
class SkewedMesh(Mesh):
    """A `Mesh` in which every node reads its own clock, and every contact ends by itself."""

    def add_skewed(self, name: str, now: int, offset: int) -> Node:
        self.offsets[name] = offset
        return self.add(name, now + offset, NodeConfig(seed=len(self.nodes)))

    def connect(self, a: str, b: str, now: int, *, budget: int | None = None) -> None:
        super().connect(a, b, now, budget=budget)
        self.disconnect(a, b, now)


def _alert(chain: Chain, sent: int, seq: int) -> bytes:
    alert = dataclasses.replace(example_nl_alert(sent), identifier=f"skew.{seq}")
    return wire.encode_message(chain.alert(alert, seq=seq))


@pytest.mark.parametrize("offset", [HOUR, -HOUR])
def test_nodes_an_hour_apart_exchange_posts_dms_receipts_and_alerts(offset: int) -> None:
    chain = make_chain()
    mesh = SkewedMesh(trust=chain.trust)
    a = mesh.add_skewed("A", NOW, 0)
    b = mesh.add_skewed("B", NOW, offset)
    now = NOW
    sent = {}
    for name, node, peer in (("A", a, b), ("B", b, a)):
        t = mesh.clock(name, now)
        verdict, out = node.post("wijk-noord", f"post from {name}", t)
        post_id = verdict.msg_id
        mesh.local(name, out, now)
        verdict, out = node.send_dm(peer.identity.public, f"dm from {name}", t)
        dm_id = verdict.msg_id
        mesh.local(name, out, now)
        # The authority's alert carries the clock of the node it was handed to.
        mesh.local(name, node.inject(_alert(chain, t, 1 if name == "A" else 2), t), now)
        sent[name] = (post_id, dm_id)
    mesh.connect("A", "B", now)

    for name, other in (("A", "B"), ("B", "A")):
        post_id, dm_id = sent[other]
        assert post_id in {e.msg_id for e in mesh.of(name, PostReceived)}, name  # type: ignore[attr-defined]
        assert [e.text for e in mesh.of(name, DmReceived)] == [f"dm from {other}"]  # type: ignore[attr-defined]
        assert [e.dm_id for e in mesh.of(other, DmDelivered)] == [dm_id]  # type: ignore[attr-defined]
        assert len(mesh.of(name, AlertReceived)) == 2, name
        assert not [r for r in mesh.of(name, Rejected) if r.link is not None], name  # type: ignore[attr-defined]

    # Housekeeping two hours on, on either clock, keeps every message still valid.
    held = {n: {i for _, i in mesh.nodes[n].store.ids_since(0)} for n in ("A", "B")}
    assert held["A"] == held["B"]
    for n in ("A", "B"):
        mesh.nodes[n].handle_timer(mesh.clock(n, now + 2 * HOUR))
        assert {i for _, i in mesh.nodes[n].store.ids_since(0)} == held[n], n


def test_a_post_beyond_the_skew_is_held_back_then_accepted_when_the_clock_catches_up() -> None:
    mesh = SkewedMesh()
    fast = mesh.add_skewed("F", NOW, SKEW + 60)
    slow = mesh.add_skewed("S", NOW, 0)
    verdict, out = fast.post("wijk-noord", "from a clock running ahead", mesh.clock("F", NOW))
    post_id = verdict.msg_id
    mesh.local("F", out, NOW)
    mesh.connect("F", "S", NOW)
    assert not slow.store.has(post_id) and not slow.store.seen(post_id)
    assert [r.reason for r in mesh.of("S", Rejected)] == [  # type: ignore[attr-defined]
        "from the future: created ahead of our clock"]
    mesh.connect("F", "S", NOW + 60)  # S's clock is now exactly one hour behind F's
    assert slow.store.has(post_id)


@pytest.mark.parametrize("ahead", [MAX_CLOCK_SKEW, MAX_CLOCK_SKEW + 1])
def test_an_alert_at_and_beyond_the_skew_edge_is_not_lost(ahead: int) -> None:
    chain = make_chain()
    mesh = SkewedMesh(trust=chain.trust)
    issuer_side = mesh.add_skewed("I", NOW, ahead)
    slow = mesh.add_skewed("S", NOW, 0)
    alert = _alert(chain, mesh.clock("I", NOW), 1)
    alert_id = wire.decode_message(alert).id
    mesh.local("I", issuer_side.inject(alert, mesh.clock("I", NOW)), NOW)
    mesh.connect("I", "S", NOW)
    assert slow.store.has(alert_id)
    assert len(mesh.of("S", AlertReceived)) == 1
    # Beyond the skew, its verified chain proves that its sent time has come (the issuer
    # signed it then): the receiver takes that as its clock floor (tests/faults/
    # test_clock_floor.py), so the alert is shown at once rather than an hour late.
    assert slow.clock_floor == mesh.clock("I", NOW)


def test_refusals_for_a_clock_hours_ahead_are_forgotten_once_it_is_corrected() -> None:
    """A hub whose clock ran 3 hours ahead (no RTC, no NTP) refuses an alert, a post and a DM
    that expire within the hour as expired. None of that is remembered: once its clock is
    corrected, the same messages arriving again are accepted, the alert shown."""
    chain = make_chain()
    mesh = SkewedMesh(trust=chain.trust)
    source = mesh.add_skewed("A", NOW, 0)
    hub = mesh.add_skewed("H", NOW, 3 * HOUR)
    author, recipient = Identity.generate(), Identity.generate()
    messages = [
        _alert_lasting(chain, NOW, HOUR),
        wire.encode_message(create_post(author, "wijk-noord", "water at the school", NOW,
                                        ttl=HOUR)),
        wire.encode_message(seal_dm(author, recipient.public, "are you safe?", NOW, ttl=HOUR)
                            .with_routing(wire.Routing(8, 8))),  # copies to hand on
    ]
    ids = {wire.decode_message(m).id for m in messages}
    for m in messages:
        mesh.local("A", source.inject(m, NOW), NOW)
    mesh.connect("A", "H", NOW)
    refused = [r for r in mesh.of("H", Rejected) if r.link is not None]
    # Each by the freshness check of its kind (§9.1), not by the store's own expiry check.
    assert sorted((r.kind, r.refusal, r.rejection and r.rejection.reason)  # type: ignore[attr-defined]
                  for r in refused) == [(wire.Kind.POST, Refusal.EXPIRED, None),
                                        (wire.Kind.DM, Refusal.EXPIRED, None),
                                        (wire.Kind.ALERT, Refusal.ALERT, Reason.ALERT_EXPIRED)]
    assert not any(hub.store.has(i) or hub.store.seen(i) for i in ids)

    mesh.offsets["H"] = 0  # the operator sets the clock right
    mesh.connect("A", "H", NOW + 60)
    assert all(hub.store.has(i) for i in ids)
    assert len(mesh.of("H", AlertReceived)) == 1


def _alert_lasting(chain: Chain, sent: int, lifetime: int) -> bytes:
    alert = dataclasses.replace(example_nl_alert(sent, lifetime=lifetime), identifier="short.1")
    return wire.encode_message(chain.alert(alert, seq=1))
