"""Proof-of-work stamps: what a key new to a node pays to be heard (docs/protocol.md §15).

A stamp is an 8-byte nonce carried in a post, announce or DM body. It is bound to the key that
signs the message (a post's author, an announce's sign key, a DM's one-time ack key) and to the
UTC day of the message's `created`:

    digest = SHA-256("meshnode/v1/stamp" || 0x00 || key || day (4 bytes, big-endian) || nonce)

and it is worth the number of leading zero bits of `digest`. A stamp cannot be moved to another
key or day, and one stamp serves every message a key signs that day (an author pays once a
day; a DM, whose ack key is used once, pays once).

Checking costs one SHA-256 (about a microsecond), far less than the Ed25519 verification it
guards; minting costs 2**bits hashes on average. `mint_stamp` is pure and deterministic (the
nonces are tried in order from 0), so a driver may run it on any thread, and the result is
reproducible for vectors and simulations; determinism gives an attacker nothing, as the work
per key and day is the same whoever does it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from meshnode.wire import STAMP_SIZE

__all__ = [
    "STAMP_BITS",
    "STAMP_DOMAIN",
    "STAMP_SIZE",
    "StampExhausted",
    "StampWork",
    "mint_stamp",
    "stamp_day",
    "stamp_digest",
    "stamp_worth",
]

STAMP_DOMAIN = b"meshnode/v1/stamp\x00"
# The work a node that requires stamps asks for. 2**14 SHA-256 hashes on average: 8-9 ms of CPU
# here (1.7 million hashes/s in Python's hashlib), 37-48 ms for 99 of 100 stamps; a device 4
# times slower stays within 0.2 s for 99 of 100 (docs/benchmarks.md, "Proof-of-work stamps").
STAMP_BITS = 14
_DAY = 86_400


@dataclass(frozen=True, slots=True)
class StampWork:
    """A stamp to mint: for `key` on UTC day `day`, worth `bits`."""

    key: bytes
    day: int
    bits: int

    def mint(self) -> bytes:
        return mint_stamp(self.key, self.day, self.bits)


class StampExhausted(Exception):
    """No nonce below the limit reaches the asked work (only with a `limit`)."""


def stamp_day(created: int) -> int:
    """The UTC day number a message created at `created` (seconds since 1970) binds."""
    return created // _DAY


def _prefix(key: bytes, day: int) -> bytes:
    return STAMP_DOMAIN + key + day.to_bytes(4, "big")


def _zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def stamp_digest(key: bytes, day: int, nonce: bytes) -> bytes:
    """SHA-256 of the stamp domain, `key`, `day` (4 bytes, big-endian) and `nonce`."""
    return hashlib.sha256(_prefix(key, day) + nonce).digest()


def stamp_worth(key: bytes, day: int, nonce: bytes) -> int:
    """The leading zero bits `nonce` proves for `key` on UTC day `day` (0..256)."""
    return _zero_bits(stamp_digest(key, day, nonce))


def mint_stamp(key: bytes, day: int, bits: int = STAMP_BITS, *,
               limit: int | None = None) -> bytes:
    """The first nonce worth at least `bits` for `key` on `day`: 2**bits hashes on average.

    Pure CPU work, no I/O and no shared state: a driver runs it off its event loop. `limit`
    bounds the nonces tried (`StampExhausted` past it)."""
    prefix = hashlib.sha256(_prefix(key, day))
    # A digest below `bound` has at least `bits` leading zero bits.
    bound = 1 << (256 - bits)
    nonce = 0
    while limit is None or nonce < limit:
        candidate = nonce.to_bytes(STAMP_SIZE, "big")
        h = prefix.copy()
        h.update(candidate)
        if int.from_bytes(h.digest(), "big") < bound:
            return candidate
        nonce += 1
    raise StampExhausted(f"no stamp of {bits} bits among the first {limit} nonces")
