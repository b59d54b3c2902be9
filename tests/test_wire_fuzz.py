"""Fuzzing the decoders: whatever the bytes, only `WireError` escapes.

Runs with the `ci` hypothesis profile by default; `HYPOTHESIS_PROFILE=fuzz` for the long run.
"""

from __future__ import annotations

import contextlib

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshnode import wire
from meshnode.wire import Kind, Message, WireError
from tests import strategies as s


def decode_all(data: bytes) -> None:
    """Decode an envelope and its body the way a node does; only WireError may escape."""
    msg = wire.decode_message(data)
    if msg.kind in (Kind.POST, Kind.DM, Kind.RECEIPT, Kind.ANNOUNCE):
        wire.decode_body(msg.kind, msg.body)


def only_wire_errors(data: bytes) -> None:
    try:
        decode_all(data)
    except WireError as exc:
        assert exc.field and exc.rule


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(wire.encode_message(draw(s.messages())))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "extend", "splice", "set"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[pos:]
        elif op == "extend":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "splice":
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            # Length headers and type bytes most likely to hurt a naive decoder.
            data[pos:pos] = draw(st.sampled_from(
                [b"\xdb\xff\xff\xff\xff", b"\xc6\xff\xff\xff\xff", b"\xdd\xff\xff\xff\xff",
                 b"\xdf\xff\xff\xff\xff", b"\xc7\xff\x01", b"\xd4\x00\x00", b"\xcb" + bytes(8),
                 b"\xc1", b"\x91" * 200]))
        if not data:
            break
    return bytes(data)


@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data: bytes) -> None:
    only_wire_errors(data)


@given(mutated())
def test_mutated_valid_messages(data: bytes) -> None:
    only_wire_errors(data)


@given(s.messages(), st.data())
def test_mutated_bodies_inside_a_valid_envelope(msg: Message, data: st.DataObject) -> None:
    body = bytearray(msg.body)
    pos = data.draw(st.integers(0, len(body) - 1))
    body[pos] ^= data.draw(st.integers(1, 255))
    with contextlib.suppress(WireError):
        wire.decode_body(msg.kind, bytes(body))


@given(st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
    | st.binary(max_size=40) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(
        st.integers(-3, 10) | st.text(max_size=3), inner, max_size=6),
    max_leaves=30,
))
def test_structurally_valid_msgpack_of_any_shape(obj: object) -> None:
    data = msgpack.packb(obj, use_bin_type=True)
    only_wire_errors(data)
    for kind in (Kind.POST, Kind.DM, Kind.RECEIPT, Kind.ANNOUNCE):
        with contextlib.suppress(WireError):
            wire.decode_body(kind, data)


@pytest.mark.parametrize(
    "bomb",
    [
        b"\x91" * 100_000,  # nested arrays, far deeper than any stack
        b"\x81\x01" * 50_000,  # nested maps
        b"\xdd\xff\xff\xff\xff",  # array claiming 4 G elements
        b"\xdf\xff\xff\xff\xff",  # map claiming 4 G pairs
        b"\xc6\xff\xff\xff\xff",  # bin claiming 4 GiB
        b"\xdb\xff\xff\xff\xff",  # str claiming 4 GiB
        b"\xc9\xff\xff\xff\xff\x01",  # ext claiming 4 GiB
        b"\x95\x01\x01\xc4\x00",  # truncated envelope
        b"",
    ],
)
def test_bombs_are_refused_cheaply(bomb: bytes) -> None:
    with pytest.raises(WireError):
        decode_all(bomb)


def test_ext_types_are_refused_even_when_small() -> None:
    body = msgpack.packb(msgpack.ExtType(1, b"x"))
    with pytest.raises(WireError, match="extension types are not allowed"):
        wire.decode_body(Kind.POST, body)
    # fixext4 of type -1: msgpack's timestamp extension, in the body's place.
    stamp = b"\x95\x01\x01\xd6\xff" + bytes(4) + msgpack.packb([bytes(64), {1: 1, 2: 1}])[1:]
    with pytest.raises(WireError, match="extension types are not allowed"):
        wire.decode_message(stamp)
