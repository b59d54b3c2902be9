"""Reproducible DM sealing for the simulator: RFC 9180 base mode with a seeded ephemeral key.

`cryptography`'s HPKE draws its ephemeral key itself, so two runs of the same scenario would
seal different bytes, get different message ids and, through id-ordered sync, different byte
counts. Here the same suite (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305) is
computed step by step from `cryptography`'s primitives with an ephemeral key drawn from the
scenario's random stream. The test suite checks that `cryptography`'s own HPKE opens every
result, so the nodes in the simulator run the real `open_dm`. Never use this outside the
simulator: a predictable ephemeral key is exactly what HPKE must not have.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from numpy.random import Generator

__all__ = ["SeededSealer"]

_KEM_ID, _KDF_ID, _AEAD_ID = 0x0020, 0x0001, 0x0003
_KEM_SUITE = b"KEM" + _KEM_ID.to_bytes(2, "big")
_HPKE_SUITE = b"HPKE" + b"".join(i.to_bytes(2, "big") for i in (_KEM_ID, _KDF_ID, _AEAD_ID))


def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def _labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + suite + label + ikm)


def _labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    labeled = length.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info
    return HKDFExpand(hashes.SHA256(), length, labeled).derive(prk)


class SeededSealer:
    """`encrypt(plaintext, recipient, info)` as in `meshnode.crypto.sealing.seal_dm`."""

    def __init__(self, rng: Generator) -> None:
        self._rng = rng

    def __call__(self, plaintext: bytes, recipient: x25519.X25519PublicKey, info: bytes) -> bytes:
        ephemeral = x25519.X25519PrivateKey.from_private_bytes(self._rng.bytes(32))
        enc = ephemeral.public_key().public_bytes_raw()
        dh = ephemeral.exchange(recipient)
        kem_context = enc + recipient.public_bytes_raw()
        eae_prk = _labeled_extract(_KEM_SUITE, b"", b"eae_prk", dh)
        shared = _labeled_expand(_KEM_SUITE, eae_prk, b"shared_secret", kem_context, 32)
        psk_id_hash = _labeled_extract(_HPKE_SUITE, b"", b"psk_id_hash", b"")
        info_hash = _labeled_extract(_HPKE_SUITE, b"", b"info_hash", info)
        context = b"\x00" + psk_id_hash + info_hash  # mode_base
        secret = _labeled_extract(_HPKE_SUITE, shared, b"secret", b"")
        key = _labeled_expand(_HPKE_SUITE, secret, b"key", context, 32)
        nonce = _labeled_expand(_HPKE_SUITE, secret, b"base_nonce", context, 12)
        return enc + ChaCha20Poly1305(key).encrypt(nonce, plaintext, b"")
