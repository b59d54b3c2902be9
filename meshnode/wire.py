"""The meshnode wire format, version 1 (specified in docs/protocol.md).

A message is the msgpack array ``[version, kind, body: bin, sig: bin, routing: map]``.
The signature covers ``SIG_DOMAIN || version || kind || body`` (the exact body bytes: nobody
re-encodes a body to verify it) and the message id is the first 16 bytes of SHA-256 over
those same signed bytes. ``routing`` (hops left, spray copies) is unsigned; it is clamped on
decode and every relay may lower it.

Decoding is bounded before allocation and strict: every field is type- and range-checked,
bodies must be in canonical encoding, unknown fields, versions and kinds are refused, and the
only exception that escapes is `WireError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypeAlias

from meshnode.codec import (
    Fields,
    WireError,
    check_bin,
    check_int,
    check_name,
    pack,
    pack_ordered,
    unpack_bounded,
)

__all__ = [
    "ID_SIZE",
    "MAX_MESSAGE",
    "SIG_DOMAIN",
    "VERSION",
    "AnnounceBody",
    "Body",
    "DmBody",
    "Kind",
    "Message",
    "PostBody",
    "ReceiptBody",
    "Routing",
    "WireError",
    "decode_body",
    "decode_message",
    "encode_body",
    "encode_message",
    "kind_of",
]

VERSION = 1
ID_SIZE = 16
KEY_SIZE = 32
SIG_SIZE = 64
TAG_SIZE = 16
STAMP_SIZE = 8  # a proof-of-work nonce (meshnode.crypto.stamp)
MAX_MESSAGE = 8192
SIG_DOMAIN = b"meshnode/v1/sig\x00"

MAX_HOPS = 32
MAX_COPIES = 64
MAX_TIME = 2**40  # seconds since 1970: far beyond any real clock, small enough for every language

POST_TEXT_MAX = 1024
DM_TEXT_MAX = 4096
NAME_MAX = 64
CHANNEL_MAX = 64
DAY = 86_400


class Kind(IntEnum):
    """Message kinds; the integer is what goes on the wire."""

    POST = 1
    DM = 2
    RECEIPT = 3
    ANNOUNCE = 4
    ALERT = 5
    CERT = 6
    REVOKE = 7


# Largest body per kind, in bytes. Text limits are enforced per field; these bound the whole body
# before it is parsed. ALERT/CERT/REVOKE are reserved for the authority-alert bodies.
MAX_BODY: dict[Kind, int] = {
    Kind.POST: 1_280,
    Kind.DM: 4_096 + 640,
    Kind.RECEIPT: 128,
    Kind.ANNOUNCE: 256,
    Kind.ALERT: 6_144,
    Kind.CERT: 2_048,
    Kind.REVOKE: 1_024,
}

# Longest lifetime a sender may ask for; relays drop a message at its expiry.
MAX_TTL: dict[Kind, int] = {
    Kind.POST: 7 * DAY,
    Kind.DM: 14 * DAY,
    Kind.RECEIPT: 14 * DAY,
    Kind.ANNOUNCE: 365 * DAY,
}


@dataclass(frozen=True, slots=True)
class Routing:
    """The unsigned, mutable routing header: hops a relay may still add, spray copies held."""

    hops_left: int = 8
    copies: int = 1

    def clamped(self) -> Routing:
        return Routing(min(self.hops_left, MAX_HOPS), max(1, min(self.copies, MAX_COPIES)))


@dataclass(frozen=True, slots=True)
class Message:
    """One wire message. `body` holds the exact signed bytes; decode it with `decode_body`."""

    kind: Kind
    body: bytes
    sig: bytes
    routing: Routing = Routing()
    version: int = VERSION
    # Caches, not part of the value: a hub asks a received message for its id several times
    # and stores its encoding, so both are computed at most once per message object. Neither
    # is an argument (`dataclasses.replace` starts a changed message with both empty).
    _id: bytes | None = field(default=None, init=False, repr=False, compare=False)
    _encoded: bytes | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def signed_bytes(self) -> bytes:
        return signed_bytes(self.version, self.kind, self.body)

    @property
    def id(self) -> bytes:
        cached = self._id
        if cached is None:
            cached = hashlib.sha256(self.signed_bytes).digest()[:ID_SIZE]
            object.__setattr__(self, "_id", cached)
        return cached

    def with_routing(self, routing: Routing) -> Message:
        """This message with `routing` (clamped); its id, and its encoding rewritten in place
        when this one's is known, carry over (the routing is not signed)."""
        clamped = routing.clamped()
        msg = Message(self.kind, self.body, self.sig, clamped, self.version)
        object.__setattr__(msg, "_id", self._id)
        if self._encoded is not None:
            encoded = (self._encoded if clamped == self.routing
                       else with_tail_routing(self._encoded, clamped))
            object.__setattr__(msg, "_encoded", encoded)
        return msg


def signed_bytes(version: int, kind: int, body: bytes) -> bytes:
    """What a message signature covers: domain prefix, version and kind bytes, exact body."""
    return SIG_DOMAIN + bytes((version, kind)) + body


def encode_message(msg: Message) -> bytes:
    """Encode a message; refuses one that its own decoder would refuse. A message from
    `decode_message` (or its `with_routing`) answers the bytes it was decoded from (with its
    routing written into their tail): the same bytes this would build, as decoding checked
    that they are the one canonical encoding."""
    if msg._encoded is not None:
        return msg._encoded
    check_int(msg.version, "message.version", lo=VERSION, hi=VERSION)
    kind = _kind(msg.kind)
    check_bin(msg.body, "message.body", lo=1, hi=MAX_BODY[kind])
    check_bin(msg.sig, "message.sig", size=SIG_SIZE, hi=SIG_SIZE)
    r = msg.routing
    check_int(r.hops_left, "message.routing.hops_left", lo=0, hi=MAX_HOPS)
    check_int(r.copies, "message.routing.copies", lo=1, hi=MAX_COPIES)
    data = pack_ordered([msg.version, int(kind), msg.body, msg.sig, {1: r.hops_left, 2: r.copies}])
    if len(data) > MAX_MESSAGE:
        raise WireError("message", f"{len(data)} bytes exceeds {MAX_MESSAGE}")
    return data


def decode_message(data: bytes) -> Message:
    """Decode and bound-check the envelope. The body is checked for size, not yet parsed."""
    obj = unpack_bounded(data, what="message", max_size=MAX_MESSAGE, max_items=5)
    if not isinstance(obj, list) or len(obj) != 5:
        raise WireError("message", "expected an array of 5 elements")
    version = check_int(obj[0], "message.version", lo=0, hi=255)
    if version != VERSION:
        raise WireError("message.version", f"unsupported version {version} (this node speaks 1)")
    kind = _kind(check_int(obj[1], "message.kind", lo=0, hi=255))
    body = check_bin(obj[2], "message.body", lo=1, hi=MAX_BODY[kind])
    sig = check_bin(obj[3], "message.sig", size=SIG_SIZE, hi=SIG_SIZE)
    routing = _decode_routing(obj[4])
    # One encoding per envelope (§1): the routing values as received, before clamping.
    raw = obj[4]
    data = bytes(data)
    if pack_ordered([version, int(kind), body, sig, {1: raw[1], 2: raw[2]}]) != data:
        raise WireError("message", "not in canonical encoding")
    msg = Message(kind, body, sig, routing, version)
    if raw[1] <= MAX_HOPS and raw[2] <= MAX_COPIES:
        # Received within bounds, so unclamped: `data` is this message's encoding, ending in
        # its routing as `tail_routing` reads it (both values below 128).
        object.__setattr__(msg, "_encoded", data)
    return msg



def tail_routing(raw: bytes) -> Routing | None:
    """The routing of a canonically encoded message, read from its last five bytes.

    A canonical message ends with its routing map ``{1: hops, 2: copies}``; with both below 128
    (MAX_HOPS and MAX_COPIES are) that is exactly ``82 01 hh 02 cc``. None if the tail is not in
    that form (then decode the message). Relays read and rewrite it in place this way."""
    if (len(raw) > 5 and raw[-5] == 0x82 and raw[-4] == 1 and raw[-2] == 2
            and raw[-3] < 0x80 and 0 < raw[-1] < 0x80):
        return Routing(raw[-3], raw[-1])
    return None


def with_tail_routing(raw: bytes, routing: Routing) -> bytes:
    """`raw` (whose `tail_routing` is not None) with its routing replaced."""
    return raw[:-5] + bytes((0x82, 1, routing.hops_left, 2, routing.copies))

_KINDS: dict[int, Kind] = {int(k): k for k in Kind}


def kind_of(value: int) -> Kind:
    """`Kind(value)`, by a table: an enum's call costs about a microsecond, and a hub asks for
    the kind of each received message several times. ValueError for an unknown value, as
    `Kind(value)` raises."""
    kind = _KINDS.get(value)
    if kind is None:
        raise ValueError(f"{value!r} is not a valid Kind")
    return kind


def _kind(value: int) -> Kind:
    kind = _KINDS.get(value)
    if kind is None:
        raise WireError("message.kind", f"unknown kind {value}")
    return kind


def _decode_routing(obj: object) -> Routing:
    f = Fields(obj, "message.routing", allowed=frozenset({1, 2}))
    # Unsigned and set by the previous relay: any size is clamped rather than trusted.
    hops = f.uint(1, "hops_left", hi=2**32 - 1)
    copies = f.uint(2, "copies", lo=1, hi=2**32 - 1)
    return Routing(hops, copies).clamped()


# --- bodies ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostBody:
    """A public post in a named neighbourhood channel, signed by `author` (Ed25519 public key)."""

    author: bytes
    channel: str
    created: int
    expires: int
    text: str
    reply_to: bytes | None = None
    stamp: bytes | None = None  # proof of work for `author` (§15)


@dataclass(frozen=True, slots=True)
class AnnounceBody:
    """An identity card: signing key, key-agreement key and display name, self-signed."""

    sign_key: bytes
    dh_key: bytes
    name: str
    created: int
    expires: int
    stamp: bytes | None = None  # proof of work for `sign_key` (§15)


@dataclass(frozen=True, slots=True)
class DmBody:
    """The outside of a sealed direct message, as relays see it.

    `tag` is the daily pair tag of sender and recipient, `ack_key` a one-time Ed25519 key that
    signs this envelope and, held by the recipient only, the receipt. `sealed` is HPKE
    ``enc || ct``.
    """

    tag: bytes
    created: int
    expires: int
    ack_key: bytes
    sealed: bytes
    stamp: bytes | None = None  # proof of work for `ack_key` (§15)


@dataclass(frozen=True, slots=True)
class ReceiptBody:
    """A delivery acknowledgement for DM `dm_id`, signed with that DM's one-time `ack_key`."""

    dm_id: bytes
    ack_key: bytes
    created: int
    expires: int


Body: TypeAlias = PostBody | AnnounceBody | DmBody | ReceiptBody

_CHANNEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")
# A DM's plaintext is padded to a whole number of DM_PAD_BLOCK-byte blocks; HPKE adds the
# X25519 `enc` (32 bytes) and the ChaCha20-Poly1305 tag (16). The smallest plaintext (1-byte
# text) pads to 3 blocks, the largest (4,096-byte text) to 67 (docs/protocol.md §4.3, §5).
DM_PAD_BLOCK = 64
DM_SEAL_OVERHEAD = 48
DM_PLAINTEXT_MIN = 3 * DM_PAD_BLOCK
DM_PLAINTEXT_MAX = 67 * DM_PAD_BLOCK
DM_SEALED_MIN = DM_SEAL_OVERHEAD + DM_PLAINTEXT_MIN
DM_SEALED_MAX = DM_SEAL_OVERHEAD + DM_PLAINTEXT_MAX


def _check_times(created: int, expires: int, kind: Kind, where: str) -> None:
    if expires <= created:
        raise WireError(f"{where}.expires", "must be later than created")
    if expires - created > MAX_TTL[kind]:
        raise WireError(f"{where}.expires", f"lifetime exceeds {MAX_TTL[kind]} s")


def _check_channel(channel: str, where: str) -> None:
    if not set(channel) <= _CHANNEL_CHARS or channel[0] in "-_.":
        raise WireError(where, "channel names use a-z, 0-9, '-', '_', '.' and start alphanumeric")


def _post_fields(b: PostBody) -> dict[int, object]:
    d: dict[int, object] = {1: b.author, 2: b.channel, 3: b.created, 4: b.expires, 5: b.text}
    if b.reply_to is not None:
        d[6] = b.reply_to
    if b.stamp is not None:
        d[7] = b.stamp
    return d


def _post_from(f: Fields) -> PostBody:
    body = PostBody(
        author=f.bin(1, "author", size=KEY_SIZE, hi=KEY_SIZE),
        channel=f.text(2, "channel", lo=1, hi=CHANNEL_MAX),
        created=f.uint(3, "created", hi=MAX_TIME),
        expires=f.uint(4, "expires", hi=MAX_TIME),
        text=f.text(5, "text", lo=1, hi=POST_TEXT_MAX),
        reply_to=f.opt_bin(6, "reply_to", size=ID_SIZE, hi=ID_SIZE),
        stamp=f.opt_bin(7, "stamp", size=STAMP_SIZE, hi=STAMP_SIZE),
    )
    _check_channel(body.channel, "post.channel")
    _check_times(body.created, body.expires, Kind.POST, "post")
    return body


def _announce_fields(b: AnnounceBody) -> dict[int, object]:
    d: dict[int, object] = {1: b.sign_key, 2: b.dh_key, 3: b.name, 4: b.created,
                            5: b.expires}
    if b.stamp is not None:
        d[6] = b.stamp
    return d


def _announce_from(f: Fields) -> AnnounceBody:
    body = AnnounceBody(
        sign_key=f.bin(1, "sign_key", size=KEY_SIZE, hi=KEY_SIZE),
        dh_key=f.bin(2, "dh_key", size=KEY_SIZE, hi=KEY_SIZE),
        name=f.text(3, "name", lo=1, hi=NAME_MAX),
        created=f.uint(4, "created", hi=MAX_TIME),
        expires=f.uint(5, "expires", hi=MAX_TIME),
        stamp=f.opt_bin(6, "stamp", size=STAMP_SIZE, hi=STAMP_SIZE),
    )
    check_name(body.name, "announce.name", hi=NAME_MAX)
    _check_times(body.created, body.expires, Kind.ANNOUNCE, "announce")
    return body


def _dm_fields(b: DmBody) -> dict[int, object]:
    d: dict[int, object] = {1: b.tag, 2: b.created, 3: b.expires, 4: b.ack_key, 5: b.sealed}
    if b.stamp is not None:
        d[6] = b.stamp
    return d


def _dm_from(f: Fields) -> DmBody:
    body = DmBody(
        tag=f.bin(1, "tag", size=TAG_SIZE, hi=TAG_SIZE),
        created=f.uint(2, "created", hi=MAX_TIME),
        expires=f.uint(3, "expires", hi=MAX_TIME),
        ack_key=f.bin(4, "ack_key", size=KEY_SIZE, hi=KEY_SIZE),
        sealed=f.bin(5, "sealed", lo=DM_SEALED_MIN, hi=DM_SEALED_MAX),
        stamp=f.opt_bin(6, "stamp", size=STAMP_SIZE, hi=STAMP_SIZE),
    )
    if (len(body.sealed) - DM_SEAL_OVERHEAD) % DM_PAD_BLOCK:
        raise WireError("dm.sealed", f"length must be {DM_SEAL_OVERHEAD} + {DM_PAD_BLOCK}·k")
    _check_times(body.created, body.expires, Kind.DM, "dm")
    return body


def _receipt_fields(b: ReceiptBody) -> dict[int, object]:
    return {1: b.dm_id, 2: b.ack_key, 3: b.created, 4: b.expires}


def _receipt_from(f: Fields) -> ReceiptBody:
    body = ReceiptBody(
        dm_id=f.bin(1, "dm_id", size=ID_SIZE, hi=ID_SIZE),
        ack_key=f.bin(2, "ack_key", size=KEY_SIZE, hi=KEY_SIZE),
        created=f.uint(3, "created", hi=MAX_TIME),
        expires=f.uint(4, "expires", hi=MAX_TIME),
    )
    _check_times(body.created, body.expires, Kind.RECEIPT, "receipt")
    return body


@dataclass(frozen=True, slots=True)
class _Codec:
    name: str
    cls: type
    keys: frozenset[int]
    to_map: Callable[..., dict[int, object]]
    from_fields: Callable[[Fields], Body]


_CODECS: dict[Kind, _Codec] = {
    Kind.POST: _Codec("post", PostBody, frozenset(range(1, 8)), _post_fields, _post_from),
    Kind.ANNOUNCE: _Codec(
        "announce", AnnounceBody, frozenset(range(1, 7)), _announce_fields, _announce_from
    ),
    Kind.DM: _Codec("dm", DmBody, frozenset(range(1, 7)), _dm_fields, _dm_from),
    Kind.RECEIPT: _Codec(
        "receipt", ReceiptBody, frozenset(range(1, 5)), _receipt_fields, _receipt_from
    ),
}


def _codec(kind: Kind) -> _Codec:
    codec = _CODECS.get(kind)
    if codec is None:
        raise WireError("message.kind", f"{kind.name.lower()} bodies are not handled here")
    return codec


def body_kind(body: Body) -> Kind:
    for kind, codec in _CODECS.items():
        if isinstance(body, codec.cls):
            return kind
    raise WireError("body", f"not a body type: {type(body).__name__}")


def encode_body(body: Body) -> bytes:
    """Canonical encoding of a body; validates it exactly as `decode_body` would."""
    kind = body_kind(body)
    data = pack(_codec(kind).to_map(body))
    decode_body(kind, data)
    return data


def decode_body(kind: Kind, data: bytes) -> Body:
    """Parse and validate the body of a `kind` message; it must be canonically encoded."""
    codec = _codec(kind)
    obj = unpack_bounded(
        data, what=codec.name, max_size=MAX_BODY[kind], max_items=len(codec.keys)
    )
    body = codec.from_fields(Fields(obj, codec.name, allowed=codec.keys))
    # One body, one byte string: otherwise one signed message could travel under many ids.
    # Every `to_map` builds a flat map in ascending key order (`encode_body` packs it sorted
    # and decodes it here), so it packs as is: no sorting on every received message.
    if pack_ordered(codec.to_map(body)) != bytes(data):
        raise WireError(codec.name, "not in canonical encoding")
    return body
