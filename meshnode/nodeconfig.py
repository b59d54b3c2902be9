"""A node's tunables: `NodeConfig`, with defaults that suit a phone on BLE."""

from __future__ import annotations

from dataclasses import dataclass

from meshnode.crypto.stamp import STAMP_BITS
from meshnode.intake import IntakeConfig
from meshnode.routing.ghosts import DEFAULT_GHOST_LIMIT
from meshnode.routing.limits import Rate
from meshnode.routing.policy import PolicyName

__all__ = ["PEER_RATE", "POST_RATE", "SERVE_RATE", "NodeConfig"]

# CPU guards against a hostile peer: verifying costs ~0.13 ms, so 500/s is ~7 % of a core.
PEER_RATE = Rate(500.0, 5_000.0)  # messages a peer may hand us
POST_RATE = Rate(200.0, 5_000.0)  # posts from the network together, whoever the authors
SERVE_RATE = Rate(500.0, 5_000.0)  # messages we hand a peer on request


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Tunables; the defaults suit a phone on BLE. Rates are per link or per author.

    `hop_limit` is the hop budget of what this node originates (posts, announces, DMs and the
    receipts of DMs it opens); relays clamp what arrives to `max_hops`. `post_hops` scopes posts
    and announces: every node (author and relays) clamps their hop budget to it, so a post
    travels at most that many contacts from its author however large the budget it arrived
    with. A neighbourhood channel needs a few hops, not a whole city.

    `receipt_hops` scopes receipts to where their DM's copies went (docs/protocol.md §4.4): a
    receipt starts with that budget at the DM's recipient, every node clamps it to that, and a
    node where the receipt removes a held copy of its DM hands it on with the full budget again.

    `seed` set makes every random choice reproducible (session nonces, DM acknowledgement keys,
    HPKE ephemeral keys): for simulations and tests only. Unset, the operating system's
    randomness is used. `expiry_interval` batches the removal of expired messages (they are
    never sent once expired; this only bounds how long they take space). `ghost_capacity`
    bounds the ghosts kept (ids of messages the network holds only as copies that can go no
    further, docs/protocol.md §10.2); beyond it new ghosts are refused. Ghosts live until
    `created` + 14 days, so a node's ghosts grow with the distinct ids it hears about until
    that bound: a bounded memory like the store's seen memory, not a leak.

    Proof-of-work stamps (docs/protocol.md §15): with `require_stamps`, a post, announce or DM
    from the network whose signing key this node has not accepted a message from before must
    carry a stamp worth `stamp_bits` for that key and the day it was created, or it is refused
    (`Refusal.STAMP`) before its signature is checked. With `stamp_own` this node stamps what
    it originates: one stamp a day for its posts and announces, one per DM (each has a new
    ack key). Turn `stamp_own` on everywhere before nodes require stamps.
    """

    dm_policy: PolicyName = PolicyName.SPRAY
    # L of binary spray-and-wait: 32 delivers 0.14 more of the oracle's DMs over a day than 8,
    # for about twice the relay copies (docs/benchmarks.md, issue 22, session 9).
    spray_copies: int = 32
    hop_limit: int = 16
    max_hops: int = 32
    post_hops: int = 16
    receipt_hops: int = 3
    burst_bytes: int = 16_384
    peer_rate: Rate = PEER_RATE
    author_posts_per_hour: int = 60
    post_rate: Rate = POST_RATE
    serve_rate: Rate = SERVE_RATE
    max_frame_errors: int = 20
    clock_skew: int = 3_600
    resync_interval: int = 900
    session_timeout: int = 60
    expiry_interval: int = 300
    ghost_capacity: int = DEFAULT_GHOST_LIMIT
    location: tuple[int, int] | None = None
    channels: frozenset[str] | None = None
    seed: int | None = None
    require_stamps: bool = False
    stamp_own: bool = False
    stamp_bits: int = STAMP_BITS

    def intake(self) -> IntakeConfig:
        return IntakeConfig(
            hop_limit=self.hop_limit, max_hops=self.max_hops, post_hops=self.post_hops,
            receipt_hops=self.receipt_hops,
            spray_copies=self.spray_copies, author_posts_per_hour=self.author_posts_per_hour,
            post_rate=self.post_rate, clock_skew=self.clock_skew, location=self.location,
            channels=self.channels, require_stamps=self.require_stamps,
            stamp_bits=self.stamp_bits)
