"""The UDP transport's datagram format: exact round trips, one error type for anything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshnode.codec import WireError
from meshnode.transport.udpwire import (
    ACK_SIZE,
    DATA_HEADER,
    HEADER,
    NO_INSTANCE,
    Ack,
    Data,
    Datagram,
    DatagramError,
    Type,
    decode,
    encode_ack,
    encode_control,
    encode_data,
)

instances = st.binary(min_size=8, max_size=8).filter(lambda b: b != NO_INSTANCE)
u64 = st.integers(0, 2**64 - 1)


@given(src=instances, dst=st.binary(min_size=8, max_size=8),
       kind=st.sampled_from([Type.PING, Type.PONG, Type.BYE]))
def test_control_datagrams_round_trip(src: bytes, dst: bytes, kind: Type) -> None:
    data = encode_control(kind, src, dst)
    assert len(data) == HEADER
    assert decode(data) == Datagram(kind, src, dst)


@given(src=instances, dst=instances, seq=u64, fragment=st.binary(min_size=3, max_size=1200))
def test_data_round_trips(src: bytes, dst: bytes, seq: int, fragment: bytes) -> None:
    data = encode_data(src, dst, seq, fragment)
    assert len(data) == DATA_HEADER + len(fragment)
    assert decode(data) == Datagram(Type.DATA, src, dst, Data(seq, fragment))


@given(src=instances, dst=instances, next_seq=u64, bitmap=u64, limit=u64)
def test_acks_round_trip(src: bytes, dst: bytes, next_seq: int, bitmap: int, limit: int) -> None:
    data = encode_ack(src, dst, next_seq, bitmap, limit)
    assert len(data) == ACK_SIZE
    assert decode(data) == Datagram(Type.ACK, src, dst, Ack(next_seq, bitmap, limit))


@given(st.binary(max_size=100))
def test_any_bytes_decode_or_raise_datagram_error(data: bytes) -> None:
    try:
        d = decode(data)
    except DatagramError as exc:
        assert isinstance(exc, WireError) and exc.field.startswith("datagram")
        return
    assert d.src != NO_INSTANCE and data[:2] == b"MN"


@given(src=instances, seq=u64, fragment=st.binary(min_size=3, max_size=50),
       cut=st.integers(1, 40))
def test_truncated_datagrams_are_refused(src: bytes, seq: int, fragment: bytes,
                                         cut: int) -> None:
    for full in (encode_data(src, src, seq, fragment), encode_ack(src, src, seq, seq, seq),
                 encode_control(Type.PING, src, NO_INSTANCE)):
        short = full[:max(0, len(full) - cut)]
        if full[3] == Type.DATA and len(short) >= DATA_HEADER + 3:
            continue  # a shorter fragment is still a well-formed DATA datagram
        with pytest.raises(DatagramError):
            decode(short)


@pytest.mark.parametrize(("data", "field"), [
    (b"MN", "datagram"),
    (b"XX\x01\x01" + bytes(16), "datagram.magic"),
    (b"MN\x02\x01" + bytes(16), "datagram.version"),
    (b"MN\x01\x09" + b"\x01" * 16, "datagram.type"),
    (b"MN\x01\x01" + bytes(16), "datagram.src"),
    (b"MN\x01\x01" + b"\x01" * 17, "datagram.ping"),
    (b"MN\x01\x04" + b"\x01" * 33, "datagram.ack"),
    (b"MN\x01\x04" + b"\x01" * 41, "datagram.ack"),
    (b"MN\x01\x03" + b"\x01" * 26, "datagram.data"),
])
def test_malformed_datagrams_name_the_problem(data: bytes, field: str) -> None:
    with pytest.raises(DatagramError) as info:
        decode(data)
    assert info.value.field == field


def test_encoders_refuse_what_cannot_be_sent() -> None:
    with pytest.raises(ValueError):
        encode_control(Type.DATA, b"\x01" * 8, NO_INSTANCE)
    with pytest.raises(ValueError):
        encode_control(Type.PING, b"\x01" * 7, NO_INSTANCE)
