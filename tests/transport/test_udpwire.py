"""The UDP link's datagram format (version 2): exact round trips, exact sizes, one error type
for anything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshnode.codec import WireError
from meshnode.transport.udpwire import (
    DATA_HEADER,
    NO_CID,
    SIZES,
    Accept,
    Ack,
    Announce,
    Challenge,
    Close,
    Connect,
    Data,
    Datagram,
    DatagramError,
    Probe,
    Type,
    decode,
    encode,
)

cids = st.binary(min_size=8, max_size=8).filter(lambda b: b != NO_CID)
cookies = st.binary(min_size=16, max_size=16)
u64 = st.integers(0, 2**64 - 1)
fragments = st.lists(st.binary(min_size=3, max_size=400), min_size=1, max_size=5)
handshake = st.one_of(
    st.builds(lambda c: Datagram(NO_CID, Probe(c)), cids),
    st.builds(lambda c, k: Datagram(c, Challenge(k)), cids, cookies),
    st.builds(lambda c, k: Datagram(NO_CID, Connect(c, k)), cids, cookies),
    st.builds(lambda c, r: Datagram(c, Accept(r)), cids, cids),
    st.builds(lambda c: Datagram(c, Close()), cids),
    st.builds(lambda n: Datagram(NO_CID, Announce(n)), st.binary(min_size=8, max_size=8)),
    st.builds(lambda c, a, b, x: Datagram(c, Ack(a, b, x)), cids, u64, u64, u64),
)


@given(handshake)
def test_fixed_size_datagrams_round_trip_at_their_exact_size(datagram: Datagram) -> None:
    data = encode(datagram)
    assert len(data) == SIZES[datagram.type]
    assert decode(data) == datagram


@given(cid=cids, seq=u64, parts=fragments)
def test_data_carries_several_fragments_and_round_trips(cid: bytes, seq: int,
                                                        parts: list[bytes]) -> None:
    data = encode(Datagram(cid, Data(seq, tuple(parts))))
    assert len(data) == DATA_HEADER + sum(2 + len(p) for p in parts)
    assert decode(data) == Datagram(cid, Data(seq, tuple(parts)))


def test_a_handshake_reply_is_never_larger_than_what_drew_it() -> None:
    # A spoofed PROBE (or ANNOUNCE) must not turn us into an amplifier.
    assert SIZES[Type.CHALLENGE] <= SIZES[Type.PROBE]
    assert SIZES[Type.ACCEPT] <= SIZES[Type.CONNECT]
    assert SIZES[Type.PROBE] <= SIZES[Type.ANNOUNCE]


@given(st.binary(max_size=100))
def test_any_bytes_decode_or_raise_datagram_error(data: bytes) -> None:
    try:
        d = decode(data)
    except DatagramError as exc:
        assert isinstance(exc, WireError) and exc.field.startswith("datagram")
        return
    assert data[:3] == b"MN\x02" and encode(d) == data


@given(cid=cids, seq=u64, fragment=st.binary(min_size=3, max_size=50), cut=st.integers(1, 40))
def test_truncated_datagrams_are_refused(cid: bytes, seq: int, fragment: bytes,
                                         cut: int) -> None:
    for full in (encode(Datagram(cid, Data(seq, (fragment,)))),
                 encode(Datagram(cid, Ack(seq, seq, seq))),
                 encode(Datagram(NO_CID, Probe(cid)))):
        with pytest.raises(DatagramError):
            decode(full[:max(0, len(full) - cut)])


C = b"\x01" * 8


@pytest.mark.parametrize(("data", "field"), [
    (b"MN", "datagram"),
    (b"XX\x02\x01" + bytes(32), "datagram.magic"),
    (b"MN\x01\x01" + bytes(32), "datagram.version"),
    (b"MN\x02\x09" + C, "datagram.type"),
    (b"MN\x02\x01" + C + C + bytes(16), "datagram.cid"),  # PROBE with a cid
    (b"MN\x02\x06" + bytes(8) + bytes(24), "datagram.cid"),  # ACK without one
    (b"MN\x02\x01" + bytes(8) + bytes(24), "datagram.probe"),  # zero initiator
    (b"MN\x02\x01" + bytes(8) + C + b"\x01" + bytes(15), "datagram.probe"),  # padding
    (b"MN\x02\x06" + C + bytes(23), "datagram.ack"),
    (b"MN\x02\x07" + C + b"\x00", "datagram.close"),
    # A bare fragment with no chunk length: its first bytes read as a length that does
    # not fit.
    (b"MN\x02\x05" + C + bytes(8) + b"\x30\x00\x07hello", "datagram.data"),
    (b"MN\x02\x05" + C + bytes(8) + b"\x00\x02ab", "datagram.data"),  # chunk under 3 bytes
    (b"MN\x02\x05" + C + bytes(8) + b"\x00\x03abc\x00", "datagram.data"),  # cut length
])
def test_malformed_datagrams_name_the_problem(data: bytes, field: str) -> None:
    with pytest.raises(DatagramError) as info:
        decode(data)
    assert info.value.field == field


def test_the_encoder_refuses_what_cannot_be_sent() -> None:
    for bad in (Datagram(NO_CID, Ack(0, 0, 0)), Datagram(C, Probe(C)),
                Datagram(NO_CID, Probe(NO_CID)), Datagram(C, Data(0, ())),
                Datagram(C, Data(0, (b"ab",))), Datagram(C, Challenge(b"short"))):
        with pytest.raises(ValueError):
            encode(bad)
