"""Advert layout and INFO value: what other implementations parse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshnode.routing.frames import MAX_FRAME
from meshnode.transport.ble_profile import (
    ADVERT_FORMAT,
    ATT_HEADER,
    DEFAULT_ATT_MTU,
    LEGACY_ADV_SIZE,
    MAX_ATT_MTU,
    SERVICE_DATA_BUDGET,
    SERVICE_UUID,
    AdvertError,
    Info,
    PeerToken,
    advert_size,
    decode_info,
    encode_info,
    encode_token_value,
    fragment_size,
    parse_service_data,
    parse_token_value,
    service_data,
    uuid_le,
)
from meshnode.transport.ble_token import TOKEN_SIZE
from meshnode.transport.framing import MIN_MTU, Fragmenter


def test_advert_fits_legacy_advertising_with_the_exact_budget() -> None:
    # flags (3) + service data AD header (2) + 128-bit UUID (16) leave 10 bytes
    assert SERVICE_DATA_BUDGET == LEGACY_ADV_SIZE - 3 - 2 - 16 == 10
    assert len(service_data(bytes(TOKEN_SIZE))) == 1 + TOKEN_SIZE <= SERVICE_DATA_BUDGET
    assert advert_size() == 30 <= LEGACY_ADV_SIZE
    assert uuid_le(SERVICE_UUID)[::-1].hex() == SERVICE_UUID.replace("-", "")


@given(st.binary(min_size=TOKEN_SIZE, max_size=TOKEN_SIZE))
def test_service_data_round_trip(token: bytes) -> None:
    data = service_data(token)
    assert data[0] == ADVERT_FORMAT
    assert parse_service_data(data) == token
    assert parse_service_data(bytearray(data)) == token


@given(st.binary(max_size=40))
def test_foreign_service_data_is_refused_cleanly(data: bytes) -> None:
    try:
        token = parse_service_data(data)
    except AdvertError as exc:
        assert exc.field.startswith("advert")
    else:
        assert data == service_data(token)


def test_service_data_rejects_non_bytes() -> None:
    with pytest.raises(AdvertError):
        parse_service_data("10" * 9)


@given(st.binary(max_size=16))
def test_info_decoding_never_raises_anything_else(data: bytes) -> None:
    try:
        info = decode_info(data)
    except AdvertError as exc:
        assert exc.field.startswith("info")
    else:
        assert encode_info(info) == data[:6]


def test_info_round_trip_and_versions() -> None:
    info = Info()
    assert decode_info(encode_info(info)) == info
    with pytest.raises(AdvertError, match="protocol"):
        decode_info(bytes([2, 0, 0, 0, 64, 0]))
    with pytest.raises(AdvertError, match="framing"):
        decode_info(bytes([1, 1, 0, 0, 64, 0]))


@given(st.integers(-1000, 5000))
def test_fragment_size_fills_one_att_value_within_the_mtu_range(att_mtu: int) -> None:
    size = fragment_size(att_mtu)
    assert MIN_MTU <= size <= MAX_ATT_MTU - ATT_HEADER
    if DEFAULT_ATT_MTU <= att_mtu <= MAX_ATT_MTU:
        assert size + ATT_HEADER == att_mtu
    else:
        assert size == fragment_size(DEFAULT_ATT_MTU if att_mtu < DEFAULT_ATT_MTU
                                     else MAX_ATT_MTU)
    frame = bytes(3 * size)
    assert max(len(f) for f in Fragmenter(size).fragments(frame)) == size


def test_info_announces_the_sync_layers_largest_frame() -> None:
    assert encode_info(Info()) == bytes((1, 0)) + MAX_FRAME.to_bytes(4, "big")
    assert MAX_FRAME == 8_256


@given(token=st.binary(min_size=TOKEN_SIZE, max_size=TOKEN_SIZE), central=st.booleans())
def test_token_values_round_trip(token: bytes, central: bool) -> None:
    value = encode_token_value(token, central=central)
    assert value == bytes((ADVERT_FORMAT, 0 if central else 1)) + token
    assert parse_token_value(value) == PeerToken(token, central)


@pytest.mark.parametrize(("value", "field"), [
    (b"\x10\x00" + bytes(7), "token"),
    (b"\x10\x00" + bytes(9), "token"),
    (b"\x20\x00" + bytes(8), "token.format"),
    (b"\x10\x02" + bytes(8), "token.flags"),
    ("text", "token"),
])
def test_malformed_token_values_are_refused(value: object, field: str) -> None:
    with pytest.raises(AdvertError) as info:
        parse_token_value(value)
    assert info.value.field == field
