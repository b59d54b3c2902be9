"""One sync session on one link, as an explicit state machine (docs/protocol.md §10.1).

Rules, in the style of h11's ``_state.py``:

* A session is always in exactly one `Phase`. It moves only through `TRANSITIONS`, the table
  below; an input the table does not list for the current phase is a protocol error
  (`SessionError`), which the node counts as a malformed frame.
* `Step.RESTART` is allowed from every phase: a new Hello goes out and the session starts over
  (a re-sync of a long-lived link, a lost frame, a peer that started over).
* Our Done may go out only in `OFFERING` or `PEER_DONE`, once nothing is queued: the initiator
  has offered everything when reconciliation ends, the responder when the initiator's Done
  shows that no more Wants can come. In a quiet session (both Hellos carried the same set
  digest) neither side reconciles and no Done crosses the air: the session goes from `HELLO`
  to `PEER_DONE` at once and our Done is implied.
* `FINISHED` is reached when both Dones are in; the link stays up and idles, pushing news as
  it arrives, until the re-sync interval starts a new session.

The table is data: `tests/routing/test_session.py` checks it without a `Node`, and `diagram()`
renders it for the docs.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from meshnode.crypto.sealing import hello_tag
from meshnode.events import LinkId
from meshnode.routing.frames import Hello
from meshnode.routing.limits import TokenBucket
from meshnode.routing.reconcile import Reconciler, SortedItems
from meshnode.store.base import StoredMessage
from meshnode.wire import Kind

__all__ = ["TRANSITIONS", "Phase", "Session", "SessionError", "Step", "diagram", "next_phase"]


class Phase(Enum):
    HELLO = "hello"  # our Hello is out; the peer's has not come
    RECONCILING = "reconciling"  # both Hellos in; Recon frames are crossing
    OFFERING = "offering"  # the initiator reconciled: sending what the peer lacks
    PEER_DONE = "peer done"  # the peer said Done (or the sets were equal): finish offering
    SENT_DONE = "sent done"  # we said Done: waiting for the peer's
    FINISHED = "finished"  # both said Done; the link idles until the next re-sync


class Step(Enum):
    HELLO = "peer hello"  # the peer's Hello, our sets differ
    SAME_SET = "peer hello, same set"  # the peer's Hello carries our own set digest
    RECONCILED = "reconciled"  # the initiator's reconciler has nothing more to ask
    DONE_RECEIVED = "done received"
    DONE_SENT = "done sent"
    RESTART = "restart"  # from every phase: a new Hello goes out


TRANSITIONS: dict[Phase, dict[Step, Phase]] = {
    Phase.HELLO: {Step.HELLO: Phase.RECONCILING, Step.SAME_SET: Phase.PEER_DONE},
    Phase.RECONCILING: {Step.RECONCILED: Phase.OFFERING, Step.DONE_RECEIVED: Phase.PEER_DONE},
    Phase.OFFERING: {Step.DONE_SENT: Phase.SENT_DONE, Step.DONE_RECEIVED: Phase.PEER_DONE},
    Phase.PEER_DONE: {Step.DONE_SENT: Phase.FINISHED},
    Phase.SENT_DONE: {Step.DONE_RECEIVED: Phase.FINISHED},
    Phase.FINISHED: {},
}

QueueEntry = tuple[int, int, bytes]  # (class, -created, id): a queued message, in priority order

# Phases in which our Done may go out once nothing is queued.
_MAY_SAY_DONE = frozenset({Phase.OFFERING, Phase.PEER_DONE})


class SessionError(Exception):
    """An input the transition table does not allow in the session's phase."""

    def __init__(self, phase: Phase, step: Step) -> None:
        super().__init__(f"{step.value} is not allowed in phase {phase.value}")
        self.phase = phase
        self.step = step


def next_phase(phase: Phase, step: Step) -> Phase:
    """The phase after `step` in `phase`; raises `SessionError` where the table has no entry."""
    if step is Step.RESTART:
        return Phase.HELLO
    try:
        return TRANSITIONS[phase][step]
    except KeyError:
        raise SessionError(phase, step) from None


def diagram() -> str:
    """The transition table as a Mermaid state diagram (docs/protocol.md §10.1 embeds it)."""
    lines = ["stateDiagram-v2", f"    [*] --> {Phase.HELLO.name}: link up (our Hello)"]
    for phase, steps in TRANSITIONS.items():
        lines.extend(f"    {phase.name} --> {target.name}: {step.value}"
                     for step, target in steps.items())
    lines.append(f"    FINISHED --> {Phase.HELLO.name}: restart (re-sync, timeout, new Hello)")
    return "\n".join(lines) + "\n"


@dataclass
class Session:
    """What a node knows about the sync session on one link.

    `queue` holds (class, -created, id) in priority order; `queued` the ids queued or sent in
    this session, so nothing goes out twice; `peer_has` the ids the peer sent us on this link,
    so nothing is sent back. `items`/`digest`/`tags` are what our last Hello carried."""

    link: LinkId
    nonce: bytes
    peer_rate: TokenBucket
    serve: TokenBucket
    synced_at: int  # when our last Hello went out, then when the session finished
    phase: Phase = Phase.HELLO
    peer: Hello | None = None
    initiator: bool = False
    quiet: bool = False  # equal sets: no Recon, no Done on the air
    restarted: bool = False  # a session on this link was started over
    recon: Reconciler | None = None
    queue: list[QueueEntry] = field(default_factory=list)
    queued: set[bytes] = field(default_factory=set)
    peer_has: set[bytes] = field(default_factory=set)
    wanted: set[bytes] = field(default_factory=set)  # ids the peer asked for in this session
    busy: bool = False  # a burst is with the driver until it calls `ready`
    sent: int = 0
    received: int = 0
    errors: int = 0
    active_at: int = 0  # when the last frame arrived
    sent_at: int = 0  # when the last message went out
    tags: tuple[bytes, ...] = ()
    items: SortedItems | None = None
    digest: bytes = b""

    def advance(self, step: Step) -> None:
        self.phase = next_phase(self.phase, step)

    def restart(self, nonce: bytes, now: int) -> None:
        """Start over with a new nonce: what was sent before may be wanted again (the peer
        refused it: a full disk, a rate limit), so only what still waits counts as queued; and
        the new reconciliation tells what the peer holds."""
        self.advance(Step.RESTART)
        self.nonce = nonce
        self.synced_at = now
        self.peer = None
        self.recon = None
        self.quiet = False
        self.restarted = True
        self.queued = {msg_id for _, _, msg_id in self.queue}
        self.peer_has.clear()
        self.wanted.clear()

    @property
    def finished(self) -> bool:
        return self.phase is Phase.FINISHED

    @property
    def may_say_done(self) -> bool:
        return self.phase in _MAY_SAY_DONE and not self.queue

    def due(self, timeout: int, resync: int) -> int:
        """When this session needs the timer: the re-sync of a finished session, or the
        timeout of one that went quiet before finishing (a lost frame)."""
        if self.finished:
            return self.synced_at + resync
        return max(self.active_at, self.synced_at) + timeout

    def for_peer(self, stored: StoredMessage) -> bool:
        """Whether `stored` is a DM for the peer, by the blinded tags of its Hello."""
        if stored.kind != Kind.DM or stored.tag is None or self.peer is None:
            return False
        return hello_tag(self.peer.nonce, stored.tag) in self.peer.tags

    def enqueue(self, cls: int, created: int, msg_id: bytes) -> None:
        if msg_id not in self.queued:
            self.queued.add(msg_id)
            heapq.heappush(self.queue, (cls, -created, msg_id))

    def take(self, count: int) -> list[QueueEntry]:
        """The next (at most) `count` queue entries, in queue order, taken out of the queue."""
        queue = self.queue
        return [heapq.heappop(queue) for _ in range(min(count, len(queue)))]

    def give_back(self, entries: Iterable[QueueEntry]) -> None:
        """Put entries from `take` back into the queue, where they were."""
        for entry in entries:
            heapq.heappush(self.queue, entry)


if __name__ == "__main__":  # python -m meshnode.routing.session: the diagram for the docs
    print(diagram(), end="")
