"""Token buckets: how much a peer or an author may cost a relay.

Time is passed in; nothing here reads the clock. `Buckets` keeps one bucket per key in a
bounded LRU, so a flood of fresh keys (Sybil identities) costs a bounded amount of memory and
every new key starts from the same small allowance.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

__all__ = ["UNLIMITED", "AuthorQuota", "Buckets", "Rate", "TokenBucket"]

_HOUR = 3_600
UNLIMITED = 0xFFFF  # the largest count an hour holds (2 bytes, below)


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
    """How many messages one key may have created per clock hour, judged by creation time.

    A message created at `t` falls in hour `t // 3600`; at most `per_hour` are allowed per key
    and hour. Judging by `created` rather than by arrival means a backlog of an honest
    author's posts, arriving all at once after a day apart, is accepted, while an author who
    creates a flood is refused wherever the flood arrives.

    Bounded, and exact within its bounds: at most `authors` keys are tracked (least recently
    active dropped, so a flood of fresh keys costs bounded memory and each starts afresh), and
    for each the counts of the `span_hours` hours up to its newest message's hour. A message
    created before that span is judged against one count of its own per key (`per_hour` such
    messages at most, ever, while the key is tracked): an old profile card still gets in, but
    no count that was dropped can be refilled. An earlier version kept each key's last 4 ×
    `per_hour` creation times and dropped the one farthest from a new message's; an author
    alternating between two hours far apart then evicted each hour's times with the other's
    and was never refused.
    """

    per_hour: int = 60
    authors: int = 10_000
    # A post lives at most 7 days (wire.MAX_TTL) and may be dated an hour ahead (clock skew).
    span_hours: int = 7 * 24 + 2
    # Key -> its counts packed in one bytes object (below), least recently active first: a
    # simulated city holds millions of keys, most with one message.
    _counts: dict[bytes, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.per_hour < 1:
            raise ValueError("per_hour must be positive")
        if self.span_hours < 1:
            raise ValueError("span_hours must be at least 1")

    def allow(self, author: bytes, created: int) -> bool:
        """Whether a message by `author` created at `created` fits; records it if so. A quota
        above `UNLIMITED` (more than a link carries in an hour) allows all and records none."""
        if self.per_hour > UNLIMITED:
            return True
        hour = created // _HOUR
        packed = self._counts.pop(author, None)
        if packed is None:
            counts, allowed = _first_count(hour), True
        else:
            buf = bytearray(packed)
            allowed = _add(buf, hour, self.per_hour, self.span_hours)
            counts = bytes(buf)
        self._counts[author] = counts  # now the most recently active
        if len(self._counts) > self.authors:
            del self._counts[next(iter(self._counts))]
        return allowed

    def forget(self, author: bytes, created: int) -> None:
        """Undo one `allow` of `created` (the message could not be stored and may come again)."""
        packed = self._counts.get(author)
        if packed is None:
            return
        buf = bytearray(packed)
        at = _slot(buf, created // _HOUR)
        if at is not None and _get(buf, at):
            _put(buf, at, _get(buf, at) - 1)
            self._counts[author] = bytes(buf)


# One key's counts, packed: 4 bytes its first hour, 2 bytes the messages created before its
# span, then 2 bytes per hour from the first hour on (all big-endian).
_BEFORE = 4
_HOURS = 6


def _first_count(hour: int) -> bytes:
    return hour.to_bytes(4, "big") + b"\x00\x00\x00\x01"


def _get(buf: bytearray, at: int) -> int:
    return int.from_bytes(buf[at:at + 2], "big")


def _put(buf: bytearray, at: int, value: int) -> None:
    buf[at:at + 2] = value.to_bytes(2, "big")


def _slot(buf: bytearray, hour: int) -> int | None:
    """Where `hour`'s count is in `buf`: its own, the count before the span, or None (an hour
    after the last one counted)."""
    first = int.from_bytes(buf[:4], "big")
    if hour < first:
        return _BEFORE
    at = _HOURS + 2 * (hour - first)
    return at if at < len(buf) else None


def _add(buf: bytearray, hour: int, limit: int, span: int) -> bool:
    """Count one message of `hour` in `buf` if its hour holds fewer than `limit`."""
    first = int.from_bytes(buf[:4], "big")
    last = first + (len(buf) - _HOURS) // 2 - 1
    if hour > last:  # a newer hour: the span moves up, its oldest hours drop out
        buf.extend(bytes(2 * (hour - last)))
        drop = max(0, hour - first + 1 - span)
        if drop:
            del buf[_HOURS:_HOURS + 2 * drop]
            buf[:4] = (first + drop).to_bytes(4, "big")
    elif hour < first and last - hour < span:  # an older hour within the span
        buf[_HOURS:_HOURS] = bytes(2 * (first - hour))
        buf[:4] = hour.to_bytes(4, "big")
    # Before the span (`last - hour >= span`), the hour's own count may have been dropped:
    # such messages share one count, which never drops, so no dropped count is refilled.
    at = _slot(buf, hour)
    assert at is not None
    count = _get(buf, at)
    if count >= limit:
        return False
    _put(buf, at, count + 1)
    return True
