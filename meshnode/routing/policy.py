"""Forwarding policies: which copies of a message go to which peer.

Each policy answers one question for a stored message and a peer: hand over how many copies,
or none. Epidemic floods (alerts, posts, receipts); binary spray-and-wait (Spyropoulos et al.,
2005) hands over half its copies until one is left and then waits for the destination; PRoPHET
(Lindgren et al., 2003) forwards to peers that meet the destination more often than we do.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

__all__ = [
    "Epidemic",
    "ForwardingPolicy",
    "PolicyName",
    "Prophet",
    "ProphetTable",
    "SprayAndWait",
    "make_policy",
]


class PolicyName(Enum):
    EPIDEMIC = "epidemic"
    SPRAY = "spray-and-wait"
    PROPHET = "prophet"


@dataclass(frozen=True, slots=True)
class Offer:
    """Hand `give` copies to the peer and keep `keep`."""

    give: int
    keep: int


class ForwardingPolicy(Protocol):
    @property
    def name(self) -> PolicyName: ...

    def initial_copies(self) -> int:
        """Copies a message starts with at its source."""
        ...

    def offer(self, held: int, *, peer_is_destination: bool, gain: float) -> Offer | None:
        """What to hand a peer: None to keep the message from it.

        `gain` is the peer's delivery predictability for the destination minus ours (PRoPHET);
        other policies ignore it.
        """
        ...


@dataclass(frozen=True, slots=True)
class Epidemic:
    name: PolicyName = PolicyName.EPIDEMIC

    def initial_copies(self) -> int:
        return 1

    def offer(self, held: int, *, peer_is_destination: bool, gain: float) -> Offer | None:
        return Offer(1, held)


@dataclass(frozen=True, slots=True)
class SprayAndWait:
    """Binary spray-and-wait with `copies` (L) copies per message."""

    copies: int = 8
    name: PolicyName = PolicyName.SPRAY

    def initial_copies(self) -> int:
        return self.copies

    def offer(self, held: int, *, peer_is_destination: bool, gain: float) -> Offer | None:
        if peer_is_destination:
            return Offer(1, held)
        if held <= 1:
            return None  # wait phase: only the destination gets it
        return Offer(held // 2, held - held // 2)


@dataclass(frozen=True, slots=True)
class Prophet:
    """PRoPHET's GRTR rule: forward when the peer is the better carrier."""

    name: PolicyName = PolicyName.PROPHET

    def initial_copies(self) -> int:
        return 1

    def offer(self, held: int, *, peer_is_destination: bool, gain: float) -> Offer | None:
        if peer_is_destination or gain > 0:
            return Offer(1, held)
        return None


def make_policy(name: PolicyName, copies: int) -> ForwardingPolicy:
    if name is PolicyName.SPRAY:
        return SprayAndWait(copies)
    if name is PolicyName.PROPHET:
        return Prophet()
    return Epidemic()


@dataclass
class ProphetTable:
    """Delivery predictabilities per destination tag, with PRoPHET's update rules.

    Defaults from Lindgren et al. and RFC 6693: P_init 0.75, beta 0.25, gamma 0.98 per aging
    unit (here 30 s). Bounded: only the `limit` most likely destinations are kept.
    """

    p_init: float = 0.75
    beta: float = 0.25
    gamma: float = 0.98
    unit: int = 30
    limit: int = 256
    table: dict[bytes, float] = field(default_factory=dict)
    aged_at: int = 0

    def age(self, now: int) -> None:
        steps = (now - self.aged_at) // self.unit
        if steps <= 0:
            return
        factor = self.gamma ** steps
        self.table = {t: p * factor for t, p in self.table.items() if p * factor > 1e-4}
        self.aged_at += steps * self.unit

    def encounter(self, peer_tags: Iterable[bytes], peer_table: Iterable[tuple[bytes, float]],
                  now: int) -> None:
        """Update on meeting a peer that owns `peer_tags` and advertises `peer_table`."""
        self.age(now)
        tags = list(peer_tags)
        for tag in tags:
            p = self.table.get(tag, 0.0)
            self.table[tag] = p + (1 - p) * self.p_init
        p_peer = max((self.table.get(t, 0.0) for t in tags), default=0.0)
        for tag, p_far in peer_table:
            if tag in tags or not math.isfinite(p_far):
                continue
            p = self.table.get(tag, 0.0)
            self.table[tag] = max(p, p_peer * min(max(p_far, 0.0), 1.0) * self.beta)
        if len(self.table) > self.limit:
            keep = sorted(self.table.items(), key=lambda kv: kv[1], reverse=True)[: self.limit]
            self.table = dict(keep)

    def p(self, tag: bytes) -> float:
        return self.table.get(tag, 0.0)

    def top(self, n: int) -> list[tuple[bytes, float]]:
        return sorted(self.table.items(), key=lambda kv: kv[1], reverse=True)[:n]
