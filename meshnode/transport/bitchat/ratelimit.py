"""bitchat's public-message rate limits, as every phone applies them (sans-IO).

A phone admits a public message only if the sender's bucket (5 tokens, refilled at 1 per
second) and the text's bucket (3 tokens, refilled at 0.5 per second; the key is the text in
lower case) both hold a token; the text's bucket is not charged when the sender's refuses
(bitchat's MessageRateLimiter). The gateway applies the same limits to what it sends, so
phones drop nothing of it, and to what it bridges in, so one phone cannot flood a meshnode
channel through the hub. Bucket maps are bounded: full buckets carry no state and are
forgotten first, then the least recently used.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

__all__ = ["PublicLimits", "TokenBucket"]

SENDER_BURST, SENDER_RATE = 5.0, 1.0
CONTENT_BURST, CONTENT_RATE = 3.0, 0.5
MAX_BUCKETS = 2_000


@dataclass(slots=True)
class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second."""

    capacity: float
    rate: float
    tokens: float
    last: float

    def _refill(self, now: float) -> None:
        if now > self.last:
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
            self.last = now

    def ready_at(self, now: float) -> float:
        """When one token will be there (now if it is)."""
        self._refill(now)
        # The epsilon absorbs float error: a token due "now" must not look a nanosecond away.
        return now if self.tokens >= 1.0 - 1e-9 else now + (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1.0

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.capacity


@dataclass(slots=True)
class _Buckets:
    capacity: float
    rate: float
    items: OrderedDict[str, TokenBucket] = field(default_factory=OrderedDict)

    def get(self, key: str, now: float) -> TokenBucket:
        bucket = self.items.get(key)
        if bucket is None:
            if len(self.items) >= MAX_BUCKETS:
                for idle in [k for k, b in self.items.items() if b.full(now)]:
                    del self.items[idle]
            while len(self.items) >= MAX_BUCKETS:
                self.items.popitem(last=False)
            bucket = self.items[key] = TokenBucket(self.capacity, self.rate, self.capacity, now)
        self.items.move_to_end(key)
        return bucket


@dataclass(slots=True)
class PublicLimits:
    senders: _Buckets = field(default_factory=lambda: _Buckets(SENDER_BURST, SENDER_RATE))
    texts: _Buckets = field(default_factory=lambda: _Buckets(CONTENT_BURST, CONTENT_RATE))

    def ready_at(self, sender: str, text: str, now: float) -> float:
        """When a phone would admit `text` from `sender` (now if it would)."""
        return max(self.senders.get(sender, now).ready_at(now),
                   self.texts.get(text.lower(), now).ready_at(now))

    def take(self, sender: str, text: str, now: float) -> None:
        """Charge both buckets (call when `ready_at` said now)."""
        self.senders.get(sender, now).take(now)
        self.texts.get(text.lower(), now).take(now)

    def allow(self, sender: str, text: str, now: float) -> bool:
        """Admit and charge, as a phone does: the text is not charged if the sender is refused."""
        sender_bucket = self.senders.get(sender, now)
        if sender_bucket.ready_at(now) > now:
            return False
        sender_bucket.take(now)
        text_bucket = self.texts.get(text.lower(), now)
        if text_bucket.ready_at(now) > now:
            return False
        text_bucket.take(now)
        return True
