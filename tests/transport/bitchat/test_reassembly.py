"""Bounded fragment reassembly: complete sets come back whole, hostile ones cost nothing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshnode.transport.bitchat.codec import BitchatError, MsgType
from meshnode.transport.bitchat.payloads import Fragment
from meshnode.transport.bitchat.reassembly import Reassembler

SENDER = b"S" * 8


def split(data: bytes, size: int, fid: bytes = b"F" * 8) -> list[Fragment]:
    chunks = [data[i:i + size] for i in range(0, len(data), size)]
    return [Fragment(fid, i, len(chunks), MsgType.MESSAGE, c) for i, c in enumerate(chunks)]


@given(st.binary(min_size=1, max_size=3000), st.integers(1, 500), st.randoms())
def test_fragments_in_any_order_reassemble_to_the_original(data: bytes, size: int,
                                                           rnd: object) -> None:
    parts = split(data, size)
    rnd.shuffle(parts)  # type: ignore[attr-defined]
    r = Reassembler()
    results = [r.add(SENDER, f, 0.0) for f in parts]
    assert results[-1] == (MsgType.MESSAGE, data)
    assert all(x is None for x in results[:-1])
    assert r.pending == 0 and r.buffered == 0


def test_duplicate_fragment_is_ignored_and_contradicting_one_drops_the_set() -> None:
    r = Reassembler()
    first, second = split(b"abcdef", 3)
    assert r.add(SENDER, first, 0.0) is None
    assert r.add(SENDER, first, 0.0) is None
    with pytest.raises(BitchatError, match="differently"):
        r.add(SENDER, Fragment(first.fragment_id, 0, 2, MsgType.MESSAGE, b"xyz"), 0.0)
    assert r.pending == 0 and r.buffered == 0
    assert r.add(SENDER, second, 0.0) is None  # the set starts again without its first half


def test_set_above_the_byte_bound_is_dropped() -> None:
    r = Reassembler(max_bytes=100)
    parts = split(bytes(150), 60)
    r.add(SENDER, parts[0], 0.0)
    with pytest.raises(BitchatError, match="larger than"):
        r.add(SENDER, parts[1], 0.0)
    assert r.pending == 0 and r.buffered == 0


def test_declared_total_above_the_bound_is_refused_without_buffering() -> None:
    r = Reassembler(max_fragments=4)
    with pytest.raises(BitchatError, match="total"):
        r.add(SENDER, Fragment(b"F" * 8, 0, 5, MsgType.MESSAGE, b"x"), 0.0)
    assert r.pending == 0


def test_many_open_sets_keep_at_most_max_sets_and_the_global_budget() -> None:
    r = Reassembler(max_sets=8, max_total_bytes=1000)
    for i in range(100):
        r.add(SENDER, Fragment(i.to_bytes(8, "big"), 0, 2, MsgType.MESSAGE, bytes(90)), 0.0)
        assert r.pending <= 8 and r.buffered <= 1000


def test_incomplete_set_expires_after_the_timeout() -> None:
    r = Reassembler(timeout=30.0)
    first, second = split(b"abcdef", 3)
    r.add(SENDER, first, 0.0)
    r.expire(30.5)
    assert r.pending == 0
    assert r.add(SENDER, second, 31.0) is None


def test_sets_of_different_senders_do_not_mix() -> None:
    r = Reassembler()
    a0, a1 = split(b"aaaaaa", 3)
    assert r.add(b"A" * 8, a0, 0.0) is None
    assert r.add(b"B" * 8, a1, 0.0) is None
    assert r.pending == 2
