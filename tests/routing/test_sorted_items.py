"""`SortedItems`, the reconciled set kept in shared chunks: every version answers exactly as
a plain sorted list would, and a version never changes when later ones are made from it."""

from __future__ import annotations

import random
from bisect import bisect_left

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshnode.routing.reconcile import (
    ID_SIZE,
    INFINITY,
    Bound,
    Item,
    SortedItems,
    fingerprint_of,
    item_hash,
)

EPOCH = 1_700_000_000


class Reference:
    """The naive model: a sorted list of items and a dict of classes, rebuilt at each step."""

    def __init__(self, classes: dict[Item, int]) -> None:
        self.classes = dict(classes)
        self.items = sorted(classes)

    def fingerprint(self, lo: int, hi: int) -> bytes:
        chosen = self.items[lo:hi]
        return fingerprint_of(sum(item_hash(i, self.classes[(t, i)]) for t, i in chosen),
                              len(chosen))


def assert_same(s: SortedItems, ref: Reference, rnd: random.Random) -> None:
    n = len(ref.items)
    assert len(s) == n
    assert list(s.items(0, n)) == ref.items
    assert list(s.classes(0, n)) == [ref.classes[item] for item in ref.items]
    assert s.fingerprint(0, n) == ref.fingerprint(0, n)
    for _ in range(12):
        lo = rnd.randint(0, n)
        hi = rnd.randint(lo, n)
        assert list(s.items(lo, hi)) == ref.items[lo:hi]
        assert list(s.classes(lo, hi)) == [ref.classes[item] for item in ref.items[lo:hi]]
        assert s.fingerprint(lo, hi) == ref.fingerprint(lo, hi)
        bound = probe_bound(rnd, ref.items)
        start = rnd.randint(0, n)
        assert s.bisect(bound) == bisect_left(ref.items, bound)
        assert s.bisect(bound, start) == bisect_left(ref.items, bound, start)
    for item in ref.items[:: max(1, n // 10)]:
        assert item in s
        assert (item[0] + 1, item[1]) not in s


def probe_bound(rnd: random.Random, items: list[Item]) -> Bound:
    """A bound at, between or around the items, with an id prefix as reconciliation makes."""
    if not items or rnd.random() < 0.1:
        return rnd.choice([INFINITY, (0, b""), (EPOCH, b"")])
    ts, item_id = rnd.choice(items)
    return (ts + rnd.choice([-1, 0, 0, 1]), item_id[: rnd.randint(0, ID_SIZE)])


def fresh_items(rnd: random.Random, count: int, span: int) -> list[Item]:
    """`count` items over `span` seconds; a small span gives equal timestamps."""
    return [(EPOCH + rnd.randrange(span), rnd.randbytes(ID_SIZE)) for _ in range(count)]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), size=st.sampled_from([0, 1, 63, 64, 65, 129, 300]),
       span=st.sampled_from([3, 3600, 3 * 86400]), steps=st.integers(1, 12))
def test_every_version_answers_like_a_sorted_list(seed: int, size: int, span: int,
                                                  steps: int) -> None:
    """Random adds, removals and class changes; each version is checked against the naive
    model, and so are all earlier versions afterwards (a session keeps its snapshot)."""
    rnd = random.Random(seed)
    start = fresh_items(rnd, size, span)
    classes = {item: rnd.randint(0, 1) for item in start}
    current = SortedItems(start, {i: c for (_, i), c in classes.items()})
    versions = [(current, Reference(classes))]
    assert_same(current, versions[0][1], rnd)
    for _ in range(steps):
        held = list(classes)
        removed = rnd.sample(held, min(len(held), rnd.choice([0, 1, 5, 80])))
        added = fresh_items(rnd, rnd.choice([0, 1, 10, 200]), span)
        recls = rnd.sample([i for i in held if i not in removed], min(
            len(held) - len(removed), rnd.choice([0, 3])))
        for item in removed:
            del classes[item]
        new_classes = {item[1]: rnd.randint(0, 1) for item in added + recls}
        for item in added + recls:
            classes[item] = new_classes[item[1]]
        older = current
        current = current.updated(add=added + recls, remove=removed + recls,
                                  classes=new_classes)
        ref = Reference(classes)
        assert_same(current, ref, rnd)
        assert current.added_since(older) == [i for i in ref.items if i not in older]
        assert older.added_since(current) == [i for i in versions[-1][1].items
                                              if i not in classes]
        versions.append((current, ref))
    for version, reference in versions:
        assert_same(version, reference, rnd)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), size=st.sampled_from([5, 200]))
def test_reclassed_changes_only_the_named_ids_it_holds(seed: int, size: int) -> None:
    rnd = random.Random(seed)
    start = fresh_items(rnd, size, 3600)
    s = SortedItems(start, {i: 0 for _, i in start})
    named = {i: 1 for _, i in rnd.sample(start, 3)}
    named[rnd.randbytes(ID_SIZE)] = 1  # not in the set: ignored
    changed = s.reclassed(named)
    ref = Reference({item: 1 if item[1] in named else 0 for item in start})
    assert_same(changed, ref, rnd)
    assert_same(s, Reference(dict.fromkeys(start, 0)), rnd)


def test_an_id_under_a_second_timestamp_is_refused_and_changes_nothing() -> None:
    rnd = random.Random(4)
    start = fresh_items(rnd, 300, 3600)
    s = SortedItems(start)
    ts, item_id = start[150]
    with pytest.raises(ValueError, match="two different timestamps"):
        s.updated(add=[(ts + 1, item_id)])
    assert_same(s, Reference(dict.fromkeys(start, 1)), rnd)
    moved = s.updated(add=[(ts + 1, item_id)], remove=[(ts, item_id)])  # a move is allowed
    assert (ts + 1, item_id) in moved and (ts, item_id) not in moved
    assert s.updated(add=[start[3]], remove=[(ts + 5, item_id)]) is s  # nothing changed


def test_a_large_version_keeps_its_answers_through_many_small_updates() -> None:
    """The node's use: one item added per contact to a set of thousands."""
    rnd = random.Random(9)
    start = fresh_items(rnd, 3000, 3 * 86400)
    s = SortedItems(start)
    first = s
    held = dict.fromkeys(start, 1)
    for item in fresh_items(rnd, 400, 3 * 86400):
        s = s.updated(add=[item])
        held[item] = 1
    assert_same(s, Reference(held), rnd)
    assert_same(first, Reference(dict.fromkeys(start, 1)), rnd)
    assert sorted(s.added_since(first)) == sorted(set(held) - set(start))
