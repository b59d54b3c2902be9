"""Floods of direct messages and receipts.

Attacker: a modified node that hands a relay many DMs or receipts signed by one key (the only
author key a relay sees: a DM's envelope and its receipt are signed by the DM's one-time
`ack_key`), many DMs to one resident, or receipts for DMs that never existed, signed by made-up
keys. Defence (`meshnode/intake.py`): per-author quotas by creation hour (`ACK_KEY_PER_HOUR`
per signing key, `DMS_PER_TAG_PER_HOUR` per DM tag, one sender to one recipient), and receipts
for DMs the relay never held are stored at post priority, so they are evicted before any DM or
real receipt.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode.crypto.identity import Identity
from meshnode.crypto.sealing import seal_dm
from meshnode.crypto.signing import sign_body
from meshnode.events import Rejected
from meshnode.intake import ACK_KEY_PER_HOUR, DMS_PER_TAG_PER_HOUR
from meshnode.store.base import Priority
from meshnode.wire import Kind, Message, ReceiptBody, Routing, decode_body
from tests.attacks.peers import NOW, Bench


def _dm(to: Identity, i: int, ack: ed25519.Ed25519PrivateKey | None = None, *,
        sender: Identity | None = None) -> Message:
    return seal_dm(sender or Identity.generate(), to.public, f"junk {i}", NOW - i,
                   ack=ack).with_routing(Routing(8, 8))


def _receipt(dm_id: bytes, ack: ed25519.Ed25519PrivateKey, created: int) -> Message:
    key = ack.public_key().public_bytes_raw()
    return sign_body(ReceiptBody(dm_id, key, created, created + 86_400), ack)


def _quota_refusals(bench: Bench) -> int:
    return sum(1 for o in bench.outputs if isinstance(o, Rejected) and "quota" in o.reason)


def test_dms_signed_by_one_key_are_capped() -> None:
    bench = Bench.make()
    bench.link("evil")
    ack = ed25519.Ed25519PrivateKey.generate()
    dms = [_dm(Identity.generate(), i, ack) for i in range(10)]
    for dm in dms:
        bench.send("evil", dm)
    held = [dm for dm in dms if bench.node.held.has(dm.id)]
    assert len(held) == ACK_KEY_PER_HOUR
    assert _quota_refusals(bench) == len(dms) - ACK_KEY_PER_HOUR
    # Honest DMs (a fresh key each) from the same peer still pass.
    honest = _dm(Identity.generate(), 99)
    bench.send("evil", honest)
    assert bench.node.held.has(honest.id)


def test_dms_from_one_sender_to_one_resident_are_capped_per_hour() -> None:
    """A DM's tag is its pair tag (one sender, one recipient, one day): the cap is per pair.
    DMs from made-up senders carry tags no relay can tie to the resident (docs/protocol.md
    §5), so they are only junk DMs, held to the ack-key cap and evicted like any DM."""
    bench = Bench.make()
    bench.link("evil")
    victim, sender = Identity.generate(), Identity.generate()
    dms = [_dm(victim, i, sender=sender) for i in range(DMS_PER_TAG_PER_HOUR + 10)]
    for dm in dms:
        bench.send("evil", dm)
    assert sum(bench.node.held.has(dm.id) for dm in dms) == DMS_PER_TAG_PER_HOUR
    # Someone else's DMs are untouched.
    other = _dm(Identity.generate(), 0)
    bench.send("evil", other)
    assert bench.node.held.has(other.id)


def test_receipts_signed_by_one_key_are_capped() -> None:
    bench = Bench.make()
    bench.link("evil")
    ack = ed25519.Ed25519PrivateKey.generate()
    receipts = [_receipt(bytes(16), ack, NOW - i) for i in range(10)]
    for r in receipts:
        bench.send("evil", r)
    assert sum(bench.node.held.has(r.id) for r in receipts) == ACK_KEY_PER_HOUR


def test_a_receipt_for_an_unknown_dm_is_kept_at_post_priority() -> None:
    bench = Bench.make()
    bench.link("peer")
    # A receipt for a DM this relay holds: receipt priority, and the DM is dropped.
    ack = ed25519.Ed25519PrivateKey.generate()
    dm = _dm(Identity.generate(), 0, ack)
    bench.send("peer", dm)
    real = _receipt(dm.id, ack, NOW)
    bench.send("peer", real)
    stored = bench.node.held.get(real.id)
    assert stored is not None and stored.priority == int(Priority.RECEIPT)
    assert not bench.node.held.has(dm.id)
    # A receipt for a DM it never held: kept, but at post priority (evicted first).
    stray = _receipt(bytes(range(16)), ed25519.Ed25519PrivateKey.generate(), NOW)
    bench.send("peer", stray)
    stored = bench.node.held.get(stray.id)
    assert stored is not None and stored.priority == int(Priority.POST)
    assert isinstance(decode_body(Kind.RECEIPT, stray.body), ReceiptBody)
