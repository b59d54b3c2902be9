"""Fuzzing the sealed-DM plaintext decoder (meshnode/crypto/sealing.py). Anyone who knows a
recipient's public key can encrypt any plaintext to it, so the inner decoder sees hostile bytes
behind a perfectly valid envelope and AEAD. Whatever the plaintext, `open_dm` raises only the
one, uninformative `OpenError`, or opens a DM whose inner signature verified.

`ci` profile by default; `HYPOTHESIS_PROFILE=fuzz` for the long run.
"""

from __future__ import annotations

import hashlib

import msgpack
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from hypothesis import given
from hypothesis import strategies as st

from meshnode import wire
from meshnode.crypto.identity import Identity
from meshnode.crypto.sealing import OpenError, open_dm, seal_dm
from meshnode.wire import Message
from tests.fuzzing import mutations

NOW = 1_790_000_000
SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)
SENDER = Identity.from_seeds(hashlib.sha256(b"s").digest(), hashlib.sha256(b"s dh").digest())
RECIPIENT = Identity.from_seeds(hashlib.sha256(b"r").digest(), hashlib.sha256(b"r dh").digest())
ACK = ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"ack").digest())


def sealed_with(plaintext: bytes) -> Message:
    """A DM to RECIPIENT whose envelope and encryption are genuine but whose plaintext is ours,
    zero-filled to whole pad blocks (relays refuse other `sealed` lengths, §4.3)."""
    plaintext = plaintext.ljust(wire.DM_PLAINTEXT_MIN, b"\x00")
    plaintext += bytes(-len(plaintext) % wire.DM_PAD_BLOCK)

    def encrypt(_: bytes, key: x25519.X25519PublicKey, info: bytes) -> bytes:
        return SUITE.encrypt(plaintext, key, info=info)

    return seal_dm(SENDER, RECIPIENT.public, "x", NOW, ack=ACK, encrypt=encrypt)


def genuine_plaintext() -> bytes:
    captured: list[bytes] = []

    def encrypt(plain: bytes, key: x25519.X25519PublicKey, info: bytes) -> bytes:
        captured.append(plain)
        return SUITE.encrypt(plain, key, info=info)

    seal_dm(SENDER, RECIPIENT.public, "Are you OK? Water at the gym.", NOW, ack=ACK,
            encrypt=encrypt)
    return captured[0]


GENUINE = genuine_plaintext()


def opens_or_one_error(plaintext: bytes) -> None:
    try:
        opened = open_dm(RECIPIENT, sealed_with(plaintext))
    except OpenError as exc:
        assert str(exc) == "cannot open this direct message"  # the same words, whatever broke
        return
    # Only a plaintext signed by the sender it names for this envelope can open. (The inner
    # signature does not cover the sender's dh_key: only the sign key is checked here.)
    assert opened.sender.sign_key == SENDER.public.sign_key


def test_the_genuine_plaintext_opens_under_a_resealed_envelope() -> None:
    opened = open_dm(RECIPIENT, sealed_with(GENUINE))
    assert opened.text == "Are you OK? Water at the gym." and opened.sender == SENDER.public


@given(st.binary(max_size=400))
def test_arbitrary_plaintexts(plaintext: bytes) -> None:
    opens_or_one_error(plaintext)


@given(st.data())
def test_mutated_genuine_plaintexts(data: st.DataObject) -> None:
    opens_or_one_error(data.draw(mutations(GENUINE)))


@given(st.dictionaries(st.integers(0, 8) | st.text(max_size=2),
                       st.binary(max_size=70) | st.text(max_size=20) | st.none()
                       | st.integers(-(2**63), 2**64 - 1)
                       | st.lists(st.integers(0, 2**32), max_size=3), max_size=7))
def test_plaintext_maps_of_any_shape(inner: dict[object, object]) -> None:
    opens_or_one_error(msgpack.packb(inner, use_bin_type=True))
