"""StoredMessage validation and the shared eviction ordering (meshnode/store/base.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshnode.store.base import (
    MAX_INT,
    MESSAGE_OVERHEAD,
    Candidate,
    InvalidInput,
    Priority,
    StoredMessage,
    StoreError,
    eviction_rank,
    message_size,
    plan_eviction,
)

from .helpers import make_msg, mid

VALID: dict[str, Any] = {
    "id": mid(1),
    "kind": 1,
    "raw": b"r",
    "priority": 1,
    "created": 0,
    "expires": 1,
    "received": 0,
}

BAD_FIELDS: list[tuple[str, object]] = [
    ("id", b"\x00" * 15),
    ("id", b"\x00" * 17),
    ("id", bytearray(16)),
    ("kind", -1),
    ("kind", True),
    ("kind", 1.0),
    ("priority", MAX_INT + 1),
    ("created", None),
    ("expires", "1"),
    ("received", -5),
    ("raw", b""),
    ("raw", "text"),
    ("channel", ""),
    ("channel", "x" * 65),
    ("channel", "\udc80"),
    ("channel", b"chan"),
    ("tag", b""),
    ("tag", b"t" * 65),
    ("ref", "ref"),
    ("issuer", b"i"),  # without seq
    ("seq", 3),  # without issuer
    ("pinned", 1),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
def test_malformed_fields_raise_invalid_input_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        StoredMessage(**{**VALID, field: value})
    assert str(excinfo.value).split(":")[0] in {field, "seq"}
    assert isinstance(excinfo.value, ValueError) and isinstance(excinfo.value, StoreError)


@given(
    seq=st.integers(0, MAX_INT),
    issuer=st.binary(min_size=1, max_size=64),
    channel=st.text(min_size=1, max_size=16).filter(
        lambda c: not any(0xD800 <= ord(ch) <= 0xDFFF for ch in c)
    ),
)
def test_valid_optional_fields_are_accepted(seq: int, issuer: bytes, channel: str) -> None:
    msg = StoredMessage(**VALID, issuer=issuer, seq=seq, channel=channel)
    assert (msg.issuer, msg.seq, msg.channel) == (issuer, seq, channel)


def test_priority_enum_is_stored_as_plain_int() -> None:
    msg = StoredMessage(**{**VALID, "priority": Priority.ALERT})
    assert type(msg.priority) is int and msg.priority == 4


def test_size_is_raw_plus_fixed_overhead() -> None:
    assert make_msg(1, size=300).size == 300 + MESSAGE_OVERHEAD == message_size(300)


@given(
    a=st.tuples(st.integers(1, 5), st.integers(0, 100), st.integers(1, 900)),
    b=st.tuples(st.integers(1, 5), st.integers(0, 100), st.integers(1, 900)),
)
def test_rank_orders_by_priority_then_age_then_size(
    a: tuple[int, int, int], b: tuple[int, int, int]
) -> None:
    ma = make_msg(1, priority=a[0], created=a[1], size=a[2])
    mb = make_msg(2, priority=b[0], created=b[1], size=b[2])
    if a[0] != b[0]:
        assert (ma.rank < mb.rank) == (a[0] < b[0])
    elif a[1] != b[1]:
        assert (ma.rank < mb.rank) == (a[1] < b[1])
    elif a[2] != b[2]:
        assert (ma.rank < mb.rank) == (a[2] > b[2])  # larger goes first
    else:
        assert ma.rank < mb.rank  # id breaks the tie


def _cand(n: int, priority: int, created: int, size: int = 100) -> Candidate:
    return Candidate(mid(n), 1, size, eviction_rank(priority, created, size, mid(n)))


def test_plan_takes_expired_first_then_lower_ranked_live() -> None:
    incoming = make_msg(9, priority=3, created=50)
    expired = [_cand(1, 5, 1)]
    live = [_cand(2, 1, 10), _cand(3, 2, 10), _cand(4, 3, 60), _cand(5, 4, 1)]
    plan = plan_eviction(incoming, 300, iter(expired), iter(live))
    assert plan is not None and [c.id for c in plan] == [mid(1), mid(2), mid(3)]
    # Needing more than the lower-ranked ones can free is refused.
    assert plan_eviction(incoming, 301, iter(expired), iter(live)) is None
    assert plan_eviction(incoming, 0, iter(expired), iter(live)) == []


def test_plan_stops_reading_once_enough_is_freed() -> None:
    def endless() -> Any:
        n = 0
        while True:
            n += 1
            yield _cand(n, 1, n)

    plan = plan_eviction(make_msg(99, priority=2), 250, iter(()), endless())
    assert plan is not None and len(plan) == 3


def test_plan_detects_candidates_out_of_order() -> None:
    with pytest.raises(StoreError, match="out of order"):
        plan_eviction(
            make_msg(9, priority=5), 1000, iter(()), iter([_cand(2, 2, 1), _cand(1, 1, 1)])
        )
