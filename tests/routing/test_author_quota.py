"""The per-author hourly quota (`AuthorQuota`), judged by creation time, through its interface."""

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
