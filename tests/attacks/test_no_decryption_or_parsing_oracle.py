"""Requirements 4 and 9: no reply says whether decrypting or parsing a DM failed, and the
sender a recipient sees is the key that signed, checked in the same step that reads it.

Attacker: a modified node that crafts DMs carrying this node's tag (anyone who knows its
X25519 key from an announce can) and watches what the node sends back or on. Defence:
`open_dm` collapses every failure into one `OpenError`, and `Node._accept_dm` then carries the
DM like any other it cannot open: no receipt, no event, the same frames to its neighbours.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from meshnode.codec import pack, unpack_bounded
from meshnode.crypto.identity import Identity, PublicIdentity
from meshnode.crypto.sealing import seal_dm
from meshnode.events import DmReceived, Output, Send
from meshnode.routing.frames import decode_frame
from meshnode.wire import Kind, Message, Routing
from tests.attacks.peers import NOW, Bench

SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)
TEXT = "Ben je thuis? Ik kom water brengen."
Encrypt = Callable[[bytes, x25519.X25519PublicKey, bytes], bytes]


def real(pt: bytes, pk: x25519.X25519PublicKey, info: bytes) -> bytes:
    return SUITE.encrypt(pt, pk, info=info)


def rewritten(**fields: bytes) -> Encrypt:
    """Encrypt a plaintext whose inner fields were changed after the sender signed them."""
    def encrypt(pt: bytes, pk: x25519.X25519PublicKey, info: bytes) -> bytes:
        inner = unpack_bounded(pt, what="inner", max_size=len(pt), max_items=6)
        assert isinstance(inner, dict)
        inner.update({int(k[1:]): v for k, v in fields.items()})
        return real(pack(inner), pk, info)
    return encrypt


def wrong_shape(size: int) -> bytes:
    """Valid msgpack of exactly `size` bytes that is not a DM plaintext."""
    n = size
    while len(pack([b"x" * n])) > size:
        n -= 1
    return pack([b"x" * n]).ljust(size, b"\x00")


BRAM = Identity.generate()
CASES: dict[str, Encrypt] = {
    "ciphertext is noise": lambda pt, pk, info: os.urandom(32 + len(pt) + 16),
    "sealed to another key": lambda pt, pk, info: real(
        pt, x25519.X25519PrivateKey.generate().public_key(), info),
    "decrypts to garbage": lambda pt, pk, info: real(b"\xc1" * len(pt), pk, info),
    "decrypts to msgpack of the wrong shape": lambda pt, pk, info: real(
        wrong_shape(len(pt)), pk, info),
    "inner signature by someone else than the named sender": rewritten(
        k1=BRAM.public.sign_key),
    "ack seed does not derive the ack key": rewritten(k4=os.urandom(32)),
}


def dm_for(recipient: PublicIdentity, encrypt: Encrypt = real) -> Message:
    eve = Identity.generate()
    msg = seal_dm(eve, recipient, TEXT, NOW, ack=ed25519.Ed25519PrivateKey.generate(),
                  encrypt=encrypt)
    return msg.with_routing(Routing(8, 4))


def observable(out: list[Output]) -> list[tuple[object, ...]]:
    """What a neighbour or the network can see of the node's reaction: frames and their size."""
    seen: list[tuple[object, ...]] = []
    for o in out:
        if isinstance(o, Send):
            seen.append(("send", o.link, type(decode_frame(o.data)).__name__, len(o.data)))
    return seen


def reaction(msg: Message, victim: Identity) -> tuple[list[tuple[object, ...]], list[str], Bench]:
    bench = Bench.make(identity=victim)
    bench.link("watcher")
    bench.link("eve")
    out = bench.send("eve", msg)
    events = sorted(type(o).__name__ for o in out if not isinstance(o, Send))
    return observable(out), events, bench


def test_every_failure_to_open_looks_like_a_dm_for_someone_else() -> None:
    victim = Identity.generate()
    baseline, base_events, bench = reaction(dm_for(Identity.generate().public), victim)
    assert baseline, "a DM for someone else is carried on to the neighbour"
    assert bench.node.store.usage().by_kind == {int(Kind.DM): 1}
    for name, encrypt in CASES.items():
        msg = dm_for(victim.public, encrypt)
        seen, events, bench = reaction(msg, victim)
        assert (seen, events) == (baseline, base_events), name
        assert bench.node.store.usage().by_kind == {int(Kind.DM): 1}, name
        assert bench.node.stats.rejected == {}, name
        assert not bench.msgs_to("eve"), name  # no receipt, nothing back to the sender


def test_the_sender_shown_is_the_key_that_signed() -> None:
    """Positive control and requirement 9: a genuine DM opens and names its real signer."""
    victim = Identity.generate()
    eve = Identity.generate()
    genuine = seal_dm(eve, victim.public, TEXT, NOW)
    _, _, bench = reaction(genuine, victim)
    [opened] = [o for o in bench.outputs if isinstance(o, DmReceived)]
    assert opened.sender == eve.public and opened.text == TEXT
    assert bench.node.store.usage().by_kind == {int(Kind.RECEIPT): 1}
    # The impersonation of Bram is the same bytes with only the named sender swapped: refused.
    forged = dm_for(victim.public, rewritten(k1=BRAM.public.sign_key, k2=BRAM.public.dh_key))
    _, _, bench = reaction(forged, victim)
    assert not any(isinstance(o, DmReceived) for o in bench.outputs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_failed_open_leaves_no_trace_that_differs(name: str) -> None:
    """Stored as carried, not as delivered: the same metadata as any DM the node relays."""
    victim = Identity.generate()
    _, _, bench = reaction(dm_for(victim.public, CASES[name]), victim)
    _, _, other = reaction(dm_for(Identity.generate().public), victim)
    [mine] = bench.node.store.by_kind(int(Kind.DM))
    [theirs] = other.node.store.by_kind(int(Kind.DM))
    assert (len(mine.raw), mine.priority, mine.ref, mine.seq) == (
        len(theirs.raw), theirs.priority, theirs.ref, theirs.seq)
