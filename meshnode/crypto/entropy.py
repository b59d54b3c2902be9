"""Where a `Node`'s randomness comes from: the operating system, or a seed.

A node draws randomness for three things: sync session nonces, the one-time acknowledgement key
of each DM it seals, and HPKE's ephemeral key when sealing. `Node` takes it from an `Entropy`
so that every driver originates messages the same way (`Node.post`, `Node.send_dm`):

* `SystemEntropy` (the default): `os.urandom` and `cryptography`'s own HPKE.
* `SeededEntropy(seed)`: the same bytes for the same seed, and HPKE base mode computed step by
  step from `cryptography`'s primitives (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
  ChaCha20-Poly1305; RFC 9180) with the ephemeral key drawn from the seed. The simulator and
  tests use it so a run is reproducible. Its ciphertexts open with `cryptography`'s HPKE (the
  tests check this); but a predictable ephemeral key is exactly what HPKE must not have, so
  never use it for real traffic.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

__all__ = ["Entropy", "SeededEntropy", "SystemEntropy"]

_SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)
_KEM_ID, _KDF_ID, _AEAD_ID = 0x0020, 0x0001, 0x0003
_KEM_SUITE = b"KEM" + _KEM_ID.to_bytes(2, "big")
_HPKE_SUITE = b"HPKE" + b"".join(i.to_bytes(2, "big") for i in (_KEM_ID, _KDF_ID, _AEAD_ID))


class Entropy(Protocol):
    """A node's source of randomness (see the module docstring)."""

    def random_bytes(self, n: int) -> bytes:
        """`n` random bytes."""
        ...

    def seal(self, plaintext: bytes, recipient: x25519.X25519PublicKey, info: bytes) -> bytes:
        """HPKE base-mode single-shot encryption to `recipient`: ``enc || ciphertext``."""
        ...


class SystemEntropy:
    """The operating system's randomness and `cryptography`'s HPKE: for real nodes."""

    def random_bytes(self, n: int) -> bytes:
        return os.urandom(n)

    def seal(self, plaintext: bytes, recipient: x25519.X25519PublicKey, info: bytes) -> bytes:
        return _SUITE.encrypt(plaintext, recipient, info=info)


class SeededEntropy:
    """Reproducible randomness from `seed`, for the simulator and tests only."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def random_bytes(self, n: int) -> bytes:
        return self._rng.randbytes(n)

    def seal(self, plaintext: bytes, recipient: x25519.X25519PublicKey, info: bytes) -> bytes:
        ephemeral = x25519.X25519PrivateKey.from_private_bytes(self.random_bytes(32))
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


def _labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, b"HPKE-v1" + suite + label + ikm, hashlib.sha256).digest()


def _labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    labeled = length.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info
    return HKDFExpand(hashes.SHA256(), length, labeled).derive(prk)
