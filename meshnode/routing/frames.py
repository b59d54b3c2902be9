"""Sync frames: what two nodes say to each other on a link (docs/protocol.md §11).

A frame is the canonical msgpack array ``[type, body]``. Every frame is decoded with bounds and
raises only `WireError` on malformed input. Frames never carry a node id: a first and a
repeat contact look the same on the air.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeAlias

from meshnode.codec import (
    Fields,
    WireError,
    check_bin,
    check_int,
    check_text,
    pack_ordered,
    unpack_bounded,
)
from meshnode.routing.reconcile import FINGERPRINT_SIZE
from meshnode.wire import ID_SIZE, MAX_MESSAGE, TAG_SIZE

__all__ = [
    "MAX_FRAME",
    "Done",
    "Frame",
    "FrameType",
    "Hello",
    "Msg",
    "Recon",
    "Want",
    "blind_digest",
    "decode_frame",
    "encode_frame",
]

SYNC_VERSION = 2  # 2: pair tags in Hello field 3, (created, id, class) items (§8)
MAX_FRAME = MAX_MESSAGE + 64
MAX_RECON = 8_192
MAX_TAGS = 128  # pair tags of 64 contacts for two days, with padding
MAX_TRUST_IDS = 128
MAX_ISSUERS = 32
MAX_SEQS = 64
MAX_WANT = 256
MAX_PROPHET = 64
NONCE_SIZE = 8
DIGEST_DOMAIN = b"meshnode/v1/hello-digest\x00"


class FrameType(IntEnum):
    HELLO = 1
    RECON = 2
    WANT = 3
    MSG = 4
    DONE = 5


@dataclass(frozen=True, slots=True)
class Hello:
    """Opens a sync. `nonce` picks the initiator (higher wins); `tags` are the pair tags of
    DMs it would open, blinded with `nonce` and padded (so DMs for it go first), `trust_ids`
    the revocations and certificates it holds,
    `alerts` its per-issuer sequence numbers, `prophet` its delivery predictabilities,
    `digest` the range fingerprint (meshnode.routing.reconcile) of the whole set it reconciles
    (empty: not sent). Equal digests on both sides mean equal sets: no reconciliation."""

    nonce: bytes
    tags: tuple[bytes, ...] = ()
    trust_ids: tuple[bytes, ...] = ()
    alerts: tuple[tuple[str, tuple[int, ...]], ...] = ()
    prophet: tuple[tuple[bytes, int], ...] = ()
    version: int = SYNC_VERSION
    digest: bytes = b""


@dataclass(frozen=True, slots=True)
class Recon:
    """One message of the range-based reconciliation (meshnode.routing.reconcile)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Want:
    """Message ids the sender asks for."""

    ids: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Msg:
    """One wire message (meshnode.wire), as its encoded bytes."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Done:
    """The sender has nothing more to offer in this contact."""


Frame: TypeAlias = Hello | Recon | Want | Msg | Done


def blind_digest(nonce: bytes, fingerprint: bytes) -> bytes:
    """The set `fingerprint` as a Hello with `nonce` carries it (field 7).

    A phone's set changes slowly, so its plain fingerprint would link its syncs for hours. The
    receiver compares by blinding its own fingerprint with the sender's nonce: equal sets give
    equal values, and a listener sees a fresh value in every Hello.
    """
    return hashlib.sha256(DIGEST_DOMAIN + nonce + fingerprint).digest()[:FINGERPRINT_SIZE]


def _ids(value: object, field: str, *, size: int, hi: int) -> tuple[bytes, ...]:
    raw = check_bin(value, field, hi=size * hi)
    if len(raw) % size:
        raise WireError(field, f"length {len(raw)} is not a multiple of {size}")
    return tuple(raw[i : i + size] for i in range(0, len(raw), size))


def _hello_map(h: Hello) -> dict[int, object]:
    d: dict[int, object] = {1: h.version, 2: h.nonce}
    if h.tags:
        d[3] = b"".join(h.tags)
    if h.trust_ids:
        d[4] = b"".join(h.trust_ids)
    if h.alerts:
        d[5] = [[issuer, list(seqs)] for issuer, seqs in h.alerts]
    if h.prophet:
        d[6] = [[tag, p] for tag, p in h.prophet]
    if h.digest:
        d[7] = h.digest
    return d


def _hello_from(obj: object) -> Hello:
    f = Fields(obj, "hello", allowed=frozenset(range(1, 8)))
    version = f.uint(1, "version", hi=255)
    if version != SYNC_VERSION:
        raise WireError("hello.version", f"unsupported sync version {version}")
    alerts = []
    for i, item in enumerate(f.array(5, "alerts", hi=MAX_ISSUERS) if f.has(5) else []):
        where = f"hello.alerts[{i}]"
        if not isinstance(item, list) or len(item) != 2 or not isinstance(item[1], list):
            raise WireError(where, "expected [issuer_id, [seq, ...]]")
        if not 1 <= len(item[1]) <= MAX_SEQS:
            raise WireError(where, f"1..{MAX_SEQS} sequence numbers")
        seqs = tuple(check_int(s, where, lo=0, hi=2**63 - 1) for s in item[1])
        alerts.append((check_text(item[0], where, lo=1, hi=64), seqs))
    prophet = []
    for i, item in enumerate(f.array(6, "prophet", hi=MAX_PROPHET) if f.has(6) else []):
        where = f"hello.prophet[{i}]"
        if not isinstance(item, list) or len(item) != 2:
            raise WireError(where, "expected [tag, p]")
        prophet.append((check_bin(item[0], where, size=TAG_SIZE, hi=TAG_SIZE),
                        check_int(item[1], where, lo=0, hi=10_000)))
    return Hello(
        nonce=f.bin(2, "nonce", size=NONCE_SIZE, hi=NONCE_SIZE),
        tags=_ids(f.raw(3, "tags"), "hello.tags", size=TAG_SIZE, hi=MAX_TAGS)
        if f.has(3) else (),
        trust_ids=_ids(f.raw(4, "trust_ids"), "hello.trust_ids", size=ID_SIZE,
                       hi=MAX_TRUST_IDS) if f.has(4) else (),
        alerts=tuple(alerts),
        prophet=tuple(prophet),
        version=version,
        digest=f.bin(7, "digest", size=FINGERPRINT_SIZE, hi=FINGERPRINT_SIZE)
        if f.has(7) else b"",
    )


def encode_frame(frame: Frame) -> bytes:
    """Canonical encoding of a frame."""
    match frame:
        case Hello():
            body: object = _hello_map(frame)
            kind = FrameType.HELLO
        case Recon():
            body, kind = frame.data, FrameType.RECON
        case Want():
            body, kind = b"".join(frame.ids), FrameType.WANT
        case Msg():
            body, kind = frame.data, FrameType.MSG
        case Done():
            body, kind = None, FrameType.DONE
    return pack_ordered([int(kind), body])


def decode_frame(data: bytes) -> Frame:
    """Decode one frame; only `WireError` escapes."""
    obj = unpack_bounded(data, what="frame", max_size=MAX_FRAME,
                         max_items=max(MAX_SEQS, MAX_PROPHET, MAX_ISSUERS, 6))
    if not isinstance(obj, list) or len(obj) != 2:
        raise WireError("frame", "expected [type, body]")
    kind = check_int(obj[0], "frame.type", lo=0, hi=255)
    body = obj[1]
    frame: Frame
    if kind == FrameType.HELLO:
        frame = _hello_from(body)
    elif kind == FrameType.RECON:
        frame = Recon(check_bin(body, "recon", lo=1, hi=MAX_RECON))
    elif kind == FrameType.WANT:
        frame = Want(_ids(body, "want", size=ID_SIZE, hi=MAX_WANT))
    elif kind == FrameType.MSG:
        frame = Msg(check_bin(body, "msg", lo=1, hi=MAX_MESSAGE))
    elif kind == FrameType.DONE:
        if body is not None:
            raise WireError("done", "expected nil")
        frame = Done()
    else:
        raise WireError("frame.type", f"unknown frame type {kind}")
    if encode_frame(frame) != bytes(data):
        raise WireError("frame", "not in canonical encoding")
    return frame
