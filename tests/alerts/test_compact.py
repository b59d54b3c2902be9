"""The compact alert body: exact round trips, one encoding per alert, hostile bytes refused."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshnode.alerts.compact import decode_alert, encode_alert, encoded_size
from meshnode.alerts.examples import example_nl_alert
from meshnode.alerts.model import MAX_BODY, Alert, AlertLimitError, Severity
from meshnode.codec import WireError
from tests.alerts.strategies import alerts

NOW = 1_790_000_000
EXAMPLE = example_nl_alert(NOW)


def raw(alert: Alert) -> dict[int, Any]:
    obj = msgpack.unpackb(encode_alert(alert), strict_map_key=False)
    assert isinstance(obj, dict)
    return obj


def repack(obj: object) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


def maps_in_key_order(obj: object) -> bool:
    """Whether every map in `obj` (decoded with its pairs kept in wire order) lists its keys
    in ascending order, at every depth."""
    if isinstance(obj, list) and all(isinstance(p, tuple) and len(p) == 2 for p in obj) and obj:
        keys = [k for k, _ in obj]
        return keys == sorted(keys) and all(maps_in_key_order(v) for _, v in obj)
    if isinstance(obj, list):
        return all(maps_in_key_order(v) for v in obj)
    return True


@given(alerts())
def test_round_trip_is_exact_deterministic_and_canonical(alert: Alert) -> None:
    data = encode_alert(alert)
    assert decode_alert(data) == alert
    assert encode_alert(decode_alert(data)) == data
    assert encoded_size(alert) == len(data) <= MAX_BODY
    # Canonical at every depth (docs/protocol.md §1), as msgpack itself reads the map keys'
    # order rather than our decoder's re-encoding: the encoder packs its maps as built.
    pairs = msgpack.unpackb(data, strict_map_key=False,
                            object_pairs_hook=lambda items: [tuple(i) for i in items])
    assert maps_in_key_order(pairs)


def test_key_numbering_matches_the_documented_table() -> None:
    obj = raw(EXAMPLE)
    info = EXAMPLE.infos[0]
    assert (obj[1], obj[2], obj[3], obj[4]) == (EXAMPLE.identifier, EXAMPLE.sender,
                                                EXAMPLE.sent, EXAMPLE.sent_tz)
    assert (obj[5], obj[6], obj[8]) == (EXAMPLE.status, EXAMPLE.msg_type, EXAMPLE.scope)
    first = obj[15][0]
    assert (first[1], first[3], first[6], first[14]) == (info.language, info.event,
                                                        int(Severity.SEVERE), info.expires)
    assert (first[17], first[18], first[19]) == (info.headline, info.description,
                                                  info.instruction)
    area = first[23][0]
    ring = info.areas[0].polygons[0]
    assert area[1] == info.areas[0].area_desc
    assert area[2] == [[c for point in ring for c in point]]
    assert list(obj) == sorted(obj)


def test_absent_fields_and_zero_offsets_are_omitted() -> None:
    utc = replace(EXAMPLE, sent_tz=0, infos=(replace(EXAMPLE.infos[0], effective=None,
                                                     effective_tz=0, expires_tz=0),))
    obj = raw(utc)
    assert 4 not in obj and 7 not in obj and 13 not in obj
    assert not {10, 11, 15, 8, 9, 22} & set(obj[15][0])


def leaves(obj: object) -> list[object]:
    if isinstance(obj, dict):
        return [x for k, v in obj.items() for x in [k, *leaves(v)]]
    if isinstance(obj, list):
        return [x for v in obj for x in leaves(v)]
    return [obj]


@given(alerts())
def test_only_integers_and_text_on_the_wire(alert: Alert) -> None:
    obj = msgpack.unpackb(encode_alert(alert), strict_map_key=False, raw=False)
    assert {type(x) for x in leaves(obj)} <= {int, str}


@pytest.mark.parametrize("mutate", [
    lambda o: o.__setitem__(4, 0),  # an explicit zero offset
    lambda o: o.__setitem__(11, []),  # an explicit empty list
    lambda o: o[15][0].__setitem__(11, 0),
], ids=["zero sent_tz", "empty codes", "zero effective_tz"])
def test_non_canonical_forms_are_refused(mutate: object) -> None:
    obj = raw(EXAMPLE)
    mutate(obj)  # type: ignore[operator]
    with pytest.raises(WireError, match="canonical"):
        decode_alert(repack(obj))


def test_unsorted_keys_are_refused() -> None:
    obj = raw(EXAMPLE)
    backwards = dict(reversed(list(obj.items())))
    data = msgpack.packb(backwards, use_bin_type=True)
    assert data != encode_alert(EXAMPLE)
    with pytest.raises(WireError, match="canonical"):
        decode_alert(data)


def test_wide_integer_encoding_is_refused() -> None:
    data = encode_alert(EXAMPLE)
    obj = raw(EXAMPLE)
    status = repack({5: obj[5]})[1:]  # fixint key 5 then the value
    wide = b"\x05\xce" + int(obj[5]).to_bytes(4, "big")  # same value as uint32
    assert status in data
    with pytest.raises(WireError):
        decode_alert(data.replace(status, wide, 1))


@pytest.mark.parametrize(("path", "value", "where"), [
    ((5,), 99, "alert.status"),
    ((15, 0, 6), 7, "alert.info[0].severity"),
    ((15, 0, 2), [0], "alert.info[0].categories[0]"),
    ((15, 0, 14), "soon", "alert.info[0].expires"),
    ((3,), -1, "alert.sent"),
    ((15, 0, 23, 0, 2, 0), [1, 2, 3], "alert.info[0].area[0].polygon[0]"),
    ((1,), b"bytes", "alert.identifier"),
    ((99,), 1, "alert"),
    ((15, 0, 23, 0, 3), [[1, 2]], "alert.info[0].area[0].circle[0]"),
    ((13,), [["s", "i", True, 0]], "alert.references[0].sent"),
])
def test_malformed_fields_are_named(path: tuple[int, ...], value: object, where: str) -> None:
    obj: Any = raw(EXAMPLE)
    target = obj
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(WireError) as caught:
        decode_alert(repack(obj))
    assert caught.value.field == where


def test_missing_expiry_is_refused() -> None:
    obj = raw(EXAMPLE)
    del obj[15][0][14]
    with pytest.raises(WireError, match="expires: missing"):
        decode_alert(repack(obj))


def test_limits_are_checked_on_decode_too() -> None:
    obj = raw(EXAMPLE)
    obj[15][0][18] = "x" * 1_200  # headline + description + instruction over 1,395
    with pytest.raises(AlertLimitError) as caught:
        decode_alert(repack(obj))
    assert caught.value.field == "alert.info[0].text"


def test_size_limit_on_encode_and_decode() -> None:
    info = EXAMPLE.infos[0]
    big = replace(EXAMPLE, infos=(replace(info, parameters=(("p", "v" * 1_000),) * 4),))
    with pytest.raises(AlertLimitError, match=f"exceeds {MAX_BODY:,}") as caught:
        encode_alert(big)
    assert isinstance(caught.value, WireError)
    with pytest.raises(WireError, match="exceeds the limit"):
        decode_alert(b"\x90" * (MAX_BODY + 1))


@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_wire_error(data: bytes) -> None:
    with contextlib.suppress(WireError):
        decode_alert(data)


@given(alerts(), st.data())
def test_mutated_encodings_raise_wire_error_or_decode_canonically(
    alert: Alert, data: st.DataObject
) -> None:
    encoded = bytearray(encode_alert(alert))
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        at = data.draw(st.integers(0, max(0, len(encoded) - 1)))
        if action == "flip" and encoded:
            encoded[at] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "cut":
            del encoded[at:at + data.draw(st.integers(1, 8))]
        else:
            encoded[at:at] = data.draw(st.binary(min_size=1, max_size=4))
    try:
        decoded = decode_alert(bytes(encoded))
    except WireError:
        return
    assert encode_alert(decoded) == bytes(encoded)
