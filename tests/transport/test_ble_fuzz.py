"""Fuzzing what a BLE peer shows us before any sync (meshnode/transport/ble_profile.py):
service data in adverts and the INFO characteristic. Mutations of valid values raise only
`AdvertError` or decode to a value that encodes back to the same bytes (or, for INFO, its
prefix: later versions may append fields).

`ci` profile by default; `HYPOTHESIS_PROFILE=fuzz` for the long run.
"""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from meshnode.transport.ble_profile import (
    AdvertError,
    Info,
    decode_info,
    encode_info,
    parse_service_data,
    service_data,
)
from meshnode.transport.ble_token import TOKEN_SIZE
from tests.fuzzing import mutated_from, mutations

SERVICE = [service_data(bytes(range(TOKEN_SIZE))), service_data(b"\xff" * TOKEN_SIZE)]
INFOS = [encode_info(Info()), encode_info(Info(max_frame=512))]


@given(mutated_from(SERVICE))
def test_mutated_service_data(data: bytes) -> None:
    try:
        token = parse_service_data(data)
    except AdvertError as exc:
        assert exc.field.startswith("advert")
        return
    assert service_data(token) == data


@given(mutated_from(INFOS) | st.binary(max_size=32))
def test_mutated_info(data: bytes) -> None:
    try:
        info = decode_info(data)
    except AdvertError as exc:
        assert exc.field.startswith("info")
        return
    assert info.max_frame > 0
    assert data.startswith(encode_info(info))


@given(st.sampled_from([bytearray, memoryview, list, str]), st.data())
def test_other_types_than_bytes_are_advert_errors(kind: type, data: st.DataObject) -> None:
    """bleak hands values over as bytearray; a buggy stack could hand anything."""
    raw = data.draw(mutations(SERVICE[0]))
    value = raw.hex() if kind is str else kind(raw)
    for decode in (parse_service_data, decode_info):
        with contextlib.suppress(AdvertError):
            decode(value)
