"""Fuzzing sync frames (meshnode/routing/frames.py): only `WireError` escapes, and whatever
decodes is the one canonical encoding of its frame.

`ci` profile by default; `HYPOTHESIS_PROFILE=fuzz` for the long run.
"""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fuzz.session import record
from meshnode.codec import WireError
from meshnode.routing.frames import (
    MAX_ISSUERS,
    MAX_PROPHET,
    MAX_SEQS,
    MAX_TAGS,
    MAX_WANT,
    Done,
    Frame,
    Hello,
    Msg,
    Recon,
    Want,
    decode_frame,
    encode_frame,
)
from meshnode.wire import ID_SIZE, MAX_MESSAGE, TAG_SIZE
from tests.fuzzing import mutated_from

tags = st.binary(min_size=TAG_SIZE, max_size=TAG_SIZE)
ids = st.binary(min_size=ID_SIZE, max_size=ID_SIZE)
issuers = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1,
                  max_size=16)

hellos = st.builds(
    Hello,
    nonce=st.binary(min_size=8, max_size=8),
    tags=st.lists(tags, max_size=MAX_TAGS).map(tuple),
    trust_ids=st.lists(ids, max_size=8).map(tuple),
    alerts=st.lists(st.tuples(issuers, st.lists(st.integers(0, 2**63 - 1), min_size=1,
                                                max_size=4).map(tuple)),
                    max_size=4).map(tuple),
    prophet=st.lists(st.tuples(tags, st.integers(0, 10_000)), max_size=4).map(tuple),
    digest=st.one_of(st.just(b""), st.binary(min_size=12, max_size=12)),
)
frames: st.SearchStrategy[Frame] = st.one_of(
    hellos,
    st.binary(min_size=1, max_size=200).map(Recon),
    st.lists(ids, max_size=20).map(lambda x: Want(tuple(x))),
    st.binary(min_size=1, max_size=300).map(Msg),
    st.just(Done()),
)


def decodes_canonically_or_wire_error(data: bytes) -> None:
    try:
        frame = decode_frame(data)
    except WireError as exc:
        assert exc.field and exc.rule
        return
    assert encode_frame(frame) == data


@given(frames)
def test_every_frame_round_trips(frame: Frame) -> None:
    assert decode_frame(encode_frame(frame)) == frame


@given(st.binary(max_size=1024))
@example(b"\x92\x01\x81\x01\x01")  # a hello map without its nonce
@example(b"\x92\x05\xc0\x00")  # trailing byte after Done
def test_arbitrary_bytes(data: bytes) -> None:
    decodes_canonically_or_wire_error(data)


@given(st.data())
def test_mutated_valid_frames(data: st.DataObject) -> None:
    valid = [*record().frames, *[encode_frame(data.draw(frames)) for _ in range(2)]]
    decodes_canonically_or_wire_error(data.draw(mutated_from(valid)))


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
    | st.binary(max_size=40) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(
        st.integers(-2, 8) | st.text(max_size=3), inner, max_size=6),
    max_leaves=25,
)


@given(st.integers(-1, 7), json_like)
def test_any_msgpack_body_under_any_frame_type(kind: int, body: object) -> None:
    decodes_canonically_or_wire_error(msgpack.packb([kind, body], use_bin_type=True))


@pytest.mark.parametrize(("frame", "field"), [
    ([3, b"\x00" * (ID_SIZE * (MAX_WANT + 1))], "want"),
    ([3, b"\x00" * (ID_SIZE + 1)], "want"),
    ([4, b"\x00" * (MAX_MESSAGE + 1)], "msg"),
    ([1, {1: 2, 2: b"n" * 8, 3: b"t" * (TAG_SIZE * (MAX_TAGS + 1))}], "hello.tags"),
    ([1, {1: 2, 2: b"n" * 8, 5: [["x", []]]}], "hello.alerts[0]"),
    ([1, {1: 2, 2: b"n" * 8, 5: [["x", [1] * (MAX_SEQS + 1)]]}], "frame"),
    ([1, {1: 2, 2: b"n" * 8, 5: [["x", [1]]] * (MAX_ISSUERS + 1)}], "hello.alerts"),
    ([1, {1: 2, 2: b"n" * 8, 6: [[b"t" * TAG_SIZE, 10_001]]}], "hello.prophet[0]"),
    ([1, {1: 2, 2: b"n" * 8, 6: [[b"t" * TAG_SIZE, 1]] * (MAX_PROPHET + 1)}], "frame"),
    ([1, {1: 1, 2: b"n" * 8}], "hello.version"),  # sync version 1 is retired (§8)
    ([1, {1: 3, 2: b"n" * 8}], "hello.version"),
    ([1, {1: 2, 2: b"n" * 8, 7: b"d" * 11}], "hello.digest"),
    ([1, {1: 2, 2: b"n" * 8, 8: b""}], "hello"),
    ([1, {2: b"n" * 8, 1: 2}], "frame"),  # keys out of order: not canonical
    ([5, 0], "done"),
    ([9, None], "frame.type"),
    ([True, None], "frame.type"),
])
def test_out_of_bounds_frames_name_the_field(frame: object, field: str) -> None:
    with pytest.raises(WireError) as caught:
        decode_frame(msgpack.packb(frame, use_bin_type=True))
    assert caught.value.field == field
