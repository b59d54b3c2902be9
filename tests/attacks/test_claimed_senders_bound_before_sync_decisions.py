"""Requirement 11: a claimed sender counts for nothing until its signature verified.

Attacker: a modified node that, during sync, hands over messages claiming someone else's
authorship (to burn their quota, their message ids or an issuer's sequence numbers), forged
receipts (to purge a DM everywhere) and a `Hello` claiming another person's DM tags. Defence:
`Node._accept` verifies before the quota, the seen-memory and the sequence window are
touched; a receipt purges a DM only if it verifies under that DM's own ack key; a peer taken
for a DM's destination gets one copy while the relay keeps its own.
"""

from __future__ import annotations

import dataclasses

from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode.crypto.identity import Identity, PublicIdentity
from meshnode.crypto.sealing import seal_dm
from meshnode.crypto.signing import create_post, sign_body
from meshnode.events import AlertReceived, DmReceived, PostReceived
from meshnode.node import Node, NodeConfig
from meshnode.store.memory import MemoryStore
from meshnode.testing import Mesh
from meshnode.wire import DAY, Kind, PostBody, ReceiptBody, Routing, decode_body
from tests.attacks.peers import NOW, Bench
from tests.crypto.chain import make_chain, nl_alert


def test_forged_posts_in_someones_name_do_not_spend_their_quota() -> None:
    bench = Bench.make()
    bench.link("evil")
    bram = Identity.generate()
    eve = Identity.generate()
    quota = NodeConfig().author_posts_per_hour
    for i in range(3 * quota):
        body = PostBody(bram.public.sign_key, "wijk", NOW - i, NOW + DAY, f"nep {i}")
        forged = sign_body(body, eve.signing)  # names Bram, signed by Eve
        bench.send("evil", forged)
    assert bench.node.store.usage().count == 0
    assert bench.node.stats.rejected["invalid"] == 3 * quota
    real = [create_post(bram, "wijk", f"echt {i}", NOW - i) for i in range(quota)]
    for msg in real:
        bench.send("evil", msg)
    assert sum(isinstance(o, PostReceived) for o in bench.outputs) == quota


def test_a_bad_signature_over_a_real_body_does_not_block_the_real_message() -> None:
    """Same body, same id, wrong signature: refused without remembering the id."""
    bench = Bench.make()
    bench.link("evil")
    real = create_post(Identity.generate(), "wijk", "de brug is dicht", NOW)
    forged = dataclasses.replace(real, sig=bytes(64))
    assert forged.id == real.id
    for _ in range(5):
        bench.send("evil", forged)
    assert not bench.node.store.seen(real.id) and not bench.node.store.has(real.id)
    bench.link("honest")
    bench.send("honest", real)
    assert bench.node.store.has(real.id)


def test_a_forged_alert_does_not_burn_the_issuers_sequence_number() -> None:
    chain = make_chain()
    bench = Bench.make(trust=chain.trust)
    bench.link("evil")
    impostor = ed25519.Ed25519PrivateKey.generate()
    bench.send("evil", chain.alert(nl_alert(identifier="nep"), seq=7, key=impostor))
    genuine = chain.alert(seq=7)
    out = bench.send("evil", genuine)
    assert any(isinstance(o, AlertReceived) for o in out)


def test_a_forged_receipt_purges_nothing() -> None:
    bench = Bench.make()
    bench.link("evil")
    dm = seal_dm(Identity.generate(), Identity.generate().public, "waar ben je?", NOW)
    bench.send("evil", dm.with_routing(Routing(8, 4)))
    eve_ack = ed25519.Ed25519PrivateKey.generate()
    for ack_key in (eve_ack.public_key().public_bytes_raw(), decode_body(
            Kind.DM, dm.body).ack_key):  # type: ignore[union-attr]
        receipt = sign_body(ReceiptBody(dm.id, ack_key, NOW, NOW + DAY), eve_ack)
        bench.send("evil", receipt)
    assert bench.node.store.has(dm.id)
    assert bench.node.store.usage().by_kind[int(Kind.DM)] == 1


class Impostor(Identity):
    """A modified node's identity: its own keys, but it claims Bram's X25519 key (public, from
    his announce), so its `Hello` carries Bram's DM tags."""

    claimed_dh: bytes = b""

    @property
    def public(self) -> PublicIdentity:
        return PublicIdentity(super().public.sign_key, self.claimed_dh)


def test_a_peer_claiming_someones_tags_gets_a_copy_but_cannot_take_the_dm_away() -> None:
    mesh = Mesh()
    anna, bram = mesh.add("anna", NOW), mesh.add("bram", NOW)
    relay = mesh.add("relay", NOW)
    verdict, outs = anna.send_dm(bram.identity.public, "kom je eten?", NOW)
    dm_id = verdict.msg_id
    mesh.local("anna", outs, NOW)
    mesh.connect("anna", "relay", NOW + 10)
    mesh.disconnect("anna", "relay", NOW + 11)
    real = Identity.generate()
    impostor = Impostor(real.signing, real.agreement)
    object.__setattr__(impostor, "claimed_dh", bram.identity.public.dh_key)
    mesh.nodes["eve"] = Node(impostor, MemoryStore(1 << 20), mesh.trust, NOW)
    mesh.connect("relay", "eve", NOW + 20)
    mesh.disconnect("relay", "eve", NOW + 21)
    assert mesh.nodes["eve"].store.has(dm_id)  # taken for Bram: handed a copy
    assert not mesh.of("eve", DmReceived)  # which she cannot open
    assert relay.store.has(dm_id)  # the relay keeps its own for the real Bram
    mesh.connect("relay", "bram", NOW + 30)
    assert [e.msg_id for e in mesh.of("bram", DmReceived)] == [dm_id]  # type: ignore[attr-defined]
