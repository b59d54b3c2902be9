"""Memory stores given one `SharedBytes` hold equal message bytes once, and nothing else about
them changes (the behaviour suite runs against such a store too: `shared-memory`)."""

from __future__ import annotations

from dataclasses import replace

from meshnode.store import MemoryStore, PutResult
from meshnode.store.memory import SharedBytes

from .helpers import make_msg, twin_copy

NOW = 50


def test_an_equal_copy_in_another_store_is_held_as_the_same_bytes() -> None:
    shared = SharedBytes()
    first, second = MemoryStore(10**6, shared=shared), MemoryStore(10**6, shared=shared)
    msg = make_msg(1)
    copy = twin_copy(msg)
    assert first.put(msg, NOW) is PutResult.ACCEPTED
    assert second.put(copy, NOW) is PutResult.ACCEPTED
    got = second.get(copy.id)
    assert got == copy  # every field as given, its own `received` included
    assert got is not None and got.raw is msg.raw
    assert len(shared) == 1


def test_copies_whose_bytes_differ_keep_their_own_bytes() -> None:
    shared = SharedBytes()
    first, second = MemoryStore(10**6, shared=shared), MemoryStore(10**6, shared=shared)
    msg = make_msg(1)
    other_tail = replace(msg, raw=msg.raw[:-1] + b"\x07")  # another routing tail, say
    first.put(msg, NOW)
    second.put(other_tail, NOW)
    assert second.get(msg.id) == other_tail
    assert first.get(msg.id) == msg
    assert len(shared) == 2


def test_bytes_are_held_while_some_store_holds_them_and_no_longer() -> None:
    shared = SharedBytes()
    first, second = MemoryStore(10**6, shared=shared), MemoryStore(10**6, shared=shared)
    msg = make_msg(1, expires=100)
    first.put(msg, NOW)
    second.put(twin_copy(msg), NOW)
    assert first.delete(msg.id)
    assert len(shared) == 1  # the second store still holds it
    assert second.expire(100) == 1
    assert len(shared) == 0


def test_bytes_a_full_store_evicted_are_not_kept() -> None:
    """The stores' capacities bound the table: a store that evicts lets the bytes go too
    (a simulated city's stores fill and evict all day)."""
    shared = SharedBytes()
    store = MemoryStore(2 * make_msg(1).size, shared=shared)
    for n in range(1, 6):
        assert store.put(make_msg(n, created=100 + n), NOW) is PutResult.ACCEPTED
    assert store.count() == 2
    assert len(shared) == 2


def test_a_refused_put_shares_nothing() -> None:
    shared = SharedBytes()
    store = MemoryStore(10**6, shared=shared)
    assert store.put(make_msg(1, expires=NOW), NOW) is PutResult.REJECTED_EXPIRED
    assert MemoryStore(100, shared=shared).put(make_msg(2), NOW) is PutResult.REJECTED_FULL
    assert len(shared) == 0
