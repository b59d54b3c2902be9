"""bitchat's BLE packet format: strict, bounded decoding and canonical encoding.

Written from the published format (docs/bitchat.md lists the sources). All integers are
big-endian. A packet is::

    version u8 (1 or 2) | type u8 | ttl u8 | timestamp u64 (ms) | flags u8 |
    payload length u16 (v1) or u32 (v2) |
    sender id (8) | [recipient id (8)] | [route: count u8, count x 8 bytes (v2 only)] |
    [original size u16/u32 if compressed] payload | [Ed25519 signature (64)]

optionally followed by PKCS#7-style padding to 256/512/1024/2048 bytes when it fits (bitchat
pads Noise frames on the air, and always pads the bytes it signs).

Flags: 0x01 recipient, 0x02 signature, 0x04 compressed (raw DEFLATE), 0x08 route (v2),
0x10 RSR (request-sync response; not covered by the signature). A signature is Ed25519 over
the packet re-encoded with TTL 0, no signature and no RSR flag, padded as on the air.

This decoder is stricter than bitchat's own: it refuses unknown flag bits, a route flag on v1
or with zero hops, trailing bytes that are not exactly one PKCS#7 pad, and payloads above
`MAX_PAYLOAD` (compressed or expanded). Every refusal raises `BitchatError`, nothing else.
A decoded packet keeps the payload bytes exactly as they arrived (`wire_payload`), so
re-encoding it (to verify its signature or to relay it) never re-compresses.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from enum import IntEnum, IntFlag

__all__ = [
    "BROADCAST",
    "ID_SIZE",
    "MAX_PAYLOAD",
    "SIGNATURE_SIZE",
    "BitchatError",
    "Flag",
    "MsgType",
    "Packet",
    "decode_packet",
    "encode_packet",
    "pad",
    "relay_copy",
    "signing_bytes",
]

ID_SIZE = 8
SIGNATURE_SIZE = 64
HEADER_V1 = 14
HEADER_V2 = 16
# bitchat accepts up to 10 MiB (file transfers); a gateway only needs text and announces.
MAX_PAYLOAD = 65_535
MAX_RATIO = 50_000  # bitchat's compression-bomb bound, kept as a second line behind MAX_PAYLOAD
BLOCKS = (256, 512, 1024, 2048)
BROADCAST = b"\xff" * ID_SIZE


class BitchatError(ValueError):
    """Malformed or out-of-bounds bitchat input: `what` names the part, the message the rule."""

    def __init__(self, what: str, rule: str) -> None:
        super().__init__(f"bitchat {what}: {rule}")
        self.what = what
        self.rule = rule


class MsgType(IntEnum):
    """The packet types bitchat defines (others are carried as plain ints)."""

    ANNOUNCE = 0x01
    MESSAGE = 0x02
    LEAVE = 0x03
    NOISE_HANDSHAKE = 0x10
    NOISE_ENCRYPTED = 0x11
    FRAGMENT = 0x20
    REQUEST_SYNC = 0x21
    FILE_TRANSFER = 0x22


class Flag(IntFlag):
    RECIPIENT = 0x01
    SIGNATURE = 0x02
    COMPRESSED = 0x04
    ROUTE = 0x08
    RSR = 0x10


KNOWN_FLAGS = int(Flag.RECIPIENT | Flag.SIGNATURE | Flag.COMPRESSED | Flag.ROUTE | Flag.RSR)


@dataclass(frozen=True, slots=True, kw_only=True)
class Packet:
    """One bitchat packet. `payload` is the decoded (expanded) payload.

    `wire_payload` is the payload as it travelled (compressed if `compressed`); it is set by
    the decoder and must otherwise be left empty: the encoder then writes `payload` as is
    (this module never compresses, so our own packets re-encode identically everywhere).
    """

    version: int = 1
    type: int
    ttl: int = 7
    timestamp: int
    sender: bytes
    recipient: bytes | None = None
    route: tuple[bytes, ...] = ()
    payload: bytes = b""
    signature: bytes | None = None
    rsr: bool = False
    compressed: bool = False
    wire_payload: bytes = field(default=b"", compare=False)

    def __post_init__(self) -> None:
        _check_fields(self)


def _check_fields(p: Packet) -> None:
    if p.version not in (1, 2):
        raise BitchatError("version", f"{p.version} is not 1 or 2")
    for name, value, hi in (("type", p.type, 0xFF), ("ttl", p.ttl, 0xFF),
                            ("timestamp", p.timestamp, 2**64 - 1)):
        if not 0 <= value <= hi:
            raise BitchatError(name, f"{value} outside 0..{hi}")
    if len(p.sender) != ID_SIZE:
        raise BitchatError("sender", f"must be {ID_SIZE} bytes")
    if p.recipient is not None and len(p.recipient) != ID_SIZE:
        raise BitchatError("recipient", f"must be {ID_SIZE} bytes")
    if p.route and p.version < 2:
        raise BitchatError("route", "only version 2 packets carry a route")
    if len(p.route) > 255 or any(len(hop) != ID_SIZE for hop in p.route):
        raise BitchatError("route", f"at most 255 hops of {ID_SIZE} bytes")
    if p.signature is not None and len(p.signature) != SIGNATURE_SIZE:
        raise BitchatError("signature", f"must be {SIGNATURE_SIZE} bytes")
    if len(p.payload) > MAX_PAYLOAD:
        raise BitchatError("payload", f"{len(p.payload)} bytes is above {MAX_PAYLOAD}")
    if p.compressed and not p.wire_payload:
        raise BitchatError("payload", "a compressed packet needs the bytes it arrived with")
    limit = 0xFFFF if p.version == 1 else 0xFFFFFFFF
    if len(p.wire_payload or p.payload) + (2 if p.compressed else 0) > limit:
        raise BitchatError("payload", "too long for a version 1 length field")


# --- encoding ----------------------------------------------------------------------------------


def pad(data: bytes) -> bytes:
    """bitchat's padding: PKCS#7 up to the smallest block that fits `len + 16`, if <= 255."""
    target = next((b for b in BLOCKS if len(data) + 16 <= b), len(data))
    need = target - len(data)
    return data + bytes([need]) * need if 0 < need <= 255 else data


def encode_packet(p: Packet, *, padded: bool = True) -> bytes:
    """The packet's bytes (padded as bitchat sends them unless `padded` is False)."""
    body = p.wire_payload if p.compressed else p.payload
    size_field = 2 if p.version == 1 else 4
    length = len(body) + (size_field if p.compressed else 0)
    flags = ((Flag.RECIPIENT if p.recipient is not None else 0)
             | (Flag.SIGNATURE if p.signature is not None else 0)
             | (Flag.COMPRESSED if p.compressed else 0)
             | (Flag.ROUTE if p.route else 0)
             | (Flag.RSR if p.rsr else 0))
    out = bytearray([p.version, p.type, p.ttl])
    out += p.timestamp.to_bytes(8, "big")
    out.append(int(flags))
    out += length.to_bytes(size_field, "big")
    out += p.sender
    if p.recipient is not None:
        out += p.recipient
    if p.route:
        out.append(len(p.route))
        for hop in p.route:
            out += hop
    if p.compressed:
        out += len(p.payload).to_bytes(size_field, "big")
    out += body
    if p.signature is not None:
        out += p.signature
    return pad(bytes(out)) if padded else bytes(out)


def signing_bytes(p: Packet) -> bytes:
    """What the sender's Ed25519 key signs: the packet with TTL 0, no signature, no RSR, padded."""
    return encode_packet(replace(p, ttl=0, signature=None, rsr=False))


# --- decoding ----------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, n: int, what: str) -> bytes:
        if self.at + n > len(self.data):
            raise BitchatError(what, "truncated")
        chunk = self.data[self.at:self.at + n]
        self.at += n
        return chunk

    def uint(self, n: int, what: str) -> int:
        return int.from_bytes(self.take(n, what), "big")


def _inflate(data: bytes, size: int) -> bytes:
    """Raw DEFLATE (or zlib-wrapped, as older clients sent) expanding to exactly `size` bytes."""
    for wbits in (-15, 15):
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(data, size)
            # One more byte of room: any output means the declared size was too small.
            extra = inflater.decompress(inflater.unconsumed_tail, 1)
        except zlib.error:
            continue
        if len(out) == size and not extra and inflater.eof and not inflater.unused_data:
            return out
    raise BitchatError("payload", "compressed bytes do not expand to the declared size")


def _check_padding(tail: bytes) -> None:
    if tail and not (len(tail) <= 255 and tail == bytes([len(tail)]) * len(tail)):
        raise BitchatError("packet", f"{len(tail)} trailing bytes that are not padding")


def decode_packet(data: bytes) -> Packet:
    """Parse one packet (padded or not); raises `BitchatError` for anything malformed."""
    r = _Reader(bytes(data))
    version = r.uint(1, "version")
    if version not in (1, 2):
        raise BitchatError("version", f"{version} is not 1 or 2")
    ptype = r.uint(1, "type")
    ttl = r.uint(1, "ttl")
    timestamp = r.uint(8, "timestamp")
    flags = r.uint(1, "flags")
    if flags & ~KNOWN_FLAGS:
        raise BitchatError("flags", f"unknown bits {flags & ~KNOWN_FLAGS:#04x}")
    size_field = 2 if version == 1 else 4
    length = r.uint(size_field, "payload length")
    if length > MAX_PAYLOAD + size_field:
        raise BitchatError("payload", f"length {length} is above {MAX_PAYLOAD}")
    sender = r.take(ID_SIZE, "sender")
    recipient = r.take(ID_SIZE, "recipient") if flags & Flag.RECIPIENT else None
    route: tuple[bytes, ...] = ()
    if flags & Flag.ROUTE:
        if version < 2:
            raise BitchatError("route", "route flag on a version 1 packet")
        hops = r.uint(1, "route")
        if hops == 0:
            raise BitchatError("route", "route flag with no hops")
        route = tuple(r.take(ID_SIZE, "route") for _ in range(hops))
    compressed = bool(flags & Flag.COMPRESSED)
    if compressed:
        if length <= size_field:
            raise BitchatError("payload", "compressed payload without deflate bytes")
        size = r.uint(size_field, "original size")
        wire = r.take(length - size_field, "payload")
        if not 0 < size <= MAX_PAYLOAD or size > MAX_RATIO * len(wire):
            raise BitchatError("payload", f"expanded size {size} out of bounds")
        payload = _inflate(wire, size)
    else:
        if length > MAX_PAYLOAD:
            raise BitchatError("payload", f"length {length} is above {MAX_PAYLOAD}")
        payload = wire = r.take(length, "payload")
    signature = r.take(SIGNATURE_SIZE, "signature") if flags & Flag.SIGNATURE else None
    _check_padding(r.data[r.at:])
    return Packet(version=version, type=ptype, ttl=ttl, timestamp=timestamp, sender=sender,
                  recipient=recipient, route=route, payload=payload, signature=signature,
                  rsr=bool(flags & Flag.RSR), compressed=compressed, wire_payload=wire)


def relay_copy(data: bytes) -> bytes | None:
    """The bytes to relay for a packet received as `data`: the same bytes with TTL - 1.

    None when the TTL is already 0 (as bitchat's relay rule). The packet must decode (a relay
    never forwards what it cannot parse); raises `BitchatError`.
    """
    packet = decode_packet(data)
    if packet.ttl == 0:
        return None
    return data[:2] + bytes([packet.ttl - 1]) + data[3:]
