"""Token buckets: how much a peer or an author may cost a relay.

Time is passed in; nothing here reads the clock. `Buckets` keeps one bucket per key in a
bounded LRU, so a flood of fresh keys (Sybil identities) costs a bounded amount of memory and
every new key starts from the same small allowance.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import OrderedDict
from dataclasses import dataclass, field

__all__ = ["AuthorQuota", "Buckets", "Rate", "TokenBucket"]

_HOUR = 3_600


@dataclass(frozen=True, slots=True)
class Rate:
    """`per_second` tokens refill each second, up to `burst`."""

    per_second: float
    burst: float


@dataclass(slots=True)
class TokenBucket:
    rate: Rate
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate: Rate, now: float) -> TokenBucket:
        return cls(rate, rate.burst, now)

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Spend `cost` tokens if there are enough; refill first."""
        if now > self.updated:
            self.tokens = min(self.rate.burst,
                              self.tokens + (now - self.updated) * self.rate.per_second)
            self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False


@dataclass
class Buckets:
    """One bucket per key, at most `limit` keys (least recently used dropped)."""

    rate: Rate
    limit: int = 4096
    _buckets: OrderedDict[object, TokenBucket] = field(default_factory=OrderedDict)

    def take(self, key: object, now: float, cost: float = 1.0) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket.full(self.rate, now)
            self._buckets[key] = bucket
            if len(self._buckets) > self.limit:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now, cost)

    def __len__(self) -> int:
        return len(self._buckets)

    def forget(self, key: object) -> None:
        self._buckets.pop(key, None)


@dataclass
class AuthorQuota:
    """How many posts one author may have created per hour, judged by creation time.

    Judging by `created` rather than by arrival means a backlog of an honest author's posts,
    arriving all at once after a day apart, is accepted, while an author who creates a flood
    is refused wherever the flood arrives. Bounded: at most `authors` authors are tracked
    (least recently active dropped), each with at most 4 × `per_hour` creation times (the one
    farthest from the newest post's dropped first). Each author's times are kept sorted, so
    a post costs two binary searches and an insertion rather than a scan of the author's
    times (every post a hub receives comes through here).
    """

    per_hour: int = 60
    authors: int = 10_000
    # Author -> its recent timestamps, least recently active first. A plain dict and tuples:
    # a simulated city holds millions of these (most authors with one timestamp), and an
    # OrderedDict entry and a list cost about twice as much.
    _times: dict[bytes, tuple[int, ...]] = field(default_factory=dict)

    def allow(self, author: bytes, created: int) -> bool:
        """Whether a post by `author` created at `created` fits; records it if so."""
        times = self._times.pop(author, ())
        # The times t with |t - created| < 3,600 s: created - 3,600 < t < created + 3,600.
        within = bisect_left(times, created + _HOUR) - bisect_right(times, created - _HOUR)
        if within < self.per_hour:
            at = bisect_right(times, created)
            times = (*times[:at], created, *times[at:])
            if len(times) > 4 * self.per_hour:
                # Drop the time farthest from this post's, never this post's own window: an
                # author cannot make room for more posts near one time by posting near it.
                times = times[1:] if created - times[0] > times[-1] - created else times[:-1]
        self._times[author] = times  # now the most recently active
        if len(self._times) > self.authors:
            del self._times[next(iter(self._times))]
        return within < self.per_hour

    def forget(self, author: bytes, created: int) -> None:
        """Undo one `allow` of `created` (the post could not be stored and may come again)."""
        times = self._times.get(author)
        if times is None:
            return
        at = bisect_left(times, created)
        if at < len(times) and times[at] == created:
            self._times[author] = times[:at] + times[at + 1:]
