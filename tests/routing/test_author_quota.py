"""`AuthorQuota`: posts per author per hour by creation time, over a bounded set of authors."""

from __future__ import annotations

from meshnode.routing.limits import AuthorQuota

HOUR = 3_600


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
