"""A separate, minimal bitchat receiver written in the tests from the published format.

It shares no code with meshnode.transport.bitchat, so a bug in our codec cannot hide itself
in the check. It reads what a phone reads: v1/v2 packets (unpadding PKCS#7 as bitchat does),
announce TLVs, and checks Ed25519 signatures over the packet rebuilt with TTL 0 and no
signature, padded (BitchatPacket.toBinaryDataForSigning in bitchat and bitchat-android).
It also keeps bitchat's public-message rate limiter (MessageRateLimiter.swift in bitchat:
per sender 5 tokens refilled 1/s, per text 3 tokens refilled 0.5/s).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


@dataclass
class Heard:
    version: int
    type: int
    ttl: int
    timestamp: int
    flags: int
    sender: bytes
    payload: bytes
    signature: bytes | None
    header: bytes  # version .. sender (and recipient/route), as sent


def _unpad(data: bytes) -> bytes:
    n = data[-1]
    if 0 < n <= len(data) and data[-n:] == bytes([n]) * n:
        return data[:-n]
    return data


def parse(data: bytes) -> Heard:
    """Parse an uncompressed, unrouted packet as bitchat does (padded or not)."""
    raw = data
    for attempt in (raw, _unpad(raw)):
        version, ptype, ttl, ts, flags = struct.unpack(">BBBQB", attempt[:12])
        lsize = 2 if version == 1 else 4
        (length,) = struct.unpack(">H" if lsize == 2 else ">I", attempt[12:12 + lsize])
        at = 12 + lsize
        sender = attempt[at:at + 8]
        at += 8
        assert not flags & 0x0D, "the reference only reads plain broadcast packets"
        payload = attempt[at:at + length]
        sig = attempt[at + length:at + length + 64] if flags & 0x02 else None
        end = at + length + (64 if sig is not None else 0)
        if end == len(attempt):
            return Heard(version, ptype, ttl, ts, flags, sender, payload, sig, attempt[:at])
    raise AssertionError("packet length does not match its fields")


def signed_bytes(h: Heard) -> bytes:
    body = bytearray(h.header)
    body[2] = 0  # TTL
    body[11] &= ~0x02 & ~0x10 & 0xFF  # no signature, no RSR
    body += h.payload
    target = next(b for b in (256, 512, 1024, 2048) if len(body) + 16 <= b)
    pad = target - len(body)
    return bytes(body) + bytes([pad]) * pad if pad <= 255 else bytes(body)


def verifies(h: Heard, signing_key: bytes) -> bool:
    if h.signature is None:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(signing_key).verify(h.signature, signed_bytes(h))
    except InvalidSignature:
        return False
    return True


def announced_keys(h: Heard) -> tuple[str, bytes, bytes]:
    """(nickname, noise key, signing key) of an announce, checked against its sender id."""
    assert h.type == 0x01
    fields: dict[int, bytes] = {}
    at = 0
    while at < len(h.payload):
        kind, size = h.payload[at], h.payload[at + 1]
        fields[kind] = h.payload[at + 2:at + 2 + size]
        at += 2 + size
    noise, signing = fields[2], fields[3]
    assert hashlib.sha256(noise).digest()[:8] == h.sender, "peer id is not SHA-256(noise)[:8]"
    assert verifies(h, signing), "announce not signed by the key it announces"
    return fields[1].decode(), noise, signing


class PhoneLimiter:
    """bitchat's public-message limiter (MessageRateLimiter.swift), as a phone applies it."""

    def __init__(self) -> None:
        self.buckets: dict[tuple[str, str], list[float]] = {}

    def _allow(self, key: tuple[str, str], cap: float, rate: float, now: float) -> bool:
        tokens, last = self.buckets.get(key, [cap, now])
        tokens = min(cap, tokens + max(0.0, now - last) * rate)
        ok = tokens >= 1.0 - 1e-9
        self.buckets[key] = [tokens - 1.0 if ok else tokens, max(now, last)]
        return ok

    def allow(self, sender: str, text: str, now: float) -> bool:
        if not self._allow(("s", sender), 5.0, 1.0, now):
            return False
        return self._allow(("c", text.lower()), 3.0, 0.5, now)
