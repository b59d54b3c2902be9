"""The UDP transport's datagram format (sans-IO): link control around framing fragments.

Every datagram starts with a 20-byte header (integers big-endian)::

    bytes 0-1    magic  b"MN"
    byte  2      version, 1
    byte  3      type   1 PING, 2 PONG, 3 DATA, 4 ACK, 5 BYE
    bytes 4-11   src    the sender's instance: 8 random bytes chosen at each daemon start
    bytes 12-19  dst    the instance the sender believes the receiver has; zero if unknown

then, by type:

    PING, PONG, BYE   nothing more (exactly 20 bytes)
    DATA              bytes 20-27 seq (uint64), then one framing fragment (at least 3 bytes)
    ACK               bytes 20-27 next seq expected (uint64), 28-35 bitmap (uint64): bit i set
                      means seq next+1+i arrived too, 36-43 limit (uint64): the sender may
                      send seqs below it (the receiver's window; exactly 44 bytes)

Instances let each side tell a restarted peer (new `src`) and stale traffic meant for its own
previous run (`dst` not its current instance) from live traffic on the same address.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from meshnode.codec import WireError

__all__ = [
    "ACK_SIZE",
    "DATA_HEADER",
    "HEADER",
    "INSTANCE_SIZE",
    "MAGIC",
    "NO_INSTANCE",
    "VERSION",
    "Ack",
    "Data",
    "Datagram",
    "DatagramError",
    "Type",
    "decode",
    "encode_ack",
    "encode_control",
    "encode_data",
]

MAGIC = b"MN"
VERSION = 1
INSTANCE_SIZE = 8
NO_INSTANCE = bytes(INSTANCE_SIZE)
HEADER = 20
DATA_HEADER = HEADER + 8
ACK_SIZE = HEADER + 24
MIN_FRAGMENT = 3  # the framing layer's smallest fragment header
_U64 = 8


class DatagramError(WireError):
    """A datagram that is not ours, of an unknown version or type, or cut short."""


class Type(IntEnum):
    PING = 1
    PONG = 2
    DATA = 3
    ACK = 4
    BYE = 5


@dataclass(frozen=True, slots=True)
class Data:
    seq: int
    fragment: bytes


@dataclass(frozen=True, slots=True)
class Ack:
    next: int
    bitmap: int
    limit: int


@dataclass(frozen=True, slots=True)
class Datagram:
    """A decoded datagram; `payload` is set for DATA and ACK only."""

    type: Type
    src: bytes
    dst: bytes
    payload: Data | Ack | None = None


def _header(kind: Type, src: bytes, dst: bytes) -> bytes:
    if len(src) != INSTANCE_SIZE or len(dst) != INSTANCE_SIZE:
        raise ValueError("instances are 8 bytes")
    return MAGIC + bytes((VERSION, kind)) + src + dst


def encode_control(kind: Type, src: bytes, dst: bytes) -> bytes:
    """A PING, PONG or BYE."""
    if kind not in (Type.PING, Type.PONG, Type.BYE):
        raise ValueError(f"{kind.name} is not a control datagram")
    return _header(kind, src, dst)


def encode_data(src: bytes, dst: bytes, seq: int, fragment: bytes) -> bytes:
    return _header(Type.DATA, src, dst) + seq.to_bytes(_U64, "big") + fragment


def encode_ack(src: bytes, dst: bytes, next_seq: int, bitmap: int, limit: int) -> bytes:
    return (_header(Type.ACK, src, dst) + next_seq.to_bytes(_U64, "big")
            + bitmap.to_bytes(_U64, "big") + limit.to_bytes(_U64, "big"))


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
    src, dst = bytes(data[4:12]), bytes(data[12:20])
    if src == NO_INSTANCE:
        raise DatagramError("datagram.src", "zero instance")
    if kind is Type.DATA:
        if len(data) < DATA_HEADER + MIN_FRAGMENT:
            raise DatagramError("datagram.data", f"{len(data)} bytes, too short for DATA")
        seq = int.from_bytes(data[HEADER:DATA_HEADER], "big")
        return Datagram(kind, src, dst, Data(seq, bytes(data[DATA_HEADER:])))
    if kind is Type.ACK:
        if len(data) != ACK_SIZE:
            raise DatagramError("datagram.ack", f"{len(data)} bytes, ACK is {ACK_SIZE}")
        fields = [int.from_bytes(data[i:i + _U64], "big") for i in range(HEADER, ACK_SIZE, _U64)]
        return Datagram(kind, src, dst, Ack(*fields))
    if len(data) != HEADER:
        raise DatagramError(f"datagram.{kind.name.lower()}",
                            f"{len(data)} bytes, {kind.name} is {HEADER}")
    return Datagram(kind, src, dst)
