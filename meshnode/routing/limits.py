"""Token buckets: how much a peer or an author may cost a relay.

Time is passed in; nothing here reads the clock. `Buckets` keeps one bucket per key in a
bounded LRU, so a flood of fresh keys (Sybil identities) costs a bounded amount of memory and
every new key starts from the same small allowance.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

__all__ = ["AuthorQuota", "Buckets", "Rate", "TokenBucket"]


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
    (least recently active dropped), each with at most `per_hour` + 1 recent timestamps.
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
        window = sum(1 for t in times if abs(t - created) < 3_600)
        if window < self.per_hour:
            times = (*times[max(0, len(times) + 1 - 4 * self.per_hour):], created)
        self._times[author] = times  # now the most recently active
        if len(self._times) > self.authors:
            del self._times[next(iter(self._times))]
        return window < self.per_hour

    def forget(self, author: bytes, created: int) -> None:
        """Undo one `allow` of `created` (the post could not be stored and may come again)."""
        times = self._times.get(author)
        if times is not None and created in times:
            i = times.index(created)
            self._times[author] = times[:i] + times[i + 1:]
