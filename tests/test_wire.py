"""Wire format: round trips, limits, clamping and versioning through the public codec."""

from __future__ import annotations

import dataclasses

import msgpack
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from meshnode import wire
from meshnode.codec import pack
from meshnode.wire import Kind, Message, PostBody, Routing, WireError, kind_of
from tests import strategies as s

NOW = 1_790_000_000
KEY = bytes(range(32))


def post(**changes: object) -> PostBody:
    fields: dict[str, object] = dict(
        author=KEY, channel="wijk-noord", created=NOW, expires=NOW + 3600, text="hallo"
    )
    fields.update(changes)
    return PostBody(**fields)  # type: ignore[arg-type]


def envelope(body: bytes, *, kind: int = 1, version: int = 1, routing: object = None) -> bytes:
    r = {1: 4, 2: 1} if routing is None else routing
    return msgpack.packb([version, kind, body, bytes(64), r], use_bin_type=True)


@given(s.bodies)
def test_every_body_round_trips(body: wire.Body) -> None:
    data = wire.encode_body(body)
    assert wire.decode_body(wire.body_kind(body), data) == body


@given(s.messages())
def test_every_message_round_trips(msg: Message) -> None:
    data = wire.encode_message(msg)
    assert len(data) <= wire.MAX_MESSAGE
    back = wire.decode_message(data)
    assert back == msg
    assert back.id == msg.id
    assert wire.decode_body(back.kind, back.body) == wire.decode_body(msg.kind, msg.body)


def test_message_id_covers_kind_and_body_but_not_routing_or_signature() -> None:
    body = wire.encode_body(post())
    a = Message(Kind.POST, body, bytes(64), Routing(8, 1))
    assert a.id == Message(Kind.POST, body, b"\x01" * 64, Routing(1, 5)).id
    assert a.id != Message(Kind.POST, wire.encode_body(post(text="hallo!")), bytes(64)).id
    assert len(a.id) == wire.ID_SIZE


@given(s.messages(), st.integers(0, 2**32 - 1), st.integers(1, 2**32 - 1),
       st.integers(0, 200), st.integers(1, 200))
def test_a_decoded_message_encodes_as_one_built_from_its_fields(
        msg: Message, hops: int, copies: int, new_hops: int, new_copies: int) -> None:
    """Decoding keeps the received bytes to answer `encode_message` and `with_routing` without
    re-encoding; whatever routing arrived or is set, the bytes are those built afresh."""
    data = wire.encode_message(msg)[:-5] + pack({1: hops, 2: copies})
    assume(len(data) <= wire.MAX_MESSAGE)
    received = wire.decode_message(data)
    fresh = Message(received.kind, received.body, received.sig, received.routing)
    assert wire.encode_message(received) == wire.encode_message(fresh)
    moved = received.with_routing(Routing(new_hops, new_copies))
    assert moved.routing == Routing(new_hops, new_copies).clamped()
    assert moved.id == received.id == fresh.id
    assert wire.encode_message(moved) == wire.encode_message(
        Message(msg.kind, msg.body, msg.sig, moved.routing))


def test_a_changed_copy_of_a_decoded_message_encodes_its_own_fields() -> None:
    body = wire.encode_body(post())
    received = wire.decode_message(envelope(body))
    resigned = dataclasses.replace(received, sig=b"\x01" * 64)
    assert wire.decode_message(wire.encode_message(resigned)).sig == b"\x01" * 64
    edited = dataclasses.replace(received, body=wire.encode_body(post(text="anders")))
    assert wire.decode_message(wire.encode_message(edited)).body == edited.body
    assert edited.id != received.id


def test_unsigned_routing_header_is_clamped_not_trusted() -> None:
    body = wire.encode_body(post())
    msg = wire.decode_message(envelope(body, routing={1: 2**32 - 1, 2: 10_000}))
    assert msg.routing == Routing(wire.MAX_HOPS, wire.MAX_COPIES)


@pytest.mark.parametrize(
    ("routing", "field"),
    [({1: -1, 2: 1}, "message.routing.hops_left"), ({1: 3, 2: 0}, "message.routing.copies"),
     ({1: 3}, "message.routing.copies"), ({1: 3, 2: 1, 9: 0}, "message.routing"),
     ({1: 2**33, 2: 1}, "message.routing.hops_left"), ([3, 1], "message.routing")],
)
def test_bad_routing_header_is_refused(routing: object, field: str) -> None:
    with pytest.raises(WireError) as err:
        wire.decode_message(envelope(wire.encode_body(post()), routing=routing))
    assert err.value.field == field


def test_unknown_version_and_kind_are_refused_by_name() -> None:
    body = wire.encode_body(post())
    with pytest.raises(WireError, match="unsupported version 2"):
        wire.decode_message(envelope(body, version=2))
    with pytest.raises(WireError, match="unknown kind 99"):
        wire.decode_message(envelope(body, kind=99))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"text": "x" * (wire.POST_TEXT_MAX + 1)}, "post.text"),
        ({"text": ""}, "post.text"),
        ({"text": "bell\x07"}, "post.text"),
        ({"channel": "Wijk Noord"}, "post.channel"),
        ({"channel": "-wijk"}, "post.channel"),
        ({"expires": NOW}, "post.expires"),
        ({"expires": NOW + wire.MAX_TTL[Kind.POST] + 1}, "post.expires"),
        ({"author": bytes(31)}, "post.author"),
        ({"reply_to": bytes(15)}, "post.reply_to"),
        ({"created": True}, "post.created"),
        ({"created": 2**41}, "post.created"),
    ],
)
def test_invalid_post_fields_are_named(changes: dict[str, object], field: str) -> None:
    with pytest.raises(WireError) as err:
        wire.encode_body(post(**changes))
    assert err.value.field == field


def test_post_text_limit_is_exactly_one_kibibyte() -> None:
    assert wire.decode_body(Kind.POST, wire.encode_body(post(text="é" * 512))).text == "é" * 512
    with pytest.raises(WireError, match="1025 UTF-8 bytes"):
        wire.encode_body(post(text="é" * 512 + "x"))


def test_non_canonical_body_is_refused() -> None:
    canonical = wire.encode_body(post())
    fields = msgpack.unpackb(canonical, strict_map_key=False)
    reordered = msgpack.packb(dict(reversed(list(fields.items()))), use_bin_type=True)
    assert reordered != canonical
    with pytest.raises(WireError, match="canonical"):
        wire.decode_body(Kind.POST, reordered)
    # created as a 64-bit int where 32 bits suffice: same value, different bytes.
    wide = canonical.replace(b"\xce" + NOW.to_bytes(4, "big"), b"\xcf" + NOW.to_bytes(8, "big"), 1)
    assert wide != canonical
    with pytest.raises(WireError, match="canonical"):
        wire.decode_body(Kind.POST, wide)


def test_unknown_and_missing_body_fields_are_refused() -> None:
    fields = msgpack.unpackb(wire.encode_body(post()), strict_map_key=False)
    with pytest.raises(WireError, match="unknown field key 9"):
        wire.decode_body(Kind.POST, pack({**fields, 9: 1}))
    del fields[5]
    with pytest.raises(WireError, match="post.text: missing"):
        wire.decode_body(Kind.POST, pack(fields))


def test_oversized_message_and_body_are_refused_before_parsing() -> None:
    with pytest.raises(WireError, match="exceeds the limit of 8192"):
        wire.decode_message(b"\x95" + b"\x00" * 9000)
    big = bytes(wire.MAX_BODY[Kind.POST] + 1)
    with pytest.raises(WireError) as err:
        wire.decode_message(envelope(big))
    assert err.value.field == "message.body"


def test_reserved_authority_kinds_are_not_parsed_by_the_basic_codec() -> None:
    with pytest.raises(WireError, match="not handled here"):
        wire.decode_body(Kind.ALERT, pack({1: 1}))


def test_signature_must_be_64_bytes() -> None:
    data = msgpack.packb([1, 1, wire.encode_body(post()), bytes(63), {1: 1, 2: 1}],
                         use_bin_type=True)
    with pytest.raises(WireError, match="message.sig: 63 bytes"):
        wire.decode_message(data)


def test_kind_of_answers_as_the_enum_does_for_every_byte() -> None:
    """The table lookup the node uses instead of `Kind(value)`: the same kind for each known
    value, the same ValueError for the rest."""
    for value in range(-1, 257):
        try:
            expected: Kind | None = Kind(value)
        except ValueError:
            expected = None
        if expected is None:
            with pytest.raises(ValueError):
                kind_of(value)
        else:
            assert kind_of(value) is expected
