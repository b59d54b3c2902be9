"""The UDP link's datagram format, version 2 (sans-IO). docs/protocol.md §13 is normative.

Every datagram starts with a 12-byte header (integers big-endian)::

    bytes 0-1    magic    b"MN"
    byte  2      version  2
    byte  3      type     1 PROBE, 2 CHALLENGE, 3 CONNECT, 4 ACCEPT, 5 DATA, 6 ACK, 7 CLOSE,
                          8 ANNOUNCE
    bytes 4-11   cid      the connection id the *receiver* chose for this link; all zero in
                          PROBE, CONNECT and ANNOUNCE (no link yet)

then, by type (sizes are exact, except DATA):

    PROBE      36  initiator cid (8), then 16 zero bytes (so that the CHALLENGE it draws is
                   no larger: an address spoofer gains no amplification)
    CHALLENGE  28  cookie (16), opaque: the responder's, echoed in CONNECT; header cid = the
                   initiator cid
    CONNECT    36  initiator cid (8), cookie (16)
    ACCEPT     20  responder cid (8); header cid = the initiator cid
    DATA     >= 25 seq (uint64), then one or more chunks, each a uint16 length (>= 3) and
                   that many bytes: one framing fragment (`meshnode.transport.framing`)
    ACK        36  next seq expected (uint64), bitmap (uint64: bit i set means seq
                   next+1+i arrived too), limit (uint64: the sender may send seqs below it)
    CLOSE      12  nothing more
    ANNOUNCE   36  nonce (8, random per announcement), then 16 zero bytes

Connection ids are random, chosen afresh for every link, never zero; nothing in a datagram
lives longer than the link it belongs to.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeAlias

from meshnode.codec import WireError

__all__ = [
    "CHUNK_HEADER",
    "CID_SIZE",
    "COOKIE_SIZE",
    "DATA_HEADER",
    "HEADER",
    "MAGIC",
    "MAX_DATAGRAM",
    "MIN_FRAGMENT",
    "NO_CID",
    "SIZES",
    "VERSION",
    "Accept",
    "Ack",
    "Announce",
    "Challenge",
    "Close",
    "Connect",
    "Data",
    "Datagram",
    "DatagramError",
    "Payload",
    "Probe",
    "Type",
    "address_bytes",
    "chunk_cost",
    "cookie_input",
    "decode",
    "encode",
    "make_cookie",
]

MAGIC = b"MN"
VERSION = 2
CID_SIZE = 8
COOKIE_SIZE = 16
NO_CID = bytes(CID_SIZE)
HEADER = 12
_U64 = 8
_PAD = bytes(16)
DATA_HEADER = HEADER + _U64
CHUNK_HEADER = 2
MAX_DATAGRAM = 1_200  # §13.1: the largest datagram a peer sends or takes, header included
MIN_FRAGMENT = 3  # the framing layer's smallest fragment header


class DatagramError(WireError):
    """A datagram that is not ours, of an unknown version or type, or of the wrong size."""


class Type(IntEnum):
    PROBE = 1
    CHALLENGE = 2
    CONNECT = 3
    ACCEPT = 4
    DATA = 5
    ACK = 6
    CLOSE = 7
    ANNOUNCE = 8


@dataclass(frozen=True, slots=True)
class Probe:
    initiator: bytes


@dataclass(frozen=True, slots=True)
class Challenge:
    cookie: bytes


@dataclass(frozen=True, slots=True)
class Connect:
    initiator: bytes
    cookie: bytes


@dataclass(frozen=True, slots=True)
class Accept:
    responder: bytes


@dataclass(frozen=True, slots=True)
class Data:
    seq: int
    fragments: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Ack:
    next: int
    bitmap: int
    limit: int


@dataclass(frozen=True, slots=True)
class Close:
    pass


@dataclass(frozen=True, slots=True)
class Announce:
    nonce: bytes


Payload: TypeAlias = Probe | Challenge | Connect | Accept | Data | Ack | Close | Announce

_TYPE_OF: dict[type, Type] = {
    Probe: Type.PROBE, Challenge: Type.CHALLENGE, Connect: Type.CONNECT, Accept: Type.ACCEPT,
    Data: Type.DATA, Ack: Type.ACK, Close: Type.CLOSE, Announce: Type.ANNOUNCE,
}
# Exact sizes of every type but DATA.
SIZES: dict[Type, int] = {
    Type.PROBE: HEADER + CID_SIZE + len(_PAD), Type.CHALLENGE: HEADER + COOKIE_SIZE,
    Type.CONNECT: HEADER + CID_SIZE + COOKIE_SIZE, Type.ACCEPT: HEADER + CID_SIZE,
    Type.ACK: HEADER + 3 * _U64, Type.CLOSE: HEADER, Type.ANNOUNCE: HEADER + 8 + len(_PAD),
}
# Types sent before a link exists carry no cid in the header; all others must.
_NO_CID_TYPES = (Type.PROBE, Type.CONNECT, Type.ANNOUNCE)


@dataclass(frozen=True, slots=True)
class Datagram:
    """A decoded datagram: `cid` is the receiver's connection id (zero before a link)."""

    cid: bytes
    payload: Payload

    @property
    def type(self) -> Type:
        return _TYPE_OF[type(self.payload)]


def chunk_cost(fragment: bytes) -> int:
    """Bytes a fragment takes in a DATA datagram."""
    return CHUNK_HEADER + len(fragment)


def _id(value: bytes, what: str) -> bytes:
    if len(value) != CID_SIZE or value == NO_CID:
        raise ValueError(f"{what} must be 8 bytes, not all zero")
    return value


def _body(payload: Payload) -> bytes:
    match payload:
        case Probe(initiator):
            return _id(initiator, "initiator cid") + _PAD
        case Challenge(cookie) | Connect(_, cookie) if len(cookie) != COOKIE_SIZE:
            raise ValueError("cookies are 16 bytes")
        case Challenge(cookie):
            return cookie
        case Connect(initiator, cookie):
            return _id(initiator, "initiator cid") + cookie
        case Accept(responder):
            return _id(responder, "responder cid")
        case Data(seq, fragments):
            if not fragments or any(not MIN_FRAGMENT <= len(f) <= 0xFFFF for f in fragments):
                raise ValueError("DATA carries one or more fragments of 3..65535 bytes")
            return seq.to_bytes(_U64, "big") + b"".join(
                len(f).to_bytes(CHUNK_HEADER, "big") + f for f in fragments)
        case Ack(next_seq, bitmap, limit):
            return b"".join(v.to_bytes(_U64, "big") for v in (next_seq, bitmap, limit))
        case Announce(nonce):
            if len(nonce) != 8:
                raise ValueError("nonces are 8 bytes")
            return nonce + _PAD
    return b""  # Close


def encode(datagram: Datagram) -> bytes:
    """The bytes of `datagram`; ValueError for values the format cannot carry."""
    kind = datagram.type
    if (datagram.cid == NO_CID) != (kind in _NO_CID_TYPES) or len(datagram.cid) != CID_SIZE:
        raise ValueError(f"{kind.name} needs {'no' if kind in _NO_CID_TYPES else 'a'} cid")
    return MAGIC + bytes((VERSION, kind)) + datagram.cid + _body(datagram.payload)


def decode(data: bytes) -> Datagram:
    """Parse one datagram; anything malformed raises `DatagramError` naming the problem."""
    if len(data) < HEADER:
        raise DatagramError("datagram", f"{len(data)} bytes, shorter than the {HEADER}-byte header")
    if data[:2] != MAGIC:
        raise DatagramError("datagram.magic", "not a meshnode datagram")
    if data[2] != VERSION:
        raise DatagramError("datagram.version", f"unknown version {data[2]}")
    try:
        kind = Type(data[3])
    except ValueError:
        raise DatagramError("datagram.type", f"unknown type {data[3]}") from None
    cid = bytes(data[4:HEADER])
    if (cid == NO_CID) != (kind in _NO_CID_TYPES):
        raise DatagramError("datagram.cid", f"{kind.name} with {'a' if cid != NO_CID else 'no'}"
                            " connection id")
    where = f"datagram.{kind.name.lower()}"
    if kind is Type.DATA:
        return Datagram(cid, _decode_data(bytes(data), where))
    if len(data) != SIZES[kind]:
        raise DatagramError(where, f"{len(data)} bytes, {kind.name} is {SIZES[kind]}")
    body = bytes(data[HEADER:])
    return Datagram(cid, _decode_fixed(kind, body, where))


def _nonzero(value: bytes, where: str) -> bytes:
    if value == NO_CID:
        raise DatagramError(where, "zero connection id")
    return value


def _decode_fixed(kind: Type, body: bytes, where: str) -> Payload:
    if kind in (Type.PROBE, Type.ANNOUNCE) and body[8:] != _PAD:
        raise DatagramError(where, "padding is not zero")
    match kind:
        case Type.PROBE:
            return Probe(_nonzero(body[:8], where))
        case Type.CHALLENGE:
            return Challenge(body)
        case Type.CONNECT:
            return Connect(_nonzero(body[:8], where), body[8:])
        case Type.ACCEPT:
            return Accept(_nonzero(body, where))
        case Type.ACK:
            nxt, bitmap, limit = (int.from_bytes(body[i:i + _U64], "big") for i in (0, 8, 16))
            return Ack(nxt, bitmap, limit)
        case Type.ANNOUNCE:
            return Announce(body[:8])
    return Close()


def _decode_data(data: bytes, where: str) -> Data:
    if len(data) < DATA_HEADER + CHUNK_HEADER + MIN_FRAGMENT:
        raise DatagramError(where, f"{len(data)} bytes, too short for DATA")
    seq = int.from_bytes(data[HEADER:DATA_HEADER], "big")
    fragments = []
    at = DATA_HEADER
    while at < len(data):
        if at + CHUNK_HEADER > len(data):
            raise DatagramError(where, f"a chunk length cut short at byte {at}")
        size = int.from_bytes(data[at:at + CHUNK_HEADER], "big")
        at += CHUNK_HEADER
        if size < MIN_FRAGMENT or at + size > len(data):
            raise DatagramError(where, f"chunk of {size} bytes at byte {at - CHUNK_HEADER} "
                                f"does not fit (fragments are >= {MIN_FRAGMENT} bytes)")
        fragments.append(data[at:at + size])
        at += size
    return Data(seq, tuple(fragments))


# --- the handshake cookie (docs/protocol.md §13.2) ------------------------------------------


def address_bytes(host: str) -> bytes:
    """A source address as the cookie binds it: 4 bytes for IPv4, 16 for IPv6.

    An IPv4-mapped IPv6 address (``::ffff:a.b.c.d``, how a dual-stack socket reports an IPv4
    peer) is the IPv4 address it maps, so one peer gets one cookie whichever socket heard it;
    the zone of a scoped address (``fe80::1%eth0``) is not part of it. Raises ValueError for
    anything that is not an IP address literal.
    """
    ip = ipaddress.ip_address(host.partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.packed
    return ip.packed


def cookie_input(period: int, host: str, port: int, initiator: bytes) -> bytes:
    """The MAC input of a cookie: period (uint64) ‖ address (4 or 16) ‖ port (uint16) ‖ the
    initiator cid (8): 22 bytes for an IPv4 source, 34 for an IPv6 one."""
    return (period.to_bytes(8, "big") + address_bytes(host) + port.to_bytes(2, "big")
            + initiator)


def make_cookie(secret: bytes, period: int, host: str, port: int, initiator: bytes) -> bytes:
    """The recommended stateless cookie: HMAC-SHA-256(secret, `cookie_input`)[:16]."""
    message = cookie_input(period, host, port, initiator)
    return hmac.new(secret, message, hashlib.sha256).digest()[:COOKIE_SIZE]

