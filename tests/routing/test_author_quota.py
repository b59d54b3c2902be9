"""The per-author hourly quota (`AuthorQuota`), judged by creation time over a bounded set of
authors, through its interface."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from meshnode.routing.limits import UNLIMITED, AuthorQuota

AUTHOR = b"\x01" * 32
T = 1_790_000_000
HOUR = 3_600


@given(st.lists(st.integers(T - 5 * HOUR, T + 5 * HOUR), max_size=4 * 5))
def test_a_post_is_allowed_while_fewer_than_the_quota_were_created_in_its_clock_hour(
        created: list[int]) -> None:
    quota = AuthorQuota(per_hour=5)
    accepted: list[int] = []
    for c in created:
        expected = sum(t // HOUR == c // HOUR for t in accepted) < 5
        assert quota.allow(AUTHOR, c) is expected
        if expected:
            accepted.append(c)


@given(st.lists(st.integers(0, 40), max_size=200), st.integers(1, 4), st.integers(1, 12))
def test_no_author_gets_more_than_its_quota_per_hour_plus_one_quota_before_its_span(
        hours: list[int], per_hour: int, span: int) -> None:
    """Whatever order an author dates its messages in: every hour holds at most `per_hour`,
    except that messages dated before the span of hours kept (one shared count) add at most
    `per_hour` in all. Keeping a bounded history must never let a dropped count refill."""
    quota = AuthorQuota(per_hour=per_hour, span_hours=span)
    per: dict[int, int] = {}
    for h in hours:
        if quota.allow(AUTHOR, T + h * HOUR):
            per[h] = per.get(h, 0) + 1
    assert sum(max(0, n - per_hour) for n in per.values()) <= per_hour


def test_an_author_cycling_through_hours_far_apart_is_refused() -> None:
    """The flood an earlier version let through: it kept an author's last 4 × `per_hour`
    times, so posts cycling through five hours pushed each hour's times out with the others'."""
    quota = AuthorQuota(per_hour=3)
    allowed = [quota.allow(AUTHOR, T + (i % 5) * 24 * HOUR + i) for i in range(1_000)]
    assert allowed.count(True) <= 5 * 3 + 3  # each hour's quota, and one before the span


def test_a_backlog_from_days_ago_is_held_to_the_quota_of_its_hour() -> None:
    quota = AuthorQuota(per_hour=3)
    for day in range(4):
        for i in range(3):
            assert quota.allow(AUTHOR, T + day * 24 * HOUR + i)
    backlog = [quota.allow(AUTHOR, T - 3 * 24 * HOUR + i) for i in range(100)]
    assert backlog.count(True) == 3


def test_an_old_profile_card_gets_in_after_a_week_of_posts() -> None:
    quota = AuthorQuota(per_hour=2)
    for day in range(10):
        assert quota.allow(AUTHOR, T + day * 24 * HOUR)
    assert quota.allow(AUTHOR, T - 100 * 24 * HOUR)  # an announce made months ago


def test_a_quota_above_what_an_hour_can_count_allows_everything() -> None:
    quota = AuthorQuota(per_hour=UNLIMITED + 1)
    assert all(quota.allow(AUTHOR, T) for _ in range(UNLIMITED + 10))


def test_forgetting_a_post_gives_its_place_back_once() -> None:
    quota = AuthorQuota(per_hour=2)
    assert quota.allow(AUTHOR, T) and quota.allow(AUTHOR, T + 1)
    assert not quota.allow(AUTHOR, T + 2)
    quota.forget(AUTHOR, T + 1)
    quota.forget(AUTHOR, T + 5 * HOUR)  # an hour with nothing counted: changes nothing
    assert quota.allow(AUTHOR, T + 2)
    assert not quota.allow(AUTHOR, T + 3)
    assert quota.allow(b"\x02" * 32, T)  # another author's quota is its own


def test_hours_are_clock_hours_of_the_creation_time() -> None:
    start = T - T % HOUR
    quota = AuthorQuota(per_hour=1)
    assert quota.allow(AUTHOR, start)
    assert not quota.allow(AUTHOR, start + HOUR - 1)
    assert quota.allow(AUTHOR, start - 1)  # the hour before
    assert quota.allow(AUTHOR, start + HOUR)


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
    quota = AuthorQuota(per_hour=1, span_hours=4)
    for i in range(100):
        assert quota.allow(b"a", i * HOUR)
    assert not quota.allow(b"a", 99 * HOUR)
    assert quota.allow(b"a", 0)  # before the span: the one shared count
    assert not quota.allow(b"a", 1 * HOUR)  # and only once
