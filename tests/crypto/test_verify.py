"""`ed25519_valid` follows the rule of docs/protocol.md §3.1 (OpenSSL's RFC 8032 verification
with weak keys refused) whichever library decides a given signature.

The verdicts are compared against OpenSSL itself (`cryptography`), the rule's reference."""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.bindings import crypto_scalarmult_ed25519_base_noclamp

from meshnode.crypto.verify import SignatureMemo, ed25519_valid, weak_public_key

L_ORDER = 2**252 + 27742317777372353535851937790883648493
IDENTITY = bytes([1]) + bytes(31)  # the canonical encoding of the neutral point
KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUB = KEY.public_key().public_bytes_raw()


def openssl_valid(key: bytes, sig: bytes, data: bytes) -> bool:
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(key).verify(sig, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def identity_r_signature(data: bytes) -> tuple[bytes, bytes]:
    """A (key, signature) whose R is the neutral point: S = k·a with A = a·B, so that the
    cofactorless equation [S]B = R + [k]A holds. The key's holder can make such a signature
    (OpenSSL accepts it); libsodium refuses every R of small order."""
    a = int.from_bytes(hashlib.sha512(b"meshnode test scalar").digest(), "little") % L_ORDER
    key = crypto_scalarmult_ed25519_base_noclamp(a.to_bytes(32, "little"))
    k = int.from_bytes(hashlib.sha512(IDENTITY + key + data).digest(), "little") % L_ORDER
    return key, IDENTITY + (k * a % L_ORDER).to_bytes(32, "little")


def test_a_signature_with_the_neutral_point_as_r_verifies_as_openssl_says() -> None:
    data = b"meshnode/v1/sig\x00 a post"
    key, sig = identity_r_signature(data)
    assert not weak_public_key(key)
    assert openssl_valid(key, sig, data)
    assert ed25519_valid(key, sig, data)
    assert not ed25519_valid(key, sig, data + b"!")


def test_genuine_signatures_verify_and_any_other_message_does_not() -> None:
    for size in (0, 1, 200, 4_000):
        data = os.urandom(size)
        sig = KEY.sign(data)
        assert ed25519_valid(PUB, sig, data)
        assert not ed25519_valid(PUB, sig, data + b"\x00")
        assert ed25519_valid(PUB, sig, data, SignatureMemo())


def test_short_or_long_signatures_are_refused_not_raised() -> None:
    data = b"x"
    sig = KEY.sign(data)
    for bad in (b"", sig[:63], sig + b"\x00"):
        assert not ed25519_valid(PUB, bad, data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_mutation_gets_openssls_verdict_unless_the_key_is_weak(data: st.DataObject) -> None:
    """Byte flips in key, R, S or message; R or S replaced by small-order or out-of-range
    values: the verdict is OpenSSL's, except that a weak key is always refused."""
    message = data.draw(st.binary(max_size=64))
    key, sig = data.draw(st.sampled_from([(PUB, KEY.sign(message)),
                                          identity_r_signature(message)]))
    p = 2**255 - 19
    specials = [IDENTITY, bytes(32), (p - 1).to_bytes(32, "little"), p.to_bytes(32, "little"),
                (p + 1).to_bytes(32, "little"), L_ORDER.to_bytes(32, "little"),
                bytes(31) + b"\x80", IDENTITY[:31] + b"\x80"]
    where = data.draw(st.sampled_from(["key", "r", "s", "message", "none"]))
    if where == "message":
        message = message + b"\x01"
    elif where == "none":
        pass
    else:
        part = {"key": key, "r": sig[:32], "s": sig[32:]}[where]
        if data.draw(st.booleans()):
            replaced = data.draw(st.sampled_from(specials))
        else:
            index = data.draw(st.integers(0, 31))
            flip = data.draw(st.integers(1, 255))
            replaced = part[:index] + bytes([part[index] ^ flip]) + part[index + 1:]
        key = replaced if where == "key" else key
        sig = replaced + sig[32:] if where == "r" else sig
        sig = sig[:32] + replaced if where == "s" else sig
    expected = openssl_valid(key, sig, message) and not weak_public_key(key)
    assert ed25519_valid(key, sig, message) == expected
