"""The behaviour every MessageStore must have, run against MemoryStore and SqliteStore."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshnode.store import (
    MESSAGE_OVERHEAD,
    InvalidInput,
    Priority,
    PutResult,
    StoredMessage,
    StoreError,
)
from meshnode.store.base import MessageStore

from .conftest import StoreFactory
from .helpers import charged, contents, make_msg, mid

ACCEPTED = PutResult.ACCEPTED
BIG = 10**6
NOW = 50


def test_put_get_round_trip_keeps_every_field(new_store: StoreFactory) -> None:
    store = new_store(BIG)
    msg = StoredMessage(
        id=mid(7),
        kind=9,
        raw=b"\x00raw\xff",
        priority=Priority.ALERT,
        created=120,
        expires=900,
        received=130,
        channel="zuid-oost ✓",
        tag=b"\x01" * 8,
        issuer=b"vr-utrecht",
        seq=42,
        ref=mid(3),
        pinned=True,
    )
    assert store.put(msg, NOW) is ACCEPTED
    assert store.has(mid(7))
    assert store.get(mid(7)) == msg
    assert store.get(mid(8)) is None
    assert not store.has(mid(8))


def test_get_many_answers_what_get_answers_for_each_id(new_store: StoreFactory) -> None:
    """More ids than one query binds (the SQLite store reads them in several), some stored,
    some never stored, some deleted, one asked for twice."""
    store = new_store(BIG)
    stored = [make_msg(n, size=10) for n in range(1, 1_201)]
    assert all(r is ACCEPTED for r in store.put_many(stored, NOW))
    assert store.delete(mid(5)) and store.delete(mid(700))
    asked = [mid(n) for n in range(1_300, 0, -1)] + [mid(3)]
    found = store.get_many(asked)
    assert found == {i: m for i in asked if (m := store.get(i)) is not None}
    assert len(found) == 1_198 and mid(5) not in found and mid(1_250) not in found
    assert store.get_many([]) == {}


def test_duplicate_changes_nothing(new_store: StoreFactory) -> None:
    store = new_store(BIG)
    assert store.put(make_msg(1), NOW) is ACCEPTED
    before = store.usage()
    assert store.put(make_msg(1, size=10, priority=5), NOW) is PutResult.DUPLICATE
    assert store.usage() == before
    stored = store.get(mid(1))
    assert stored is not None and len(stored.raw) == 300


def test_expired_message_is_refused(new_store: StoreFactory) -> None:
    store = new_store(BIG)
    assert store.put(make_msg(1, expires=NOW), NOW) is PutResult.REJECTED_EXPIRED
    assert store.put(make_msg(2, expires=NOW + 1), NOW) is ACCEPTED
    assert [i for _, i in store.ids_since(0)] == [mid(2)]


def test_next_expiry_is_the_earliest_held_expiry(new_store: StoreFactory) -> None:
    store = new_store(BIG)
    assert store.next_expiry() is None
    assert store.put(make_msg(1, expires=NOW + 50), NOW) is ACCEPTED
    assert store.put(make_msg(2, expires=NOW + 20, pinned=True), NOW) is ACCEPTED
    assert store.next_expiry() == NOW + 20
    assert store.expire(NOW + 20) == 1
    assert store.next_expiry() == NOW + 50
    assert store.delete(mid(1))
    assert store.next_expiry() is None


def test_message_larger_than_capacity_is_refused(new_store: StoreFactory) -> None:
    store = new_store(charged(500))
    assert store.put(make_msg(1, size=501), NOW) is PutResult.REJECTED_FULL
    assert store.usage().count == 0
    assert store.put(make_msg(2, size=500), NOW) is ACCEPTED
    assert store.usage().used_bytes == store.usage().capacity_bytes


def test_expired_messages_are_evicted_first_even_pinned_alerts(new_store: StoreFactory) -> None:
    store = new_store(charged(300, 300))
    assert store.put(make_msg(1, priority=Priority.ALERT, expires=60, pinned=True), NOW) is ACCEPTED
    assert store.put(make_msg(2, priority=Priority.POST, created=10), NOW) is ACCEPTED
    # At t=60 the alert has expired: it goes, not the older, lower-priority live post.
    assert store.put(make_msg(3, priority=Priority.POST, created=200), 60) is ACCEPTED
    assert {m.id for m in contents(store)} == {mid(2), mid(3)}


def test_eviction_order_priority_then_age_then_size(new_store: StoreFactory) -> None:
    sizes = (300, 300, 400, 300, 300)
    store = new_store(charged(*sizes))
    seeded = [
        make_msg(1, priority=Priority.RECEIPT, created=1),
        make_msg(2, priority=Priority.DM, created=1),
        make_msg(3, priority=Priority.POST, created=7, size=400),  # same age, larger
        make_msg(4, priority=Priority.POST, created=7),
        make_msg(5, priority=Priority.POST, created=5),  # oldest post
    ]
    for m in seeded:
        assert store.put(m, NOW) is ACCEPTED
    evicted_order = []
    for n in range(10, 15):
        before = {m.id for m in contents(store)}
        assert store.put(make_msg(n, priority=Priority.CERT, created=300), NOW) is ACCEPTED
        evicted_order.append(before - {m.id for m in contents(store)})
    # 5 (oldest post), then 3 (larger of equal-age posts: frees 400 so one eviction suffices),
    # then 4, then the DM, then the receipt.
    assert evicted_order == [{mid(5)}, {mid(3)}, {mid(4)}, {mid(2)}, {mid(1)}]


def test_one_put_evicts_as_many_as_needed(new_store: StoreFactory) -> None:
    store = new_store(charged(100, 100, 100))
    for n in (1, 2, 3):
        assert store.put(make_msg(n, size=100, created=n), NOW) is ACCEPTED
    big = make_msg(9, size=100 + MESSAGE_OVERHEAD + 100, priority=Priority.DM)
    assert store.put(big, NOW) is ACCEPTED
    # Needs two slots' worth: the two oldest posts go, the newest stays.
    assert [m.id for m in contents(store)] == [mid(3), mid(9)]
    assert store.usage().used_bytes == store.capacity_bytes


def test_pinned_alerts_are_never_evicted_for_space(new_store: StoreFactory) -> None:
    store = new_store(charged(300, 300))
    for n in (1, 2):
        alert = make_msg(n, priority=Priority.ALERT, created=1, issuer=b"vr", seq=n, pinned=True)
        assert store.put(alert, NOW) is ACCEPTED
    assert store.put(make_msg(3, priority=Priority.POST, created=900), NOW) is (
        PutResult.REJECTED_FULL
    )
    # Even a certificate (higher priority) cannot push out a valid alert.
    assert store.put(make_msg(4, priority=Priority.CERT, created=900), NOW) is (
        PutResult.REJECTED_FULL
    )
    assert [m.id for m in contents(store)] == [mid(1), mid(2)]
    # Once cancelled (deleted) there is room again.
    assert store.delete(mid(1))
    assert store.put(make_msg(3, priority=Priority.POST, created=900), NOW) is ACCEPTED


def test_lower_priority_never_evicts_higher(new_store: StoreFactory) -> None:
    store = new_store(charged(300, 300))
    for n in (1, 2):
        assert store.put(make_msg(n, priority=Priority.DM, created=1), NOW) is ACCEPTED
    assert store.put(make_msg(3, priority=Priority.POST, created=999), NOW) is (
        PutResult.REJECTED_FULL
    )
    assert {m.id for m in contents(store)} == {mid(1), mid(2)}


def test_same_priority_evicts_only_older(new_store: StoreFactory) -> None:
    store = new_store(charged(300, 300))
    assert store.put(make_msg(1, created=10), NOW) is ACCEPTED
    assert store.put(make_msg(2, created=20), NOW) is ACCEPTED
    assert store.put(make_msg(3, created=5), NOW) is PutResult.REJECTED_FULL
    assert store.put(make_msg(4, created=15), NOW) is ACCEPTED
    assert [m.id for m in contents(store)] == [mid(4), mid(2)]


def test_rejected_put_changes_nothing(new_store: StoreFactory) -> None:
    store = new_store(charged(300, 300, 300))
    store.put(make_msg(1, priority=Priority.POST, created=1), NOW)
    store.put(make_msg(2, priority=Priority.ALERT, pinned=True), NOW)
    store.put(make_msg(3, priority=Priority.CERT), NOW)
    before = (contents(store), store.usage(), store.seen_count())
    # Would fit only by evicting the alert and the certificate as well as the post.
    huge = make_msg(4, priority=Priority.DM, size=charged(300, 300) + 300)
    assert store.put(huge, NOW) is PutResult.REJECTED_FULL
    assert (contents(store), store.usage(), store.seen_count()) == before
    assert not store.seen(mid(1))


def test_evicted_ids_are_remembered_as_seen(new_store: StoreFactory) -> None:
    store = new_store(charged(300))
    store.put(make_msg(1, created=1), NOW)
    assert store.put(make_msg(2, created=2), NOW) is ACCEPTED
    assert store.seen(mid(1)) and not store.has(mid(1))
    assert not store.seen(mid(2))


def test_seen_memory_is_bounded_and_forgets_least_recently_marked(
    new_store: StoreFactory,
) -> None:
    store = new_store(BIG, seen_capacity=3)
    for n in (1, 2, 3):
        store.mark_seen(mid(n), NOW)
    store.mark_seen(mid(1), NOW + 1)  # refreshed: now the most recent
    store.mark_seen(mid(4), NOW + 2)
    store.mark_seen(mid(5), NOW + 3)
    assert store.seen_count() == 3
    assert [store.seen(mid(n)) for n in (1, 2, 3, 4, 5)] == [True, False, False, True, True]


# The fixture is a factory: every example gets a fresh store (and a fresh SQLite file).
@settings(
    max_examples=max(1, settings().max_examples // 4),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    specs=st.lists(st.tuples(st.integers(0, 40), st.integers(1, 3)), min_size=0, max_size=30),
    since=st.integers(0, 45),
    limit=st.none() | st.integers(0, 10),
)
def test_sync_iteration_is_sorted_and_complete(
    new_store: StoreFactory, specs: list[tuple[int, int]], since: int, limit: int | None
) -> None:
    store = new_store(BIG)
    try:
        _check_sync_listing(store, specs, since, limit)
    finally:
        store.close()


def _check_sync_listing(
    store: MessageStore, specs: list[tuple[int, int]], since: int, limit: int | None
) -> None:
    msgs = [make_msg(n, created=c, kind=k, size=10) for n, (c, k) in enumerate(specs)]
    store.put_many(msgs, NOW)
    every = sorted((m.created, m.id) for m in msgs)
    assert store.ids_since(0) == every
    assert store.ids_since(since) == [p for p in every if p[0] >= since]
    assert store.ids_since(since, limit=limit) == [p for p in every if p[0] >= since][:limit]
    by_kind_2 = sorted((m.created, m.id) for m in msgs if m.kind == 2)
    assert store.ids_since(0, kind=2) == by_kind_2
    lower, upper = (since, mid(5)), (since + 10, b"")
    assert store.ids_range(lower, upper) == [p for p in every if lower <= p < upper]
    assert (
        store.ids_range(lower, upper, kind=2, limit=limit)
        == [p for p in by_kind_2 if lower <= p < upper][:limit]
    )
    assert [m.id for m in store.by_kind(2)] == [i for _, i in by_kind_2]


def test_usage_accounting_is_exact(new_store: StoreFactory) -> None:
    store = new_store(charged(100, 200, 300, 50))
    store.put(make_msg(1, size=100, kind=7, expires=60), NOW)
    store.put(make_msg(2, size=200, kind=7), NOW)
    store.put(make_msg(3, size=300, kind=8, priority=2), NOW)
    usage = store.usage()
    assert (usage.used_bytes, usage.count, dict(usage.by_kind)) == (
        charged(100, 200, 300),
        3,
        {7: 2, 8: 1},
    )
    assert usage.capacity_bytes == charged(100, 200, 300, 50)
    store.delete(mid(2))
    assert store.expire(60) == 1
    usage = store.usage()
    assert (usage.used_bytes, usage.count, dict(usage.by_kind)) == (charged(300), 1, {8: 1})
    assert not store.delete(mid(2))


def test_expire_removes_everything_due_including_pinned(new_store: StoreFactory) -> None:
    store = new_store(BIG)
    store.put(make_msg(1, expires=100, priority=4, pinned=True), NOW)
    store.put(make_msg(2, expires=101), NOW)
    store.put(make_msg(3, expires=99), NOW)
    assert store.expire(98) == 0
    assert store.expire(100) == 2
    assert [m.id for m in contents(store)] == [mid(2)]


def test_indexed_queries(new_store: StoreFactory) -> None:
    store = new_store(BIG)
    posts = [make_msg(n, created=10 + n, channel="a" if n % 2 else "b") for n in range(6)]
    dms = [make_msg(10 + n, priority=2, created=5 - n, tag=b"T") for n in range(3)]
    receipt = make_msg(20, priority=3, ref=mid(10))
    alerts = [
        make_msg(30, priority=4, issuer=b"I1", seq=7, pinned=True),
        make_msg(31, priority=4, issuer=b"I1", seq=3, pinned=True),
        make_msg(32, priority=4, issuer=b"I2", seq=1, ref=mid(40), pinned=True),
    ]
    for m in [*posts, *dms, receipt, *alerts]:
        assert store.put(m, NOW) is ACCEPTED
    assert [m.id for m in store.by_channel("a", 2)] == [mid(3), mid(5)]
    assert [m.id for m in store.by_channel("b", 10)] == [mid(0), mid(2), mid(4)]
    assert store.by_channel("a", 0) == [] and store.by_channel("c", 5) == []
    assert [m.id for m in store.by_tag(b"T")] == [mid(12), mid(11), mid(10)]
    assert store.by_tag(b"U") == []
    assert [m.id for m in store.by_ref(mid(10))] == [mid(20)]
    assert [m.id for m in store.alerts_by_issuer(b"I1")] == [mid(31), mid(30)]
    assert store.max_seq(b"I1") == 7 and store.max_seq(b"I3") is None
    assert store.issuer_seqs() == {b"I1": 7, b"I2": 1}
    store.delete(mid(30))
    assert store.issuer_seqs() == {b"I1": 3, b"I2": 1}


def test_put_many_equals_sequential_puts(new_store: StoreFactory) -> None:
    batch = [make_msg(n, created=n % 4, priority=1 + n % 3) for n in range(8)] + [make_msg(2)]
    one, other = new_store(charged(*[300] * 5)), new_store(charged(*[300] * 5))
    assert one.put_many(batch, NOW) == [other.put(m, NOW) for m in batch]
    assert contents(one) == contents(other)
    assert one.usage() == other.usage()


def test_put_many_with_a_bad_item_changes_nothing(new_store: StoreFactory) -> None:
    store = new_store(BIG)
    with pytest.raises(InvalidInput):
        store.put_many([make_msg(1), "not a message"], NOW)  # type: ignore[list-item]
    assert store.usage().count == 0


def test_meta_round_trip(new_store: StoreFactory) -> None:
    store = new_store(BIG)
    assert store.get_meta("seq/vr") is None
    store.set_meta("seq/vr", b"\x00\x01")
    store.set_meta("counter", b"")
    assert store.get_meta("seq/vr") == b"\x00\x01"
    store.set_meta("seq/vr", b"\x02")
    assert (store.get_meta("seq/vr"), store.get_meta("counter")) == (b"\x02", b"")
    with pytest.raises(InvalidInput):
        store.set_meta("k", "text")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        store.get_meta("")


def test_meta_keys_list_by_prefix_and_delete_removes(new_store: StoreFactory) -> None:
    store = new_store(BIG)
    for key in ("sent-dm:b", "sent-dm:a", "sent-dm%", "seq/vr", "sent-dn:z"):
        store.set_meta(key, b"x")
    assert store.meta_keys("sent-dm:") == ["sent-dm:a", "sent-dm:b"]
    assert store.meta_keys("sent-dm") == ["sent-dm%", "sent-dm:a", "sent-dm:b"]
    assert store.delete_meta("sent-dm:a") is True
    assert store.delete_meta("sent-dm:a") is False
    assert store.get_meta("sent-dm:a") is None
    assert store.meta_keys("sent-dm:") == ["sent-dm:b"]
    with pytest.raises(InvalidInput):
        store.meta_keys("")


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get(b"short"),
        lambda s: s.get_many([mid(1), b"short"]),
        lambda s: s.has("0" * 16),
        lambda s: s.delete(bytearray(16)),
        lambda s: s.mark_seen(mid(1), -1),
        lambda s: s.seen(None),
        lambda s: s.put(make_msg(1), True),
        lambda s: s.expire(2**63),
        lambda s: s.ids_since(-1),
        lambda s: s.ids_range((0, "x")),
        lambda s: s.ids_since(0, limit=-1),
        lambda s: s.by_kind(2**64),
        lambda s: s.by_channel("\ud800", 3),
        lambda s: s.by_tag("T"),
    ],
)
def test_malformed_arguments_raise_invalid_input(new_store: StoreFactory, call: object) -> None:
    store = new_store(BIG)
    store.put(make_msg(1), NOW)
    before = (contents(store), store.usage(), store.seen_count())
    with pytest.raises(InvalidInput):
        call(store)  # type: ignore[operator]
    assert (contents(store), store.usage(), store.seen_count()) == before


def test_use_after_close_raises_store_error(new_store: StoreFactory) -> None:
    store = new_store(BIG)
    store.close()
    with pytest.raises(StoreError):
        store.put(make_msg(1), NOW)
    with pytest.raises(StoreError):
        store.usage()
