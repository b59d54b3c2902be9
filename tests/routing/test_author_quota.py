"""The per-author hourly quota (`AuthorQuota`), judged by creation time over a bounded set of
authors, through its interface."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from meshnode.routing.limits import AuthorQuota

AUTHOR = b"\x01" * 32
T = 1_790_000_000
HOUR = 3_600


@given(st.lists(st.integers(T - 5 * HOUR, T + 5 * HOUR), max_size=4 * 5))
def test_a_post_is_allowed_while_fewer_than_the_quota_were_created_within_an_hour_of_it(
        created: list[int]) -> None:
    quota = AuthorQuota(per_hour=5)
    accepted: list[int] = []
    for c in created:
        expected = sum(abs(t - c) < HOUR for t in accepted) < 5
        assert quota.allow(AUTHOR, c) is expected
        if expected:
            accepted.append(c)


def test_an_author_cannot_reopen_a_full_hour_once_its_memory_is_full() -> None:
    quota = AuthorQuota(per_hour=3)
    for slot in range(4):  # 4 × 3 posts, 3 h apart: the memory (4 × per_hour) is full
        for i in range(3):
            assert quota.allow(AUTHOR, T + slot * 3 * HOUR + i)
    flood = [quota.allow(AUTHOR, T - 3 * 24 * HOUR + i) for i in range(100)]
    assert flood.count(True) == 3


def test_forgetting_a_post_gives_its_place_back_once() -> None:
    quota = AuthorQuota(per_hour=2)
    assert quota.allow(AUTHOR, T) and quota.allow(AUTHOR, T + 1)
    assert not quota.allow(AUTHOR, T + 2)
    quota.forget(AUTHOR, T + 1)
    quota.forget(AUTHOR, T + 5)  # never allowed: changes nothing
    assert quota.allow(AUTHOR, T + 2)
    assert not quota.allow(AUTHOR, T + 3)
    assert quota.allow(b"\x02" * 32, T)  # another author's quota is its own


def test_posts_exactly_an_hour_apart_are_in_different_hours() -> None:
    quota = AuthorQuota(per_hour=1)
    assert quota.allow(AUTHOR, T)
    assert not quota.allow(AUTHOR, T + HOUR - 1)
    assert not quota.allow(AUTHOR, T - HOUR + 1)
    assert quota.allow(AUTHOR, T + HOUR)
    assert quota.allow(AUTHOR, T - HOUR)


def test_an_author_gets_its_hourly_quota_and_no_more_within_the_hour() -> None:
    quota = AuthorQuota(per_hour=3)
    assert [quota.allow(b"a", 1_000 + i) for i in range(5)] == [True] * 3 + [False] * 2
    assert quota.allow(b"b", 1_000)  # another author is not held to a's posts
    assert quota.allow(b"a", 1_000 + HOUR + 2)  # an hour after all three


def test_a_forgotten_post_frees_its_place() -> None:
    quota = AuthorQuota(per_hour=2)
    assert quota.allow(b"a", 10) and quota.allow(b"a", 20)
    quota.forget(b"a", 10)
    assert quota.allow(b"a", 30)
    assert not quota.allow(b"a", 40)


def test_beyond_the_bound_the_least_recently_active_author_starts_afresh() -> None:
    quota = AuthorQuota(per_hour=1, authors=2)
    assert quota.allow(b"a", 10) and quota.allow(b"b", 10)
    assert not quota.allow(b"a", 11)  # a is now the most recently active
    assert quota.allow(b"c", 10)  # b is dropped, not a
    assert not quota.allow(b"a", 12)
    assert quota.allow(b"b", 12)  # b was forgotten: a flood of fresh keys costs bounded memory


def test_an_author_keeps_a_bounded_history() -> None:
    quota = AuthorQuota(per_hour=1)
    for i in range(100):
        assert quota.allow(b"a", i * HOUR)
    assert not quota.allow(b"a", 99 * HOUR)
    assert quota.allow(b"a", 0)  # only the last 4 x per_hour timestamps are kept
