"""The bitchat codec against bitchat-android's golden vectors, round trips and hostile input."""

from __future__ import annotations

import contextlib
import zlib
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshnode.crypto.identity import Identity
from meshnode.transport.bitchat.codec import (
    MAX_PAYLOAD,
    BitchatError,
    MsgType,
    Packet,
    decode_packet,
    encode_packet,
    pad,
    relay_copy,
    signing_bytes,
)
from meshnode.transport.bitchat.identity import BitchatIdentity, verify_packet
from meshnode.transport.bitchat.payloads import (
    Announcement,
    Fragment,
    decode_announcement,
    decode_fragment,
    decode_text,
    encode_announcement,
    encode_fragment,
)
from tests.transport.bitchat import vectors

ids8 = st.binary(min_size=8, max_size=8)


# --- golden vectors ------------------------------------------------------------------------


def test_v1_packet_encodes_to_the_golden_bytes_and_back() -> None:
    packet = Packet(version=1, type=MsgType.MESSAGE, sender=bytes.fromhex("1011121314151617"),
                    timestamp=0x0102030405060708, payload=bytes.fromhex("aabbcc"), ttl=7)
    assert encode_packet(packet, padded=False) == vectors.V1_PACKET
    assert decode_packet(vectors.V1_PACKET) == packet


def test_v2_routed_signed_packet_encodes_to_the_golden_bytes_and_back() -> None:
    packet = Packet(version=2, type=MsgType.NOISE_ENCRYPTED,
                    sender=bytes.fromhex("0102030405060708"),
                    recipient=bytes.fromhex("1112131415161718"), timestamp=42,
                    payload=bytes.fromhex("dead"), signature=vectors.V2_SIGNATURE, ttl=5,
                    route=(bytes.fromhex("2122232425262728"), bytes.fromhex("3132333435363738")))
    assert encode_packet(packet, padded=False) == vectors.V2_PACKET
    assert decode_packet(vectors.V2_PACKET) == packet


def test_fragment_payload_matches_the_golden_thirteen_byte_header() -> None:
    fragment = Fragment(bytes.fromhex("0001020304050607"), 1, 3, MsgType.MESSAGE,
                        bytes.fromhex("aabb"))
    assert encode_fragment(fragment) == vectors.FRAGMENT
    assert decode_fragment(vectors.FRAGMENT) == fragment


def test_announcement_matches_the_golden_tlvs_and_keeps_extensions() -> None:
    announcement = Announcement("bob", b"\x11" * 32, b"\x22" * 32,
                                ((0x05, b"\x00\x01"), (0x7F, b"\xca\xfe")))
    assert encode_announcement(announcement) == vectors.ANNOUNCEMENT
    assert decode_announcement(vectors.ANNOUNCEMENT) == announcement


def test_truncated_golden_announcement_is_refused() -> None:
    with pytest.raises(BitchatError):
        decode_announcement(vectors.ANNOUNCEMENT_TRUNCATED)


def test_padded_golden_packet_decodes_to_the_same_packet() -> None:
    padded = pad(vectors.V1_PACKET)
    assert len(padded) == 256 and padded[-1] == 256 - len(vectors.V1_PACKET)
    assert decode_packet(padded) == decode_packet(vectors.V1_PACKET)


# --- signatures ----------------------------------------------------------------------------


def test_signature_covers_the_padded_packet_with_ttl_zero() -> None:
    me = BitchatIdentity(Identity.generate(), "hub")
    packet = me.public_message("hallo", 1_700_000_000_000, ttl=7)
    preimage = signing_bytes(packet)
    assert len(preimage) == 256 and preimage[2] == 0 and preimage[11] & 0x02 == 0
    relayed = decode_packet(relay_copy(encode_packet(packet)) or b"")
    assert relayed.ttl == 6 and verify_packet(relayed, me.signing_key)


def test_signature_fails_for_another_key_or_changed_text() -> None:
    me, other = (BitchatIdentity(Identity.generate(), n) for n in ("hub", "other"))
    packet = me.public_message("hallo", 1_700_000_000_000)
    assert verify_packet(packet, me.signing_key)
    assert not verify_packet(packet, other.signing_key)
    assert not verify_packet(replace(packet, payload=b"hallo!"), me.signing_key)
    assert not verify_packet(replace(packet, timestamp=packet.timestamp + 1), me.signing_key)


def test_compressed_packet_re_encodes_with_the_bytes_it_arrived_with() -> None:
    text = ("evacueer " * 20).encode()
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    wire = deflater.compress(text) + deflater.flush()
    raw = (bytes([1, 2, 7]) + (5).to_bytes(8, "big") + b"\x04"
           + (len(wire) + 2).to_bytes(2, "big") + b"S" * 8 + len(text).to_bytes(2, "big") + wire)
    packet = decode_packet(raw)
    assert packet.payload == text and packet.compressed
    assert encode_packet(packet, padded=False) == raw


# --- round trips ---------------------------------------------------------------------------


@st.composite
def packets(draw: st.DrawFn) -> Packet:
    version = draw(st.sampled_from([1, 2]))
    return Packet(
        version=version, type=draw(st.integers(0, 255)), ttl=draw(st.integers(0, 255)),
        timestamp=draw(st.integers(0, 2**64 - 1)), sender=draw(ids8),
        recipient=draw(st.none() | ids8),
        route=tuple(draw(st.lists(ids8, max_size=4))) if version == 2 else (),
        payload=draw(st.binary(max_size=600)),
        signature=draw(st.none() | st.binary(min_size=64, max_size=64)),
        rsr=draw(st.booleans()))


@given(packets(), st.booleans())
def test_every_packet_round_trips_padded_or_not(packet: Packet, padded: bool) -> None:
    assert decode_packet(encode_packet(packet, padded=padded)) == packet


@given(st.text(max_size=20).filter(lambda s: len(s.encode()) <= 255),
       st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32),
       st.lists(st.tuples(st.integers(4, 255), st.binary(max_size=40)), max_size=3))
def test_every_announcement_round_trips(nick: str, noise: bytes, sign: bytes,
                                        extras: list[tuple[int, bytes]]) -> None:
    announcement = Announcement(nick, noise, sign, tuple(extras))
    assert decode_announcement(encode_announcement(announcement)) == announcement


@given(ids8, st.integers(1, 0xFFFF).flatmap(lambda t: st.tuples(st.integers(0, t - 1),
                                                                st.just(t))),
       st.integers(0, 255), st.binary(min_size=1, max_size=100))
def test_every_fragment_round_trips(fid: bytes, pos: tuple[int, int], kind: int,
                                    data: bytes) -> None:
    fragment = Fragment(fid, pos[0], pos[1], kind, data)
    assert decode_fragment(encode_fragment(fragment)) == fragment


# --- hostile input -------------------------------------------------------------------------


@given(st.binary(max_size=400))
def test_arbitrary_bytes_decode_or_raise_bitchat_error(data: bytes) -> None:
    for decode in (decode_packet, decode_announcement, decode_fragment, decode_text):
        with contextlib.suppress(BitchatError):
            decode(data)


@given(packets(), st.data())
def test_every_truncation_of_a_packet_is_refused(packet: Packet, data: st.DataObject) -> None:
    raw = encode_packet(packet, padded=False)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(BitchatError):
        decode_packet(raw[:cut])


def test_unknown_flag_bits_are_refused() -> None:
    raw = bytearray(vectors.V1_PACKET)
    raw[11] |= 0x20
    with pytest.raises(BitchatError, match="flags"):
        decode_packet(bytes(raw))


def test_route_flag_on_version_1_is_refused() -> None:
    raw = bytearray(vectors.V1_PACKET)
    raw[11] |= 0x08
    with pytest.raises(BitchatError, match="route flag on a version 1"):
        decode_packet(bytes(raw))


def test_route_flag_with_no_hops_is_refused() -> None:
    # v2 broadcast: header, sender, route count 0, payload "ab"
    raw = bytes([2, 2, 7]) + bytes(8) + b"\x08" + (2).to_bytes(4, "big") + bytes(8) + b"\x00ab"
    with pytest.raises(BitchatError, match="no hops"):
        decode_packet(raw)


def test_trailing_bytes_that_are_not_padding_are_refused() -> None:
    with pytest.raises(BitchatError, match="padding"):
        decode_packet(vectors.V1_PACKET + b"\x02\x01")


def test_oversized_declared_payload_is_refused_before_reading() -> None:
    raw = bytes([2, 2, 7]) + bytes(8) + b"\x00" + (MAX_PAYLOAD + 10).to_bytes(4, "big") + bytes(8)
    with pytest.raises(BitchatError, match="payload"):
        decode_packet(raw)


def test_compression_bomb_is_refused() -> None:
    bomb = zlib.compress(bytes(10_000_000))[2:-4]  # raw deflate of 10 MB of zeros
    raw = (bytes([2, 2, 7]) + bytes(8) + b"\x04" + (len(bomb) + 4).to_bytes(4, "big")
           + bytes(8) + (10_000_000).to_bytes(4, "big") + bomb)
    with pytest.raises(BitchatError, match="expanded size"):
        decode_packet(raw)


def test_under_declared_compressed_size_is_refused() -> None:
    text = b"a" * 500
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    wire = deflater.compress(text) + deflater.flush()
    raw = (bytes([1, 2, 7]) + bytes(8) + b"\x04" + (len(wire) + 2).to_bytes(2, "big")
           + bytes(8) + (100).to_bytes(2, "big") + wire)
    with pytest.raises(BitchatError, match="declared size"):
        decode_packet(raw)


def test_announcement_with_a_key_twice_or_missing_is_refused() -> None:
    good = encode_announcement(Announcement("a", b"\x01" * 32, b"\x02" * 32))
    with pytest.raises(BitchatError, match="twice"):
        decode_announcement(good + bytes([1, 1]) + b"b")
    with pytest.raises(BitchatError, match="missing"):
        decode_announcement(good[:3])
    with pytest.raises(BitchatError, match="32 bytes"):
        decode_announcement(encode_announcement(Announcement("a", b"\x01" * 31, b"\x02" * 32)))


def test_fragment_index_not_below_total_is_refused() -> None:
    raw = bytearray(vectors.FRAGMENT)
    raw[9] = 3
    with pytest.raises(BitchatError, match="index"):
        decode_fragment(bytes(raw))


def test_invalid_utf8_text_is_refused() -> None:
    with pytest.raises(BitchatError, match="UTF-8"):
        decode_text(b"\xe2\x82")


def test_ttl_zero_is_never_relayed() -> None:
    raw = bytearray(vectors.V1_PACKET)
    raw[2] = 0
    assert relay_copy(bytes(raw)) is None


def test_the_hubs_announce_stays_below_bitchats_compression_threshold() -> None:
    # iOS re-compresses payloads of 100+ bytes when it verifies; ours must stay under.
    longest = BitchatIdentity(Identity.generate(), "é" * 10)  # 20 bytes, the maximum
    assert len(longest.announce(1).payload) < 100
    with pytest.raises(ValueError, match="nickname"):
        BitchatIdentity(Identity.generate(), "x" * 21)
