"""Whether and how a held message goes to one peer: hops, the forwarding policy, PRoPHET.

Posts, announces, receipts and authority messages spread epidemically within their hop
budget; DMs follow the configured policy (epidemic, binary spray-and-wait, PRoPHET). A
message with no hops left goes only to its destination. PRoPHET's predictability table lives
here too: it is aged lazily, whenever it is read, so no timer is needed for it.
"""

from __future__ import annotations

from meshnode.routing.frames import MAX_PROPHET, Hello
from meshnode.routing.policy import (
    Epidemic,
    ForwardingPolicy,
    Offer,
    PolicyName,
    ProphetTable,
    make_policy,
)
from meshnode.wire import Kind, Routing

__all__ = ["FADE_AFTER", "Forwarder", "fades_at"]

_ONE = 10_000  # predictabilities travel as p × 10,000

# How long after its `created` a flooded item stays class 1 (docs/protocol.md §10.2, "Class"):
# two hours. Measured at 1,000 nodes (docs/benchmarks.md, issue 17): 98-99 % of post
# receptions come within 2 h of the post's creation, and fading at 2 h cost 1-1.5 % of them
# where fading at 1 h cost 8 %; every hour of freshness adds the pairs that differ without
# an action to every contact. Read at call time, so a measurement may set it for a whole run.
FADE_AFTER = 7_200


def fades_at(kind: Kind, created: int) -> int | None:
    """When an item of `kind` created at `created` stops being class 1 at every holder
    (§10.2): `created` + `FADE_AFTER` for what floods, None for DMs (their class never fades:
    their copies are counted per holder, and a DM's class-0 copy is already in no one's way)."""
    return None if kind is Kind.DM else created + FADE_AFTER


class Forwarder:
    """The forwarding decisions of one node (see the module docstring)."""

    def __init__(self, policy: PolicyName, spray_copies: int, now: int) -> None:
        self._dm: ForwardingPolicy = make_policy(policy, spray_copies)
        self._flood: ForwardingPolicy = Epidemic()
        self._prophet = ProphetTable(aged_at=now)

    @property
    def routes_by_destination(self) -> bool:
        """PRoPHET: Hellos name destinations (ours in the clear: why it is opt-in)."""
        return self._dm.name is PolicyName.PROPHET

    def initial_copies(self, kind: Kind) -> int:
        return self._dm.initial_copies() if kind is Kind.DM else 1

    def hello_field(self, own_tags: tuple[bytes, ...], now: int) -> tuple[tuple[bytes, int], ...]:
        """Hello field 6: our pair tags at predictability 1.0, then our best destinations."""
        if not self.routes_by_destination:
            return ()
        self._prophet.age(now)
        return tuple((t, _ONE) for t in own_tags) + tuple(
            (t, round(p * _ONE)) for t, p in self._prophet.top(MAX_PROPHET - len(own_tags)))

    def encounter(self, hello: Hello, now: int) -> None:
        """Update PRoPHET's table with what a peer's Hello says."""
        if self.routes_by_destination:
            own = [t for t, p in hello.prophet if p == _ONE]
            self._prophet.age(now)
            self._prophet.encounter(own, [(t, p / _ONE) for t, p in hello.prophet], now)

    def spreads(self, kind: Kind, routing: Routing, held: int) -> bool:
        """Whether a copy with `routing`, of which we hold `held` copies, could go to some peer
        other than its destination: the class of its reconciliation item (docs/protocol.md
        §10.2). PRoPHET's rule depends on the peer, so a PRoPHET DM with hops left counts."""
        if routing.hops_left <= 0:
            return False
        if kind is not Kind.DM:
            return True
        return self._dm.offer(held, peer_is_destination=False, gain=1.0) is not None

    def offer(self, kind: Kind, tag: bytes | None, routing: Routing, held: int, *,
              to_destination: bool, peer: Hello, now: int) -> Offer | None:
        """What to hand the peer of a message with `routing` of which we hold `held` copies;
        None to keep it from the peer."""
        if routing.hops_left <= 0 and not to_destination:
            return None
        gain = 0.0
        if kind is Kind.DM and tag is not None and self.routes_by_destination:
            self._prophet.age(now)
            gain = dict(peer.prophet).get(tag, 0) / _ONE - self._prophet.p(tag)
        policy = self._dm if kind is Kind.DM else self._flood
        return policy.offer(held, peer_is_destination=to_destination, gain=gain)
