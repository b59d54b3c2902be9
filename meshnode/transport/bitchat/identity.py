"""The hub's own bitchat identity: an X25519 static key and an Ed25519 signing key.

It is a meshnode `Identity` (the same two key types) kept in its own key file, so the hub's
bitchat keys are never its meshnode keys: a bitchat user who trusts the hub trusts only
this identity. bitchat derives from the X25519 key:

* the peer id: the first 8 bytes of SHA-256(key), sent as the sender id of every packet;
* the fingerprint: SHA-256(key) in hex, which bitchat's "verify" screen shows in upper
  case in groups of four; `fingerprint` gives exactly that text, on one line.

Signatures are Ed25519 over `codec.signing_bytes` (TTL 0, no signature, padded).
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode.crypto.identity import Identity
from meshnode.crypto.keyfile import KeyFileError, load_identity, save_identity
from meshnode.transport.bitchat.codec import MsgType, Packet, signing_bytes
from meshnode.transport.bitchat.payloads import Announcement, encode_announcement

__all__ = [
    "KEY_FILE",
    "BitchatIdentity",
    "format_fingerprint",
    "load_or_create_identity",
    "peer_id_of",
    "verify_packet",
]

KEY_FILE = "bitchat.key"
MAX_NICKNAME = 20  # bytes: the announce payload stays under 100 and the packet under 182


def peer_id_of(noise_key: bytes) -> bytes:
    """bitchat's 8-byte peer id of an X25519 static public key."""
    return hashlib.sha256(noise_key).digest()[:8]


def format_fingerprint(noise_key: bytes) -> str:
    """SHA-256 of the static key in upper-case hex, groups of four (as bitchat shows it)."""
    text = hashlib.sha256(noise_key).hexdigest().upper()
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


def verify_packet(packet: Packet, signing_key: bytes) -> bool:
    """Whether `packet` carries a valid Ed25519 signature by `signing_key`."""
    if packet.signature is None or len(signing_key) != 32:
        return False
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(signing_key).verify(
            packet.signature, signing_bytes(packet))
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class BitchatIdentity:
    keys: Identity
    nickname: str

    def __post_init__(self) -> None:
        size = len(self.nickname.encode("utf-8"))
        if not 0 < size <= MAX_NICKNAME:
            raise ValueError(f"bitchat nickname must be 1..{MAX_NICKNAME} UTF-8 bytes")

    @property
    def noise_key(self) -> bytes:
        return self.keys.public.dh_key

    @property
    def signing_key(self) -> bytes:
        return self.keys.public.sign_key

    @property
    def peer_id(self) -> bytes:
        return peer_id_of(self.noise_key)

    @property
    def fingerprint(self) -> str:
        return format_fingerprint(self.noise_key)

    def sign(self, packet: Packet) -> Packet:
        """`packet` with our signature (its sender must be our peer id)."""
        if packet.sender != self.peer_id:
            raise ValueError("a packet signed by the hub must carry the hub's peer id")
        unsigned = replace(packet, signature=None)
        return replace(unsigned, signature=self.keys.sign(signing_bytes(unsigned)))

    def announce(self, now_ms: int, *, ttl: int = 7) -> Packet:
        """A signed announce of our nickname and keys, timestamped `now_ms`."""
        payload = encode_announcement(Announcement(self.nickname, self.noise_key,
                                                   self.signing_key))
        return self.sign(Packet(type=MsgType.ANNOUNCE, ttl=ttl, timestamp=now_ms,
                                sender=self.peer_id, payload=payload))

    def public_message(self, text: str, now_ms: int, *, ttl: int = 7) -> Packet:
        """A signed broadcast public message."""
        return self.sign(Packet(type=MsgType.MESSAGE, ttl=ttl, timestamp=now_ms,
                                sender=self.peer_id, payload=text.encode("utf-8")))


def load_or_create_identity(path: Path, nickname: str) -> BitchatIdentity:
    """The identity in `path` (owner-only key file), created there on first use.

    Raises `KeyFileError` when the file exists but is unsafe or unreadable: the operator
    decides, a gateway never replaces keys residents may have checked.
    """
    if not path.exists():
        # KeyFileError here: another process created it meanwhile, so we read theirs.
        with contextlib.suppress(KeyFileError):
            save_identity(Identity.generate(), path)
    return BitchatIdentity(load_identity(path), nickname)
