"""bitchat payloads the gateway reads and writes: announce TLV, fragments, public text.

Announce (type 0x01) payload: TLVs of type u8, length u8, value. Type 1 nickname (UTF-8),
2 Noise static key (X25519, 32 bytes), 3 Ed25519 signing key (32 bytes); any others
(capabilities 0x05, neighbours 0x04, ...) are kept in order and written back unchanged.

Fragment (type 0x20) payload: fragment id (8) | index u16 | total u16 | original type u8 |
data. The data of all fragments, in index order, is the whole original packet, unpadded.

Public message (type 0x02, broadcast): the payload is the message text in UTF-8.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshnode.transport.bitchat.codec import BitchatError

__all__ = [
    "FRAGMENT_HEADER",
    "Announcement",
    "Fragment",
    "decode_announcement",
    "decode_fragment",
    "decode_text",
    "encode_announcement",
    "encode_fragment",
]

NICKNAME, NOISE_KEY, SIGNING_KEY = 0x01, 0x02, 0x03
KEY_SIZE = 32
FRAGMENT_HEADER = 13
MAX_TEXT = 4_096  # bytes: far above what bitchat's composer sends, far below MAX_PAYLOAD


@dataclass(frozen=True, slots=True)
class Announcement:
    nickname: str
    noise_key: bytes
    signing_key: bytes
    extras: tuple[tuple[int, bytes], ...] = ()


def encode_announcement(a: Announcement) -> bytes:
    """The TLV payload: nickname, Noise key, signing key, then `extras` in order."""
    items = [(NICKNAME, a.nickname.encode("utf-8")), (NOISE_KEY, a.noise_key),
             (SIGNING_KEY, a.signing_key), *a.extras]
    out = bytearray()
    for kind, value in items:
        if not 0 <= kind <= 0xFF or len(value) > 0xFF:
            raise BitchatError("announce", f"TLV {kind} with {len(value)} bytes does not fit")
        out += bytes([kind, len(value)]) + value
    return bytes(out)


def decode_announcement(data: bytes) -> Announcement:
    """Parse announce TLVs; the three known ones exactly once each, keys 32 bytes."""
    known: dict[int, bytes] = {}
    extras: list[tuple[int, bytes]] = []
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise BitchatError("announce", "truncated TLV header")
        kind, size = data[at], data[at + 1]
        value = data[at + 2:at + 2 + size]
        if len(value) != size:
            raise BitchatError("announce", f"TLV {kind} truncated")
        at += 2 + size
        if kind in (NICKNAME, NOISE_KEY, SIGNING_KEY):
            if kind in known:
                raise BitchatError("announce", f"TLV {kind} twice")
            known[kind] = value
        else:
            extras.append((kind, value))
    missing = {NICKNAME, NOISE_KEY, SIGNING_KEY} - known.keys()
    if missing:
        raise BitchatError("announce", f"missing TLV {min(missing)}")
    if len(known[NOISE_KEY]) != KEY_SIZE or len(known[SIGNING_KEY]) != KEY_SIZE:
        raise BitchatError("announce", f"keys must be {KEY_SIZE} bytes")
    return Announcement(_utf8(known[NICKNAME], "announce nickname"), known[NOISE_KEY],
                        known[SIGNING_KEY], tuple(extras))


@dataclass(frozen=True, slots=True)
class Fragment:
    fragment_id: bytes
    index: int
    total: int
    original_type: int
    data: bytes


def encode_fragment(f: Fragment) -> bytes:
    if len(f.fragment_id) != 8 or not 0 <= f.index < f.total <= 0xFFFF or not f.data:
        raise BitchatError("fragment", "id of 8 bytes, 0 <= index < total <= 65535, data")
    return (f.fragment_id + f.index.to_bytes(2, "big") + f.total.to_bytes(2, "big")
            + bytes([f.original_type]) + f.data)


def decode_fragment(data: bytes) -> Fragment:
    if len(data) <= FRAGMENT_HEADER:
        raise BitchatError("fragment", f"needs more than {FRAGMENT_HEADER} bytes")
    index = int.from_bytes(data[8:10], "big")
    total = int.from_bytes(data[10:12], "big")
    if not index < total:
        raise BitchatError("fragment", f"index {index} not below total {total}")
    return Fragment(data[:8], index, total, data[12], data[FRAGMENT_HEADER:])


def decode_text(payload: bytes) -> str:
    """A public message's text: valid UTF-8 of at most `MAX_TEXT` bytes."""
    if len(payload) > MAX_TEXT:
        raise BitchatError("message", f"{len(payload)} bytes is above {MAX_TEXT}")
    return _utf8(payload, "message")


def _utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BitchatError(what, f"not UTF-8 ({exc.reason})") from None
