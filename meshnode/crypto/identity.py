"""Node identities: an Ed25519 signing key and an X25519 key-agreement key.

The node id is the first 16 bytes of SHA-256 over the Ed25519 public key. People compare
fingerprints (base32 groups) in person; the X25519 key is bound to the signing key by the
self-signed announce message, so the fingerprint only needs to cover the signing key.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = ["Identity", "PublicIdentity", "fingerprint", "node_id"]

NODE_ID_SIZE = 16
_FP_DOMAIN = b"meshnode/v1/fingerprint\x00"


def node_id(sign_key: bytes) -> bytes:
    """The 16-byte node id of an Ed25519 public key."""
    return hashlib.sha256(sign_key).digest()[:NODE_ID_SIZE]


def fingerprint(sign_key: bytes) -> str:
    """Human fingerprint: 160 bits as 8 groups of 4 base32 characters, e.g. ``ABCD EFGH ...``."""
    digest = hashlib.sha256(_FP_DOMAIN + sign_key).digest()[:20]
    text = base64.b32encode(digest).decode("ascii")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def _raw_public(key: ed25519.Ed25519PublicKey | x25519.X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True, slots=True)
class PublicIdentity:
    """What others know of a node: its two public keys (raw 32-byte encodings)."""

    sign_key: bytes
    dh_key: bytes

    @property
    def node_id(self) -> bytes:
        return node_id(self.sign_key)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.sign_key)


@dataclass(frozen=True, slots=True)
class Identity:
    """A node's private keys. Construct with `generate` or `from_seeds`."""

    signing: ed25519.Ed25519PrivateKey
    agreement: x25519.X25519PrivateKey

    @classmethod
    def generate(cls) -> Identity:
        return cls(ed25519.Ed25519PrivateKey.generate(), x25519.X25519PrivateKey.generate())

    @classmethod
    def from_seeds(cls, sign_seed: bytes, dh_seed: bytes) -> Identity:
        """Rebuild from the two 32-byte private seeds (as stored in a key file)."""
        return cls(
            ed25519.Ed25519PrivateKey.from_private_bytes(sign_seed),
            x25519.X25519PrivateKey.from_private_bytes(dh_seed),
        )

    def seeds(self) -> tuple[bytes, bytes]:
        return self.signing.private_bytes_raw(), self.agreement.private_bytes_raw()

    @property
    def public(self) -> PublicIdentity:
        return PublicIdentity(
            _raw_public(self.signing.public_key()), _raw_public(self.agreement.public_key())
        )

    @property
    def node_id(self) -> bytes:
        return self.public.node_id

    @property
    def fingerprint(self) -> str:
        return self.public.fingerprint

    def sign(self, data: bytes) -> bytes:
        return self.signing.sign(data)
