"""Testing helpers for anything that drives a `Node`: a contract checker and an in-memory mesh.

In the spirit of `trio.testing`'s conformance checks:

* `CheckedNode` is a `Node` that checks, call by call, that its driver keeps the driving
  contract of `meshnode.node` and raises `ContractViolation` where it does not. A driver (the
  daemon, the simulator, a phone app's port) is checked by building its nodes as
  `CheckedNode`s (they take a `node_factory`), running its ordinary work, and finally calling
  `finish(now)` on each once the driver has gone quiet.
* `Mesh` is the smallest correct driver: nodes in one process, links that deliver whole frames
  at once (optionally within a byte budget), and `advance(now)` to run the timers. It is what
  the protocol tests use, so the protocol logic is tested without transports.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meshnode.crypto.authority import TrustStore
from meshnode.crypto.identity import Identity, PublicIdentity
from meshnode.crypto.sealing import StampedAck
from meshnode.events import Close, Event, LinkId, Output, Result, Send
from meshnode.node import Node, NodeConfig
from meshnode.routing.frames import decode_frame
from meshnode.store.memory import MemoryStore

__all__ = ["CAPACITY", "CheckedNode", "ContractViolation", "Mesh", "NodeFactory"]

CAPACITY = 4 * 1024 * 1024

NodeFactory = Callable[..., Node]  # called as Node is: (identity, store, trust, now, config)


class ContractViolation(AssertionError):
    """The driver broke the driving contract; the message names the rule."""


class CheckedNode(Node):
    """A `Node` that checks its driver (see the module docstring). The rules:

    1. time never goes backwards between calls;
    2. `link_up` only for a link that is not up; `receive`, `ready` and `link_down` only for
       one that is;
    3. `ready(link)` only once per burst: after the node handed the link frames (`Send`) and
       before it hands it the next;
    4. `handle_timer` no later than `get_timer()` (+ `timer_slack` seconds: the time a real
       driver's timer may take to fire), and never polled: at most `early_allowance` calls
       before `get_timer()`;
    5. when the driver is quiet (`finish`), no link has a burst it never confirmed with
       `ready`, and no timer is overdue;
    6. group commit: batches do not nest; `commit_batch` and `abort_batch` only in a batch; no
       call but `take_checked` while a `commit_batch` runs (on a worker thread); overlapped, at
       most one batch sealed, `commit_sealed` and `land_batch` only for a sealed one, and while
       `commit_sealed` runs only calls inside the next open batch; a burst the node handed out
       inside a batch is not confirmed with `ready` before that batch landed (its frames cannot
       have been sent: they are held until the commit); no batch is open or sealed at
       `finish`.
    """

    def __init__(self, *args: Any, timer_slack: int = 0, early_allowance: int = 2,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timer_slack = timer_slack
        self.early_allowance = early_allowance
        self.calls: Counter[str] = Counter()
        self.early_timer_calls = 0
        self._last = -(2**63)
        self._up: set[LinkId] = set()
        self._burst: set[LinkId] = set()  # links with frames handed out and no `ready` yet
        self._held: set[LinkId] = set()  # links whose outstanding burst began in the open batch
        self._held_sealed: set[LinkId] = set()  # the same, for the sealed batch
        self._committing = False
        self._sealed_commit = False  # `commit_sealed` runs (on a worker thread)

    def _enter(self, name: str, now: int) -> None:
        self.calls[name] += 1
        if self._committing:
            raise ContractViolation(f"rule 6: {name} while commit_batch runs")
        if self._sealed_commit and not self.in_batch:
            raise ContractViolation(f"rule 6: {name} outside a batch while commit_sealed runs")
        if now < self._last:
            raise ContractViolation(f"rule 1: {name} at {now}, after a call at {self._last}")
        self._last = now
        if name != "handle_timer" and now > self.get_timer() + self.timer_slack:
            raise ContractViolation(f"rule 4: {name} at {now}, but handle_timer was due at "
                                    f"{self.get_timer()} and was not called")

    def _link(self, link: LinkId, name: str) -> None:
        if link not in self._up:
            raise ContractViolation(f"rule 2: {name} for link {link!r}, which is not up")

    def _leave(self, outputs: list[Output]) -> list[Output]:
        for out in outputs:
            if isinstance(out, Send):
                if self.in_batch and out.link not in self._burst:
                    self._held.add(out.link)
                self._burst.add(out.link)
            elif isinstance(out, Close):
                self._up.discard(out.link)
                self._burst.discard(out.link)
        return outputs

    def link_up(self, link: LinkId, now: int) -> list[Output]:
        self._enter("link_up", now)
        if link in self._up:
            raise ContractViolation(f"rule 2: link_up for link {link!r}, which is up already")
        self._up.add(link)
        return self._leave(super().link_up(link, now))

    def link_down(self, link: LinkId, now: int) -> list[Output]:
        self._enter("link_down", now)
        self._link(link, "link_down")
        self._up.discard(link)
        self._burst.discard(link)
        return self._leave(super().link_down(link, now))

    def receive(self, link: LinkId, data: bytes, now: int) -> list[Output]:
        self._enter("receive", now)
        self._link(link, "receive")
        return self._leave(super().receive(link, data, now))

    def ready(self, link: LinkId, now: int) -> list[Output]:
        self._enter("ready", now)
        self._link(link, "ready")
        if link not in self._burst:
            raise ContractViolation(f"rule 3: ready for link {link!r} with no burst "
                                    "outstanding (ready is due once per burst, not per frame)")
        if link in self._held or link in self._held_sealed:
            raise ContractViolation(f"rule 6: ready for link {link!r} whose burst was handed "
                                    "out in a batch that has not committed (frames released "
                                    "before their COMMIT)")
        self._burst.discard(link)
        return self._leave(super().ready(link, now))

    def handle_timer(self, now: int) -> list[Output]:
        self._enter("handle_timer", now)
        if now < self.get_timer():
            self.early_timer_calls += 1
            if self.early_timer_calls > self.early_allowance:
                raise ContractViolation(
                    f"rule 4: handle_timer called {self.early_timer_calls} times before "
                    "get_timer() (a driver must not poll it)")
        return self._leave(super().handle_timer(now))

    def post(self, channel: str, text: str, now: int) -> Result:
        self._enter("post", now)
        result = super().post(channel, text, now)
        self._leave(result.outputs)
        return result

    def announce(self, name: str, now: int) -> Result:
        self._enter("announce", now)
        result = super().announce(name, now)
        self._leave(result.outputs)
        return result

    def send_dm(self, recipient: PublicIdentity, text: str, now: int, *,
                ack: StampedAck | None = None) -> Result:
        self._enter("send_dm", now)
        result = super().send_dm(recipient, text, now, ack=ack)
        self._leave(result.outputs)
        return result

    def inject(self, data: bytes, now: int) -> Result:
        # `post`, `announce` and `send_dm` end here too: checked once, by them.
        result = super().inject(data, now)
        self._leave(result.outputs)
        return result

    def begin_batch(self) -> None:
        self.calls["begin_batch"] += 1
        if self.in_batch:
            raise ContractViolation("rule 6: begin_batch inside a batch (batches do not nest)")
        super().begin_batch()

    def commit_batch(self) -> None:
        self.calls["commit_batch"] += 1
        if not self.in_batch or self._committing:
            raise ContractViolation("rule 6: commit_batch with no batch open")
        self._committing = True
        try:
            super().commit_batch()
        finally:
            self._committing = False
        self._held.clear()

    def seal_batch(self) -> None:
        self.calls["seal_batch"] += 1
        if not self.in_batch or self.sealed:
            raise ContractViolation("rule 6: seal_batch with no batch open or one still sealed")
        super().seal_batch()
        self._held_sealed, self._held = self._held, set()

    def commit_sealed(self, written: Callable[[], None] | None = None) -> None:
        self.calls["commit_sealed"] += 1
        if not self.sealed or self._sealed_commit:
            raise ContractViolation("rule 6: commit_sealed with no batch sealed")
        self._sealed_commit = True
        try:
            super().commit_sealed(written)
        finally:
            self._sealed_commit = False

    def land_batch(self) -> None:
        self.calls["land_batch"] += 1
        if not self.sealed or self._sealed_commit:
            raise ContractViolation("rule 6: land_batch with no sealed batch committed")
        super().land_batch()
        self._held_sealed.clear()

    def abort_batch(self, now: int) -> list[Output]:
        self._enter("abort_batch", now)
        if not self.in_batch and not self.sealed:
            raise ContractViolation("rule 6: abort_batch with no batch open")
        self._held.clear()  # its frames were dropped; the restarts' Hellos are a new burst
        self._held_sealed.clear()
        return self._leave(super().abort_batch(now))

    def finish(self, now: int) -> None:
        """Rules 5 and 6, once the driver has gone quiet at `now`."""
        if self.in_batch or self.sealed:
            raise ContractViolation("rule 6: a batch is still open or sealed at finish")
        unconfirmed = sorted(map(repr, self._burst & self._up))
        if unconfirmed:
            raise ContractViolation(f"rule 5: bursts on {', '.join(unconfirmed)} were never "
                                    "confirmed with ready")
        if now > self.get_timer() + self.timer_slack:
            raise ContractViolation(f"rule 5: handle_timer was due at {self.get_timer()} and "
                                    f"has not been called by {now}")


@dataclass
class Mesh:
    """A synchronous in-process driver: links deliver whole frames, in order, at once.

    `connect` runs the exchange until quiet (or a byte budget is spent, modelling a short, slow
    encounter); `local` feeds a local action's outputs in; `advance(now)` runs the timers due
    until `now`, each at its time.
    `offsets` give nodes wrong clocks (a node reads true time + its offset)."""

    trust: TrustStore = field(default_factory=lambda: TrustStore(()))
    node_factory: NodeFactory = Node
    nodes: dict[str, Node] = field(default_factory=dict)
    events: dict[str, list[Event]] = field(default_factory=lambda: defaultdict(list))
    links: dict[tuple[str, str], int | None] = field(default_factory=dict)  # budget left
    bytes_sent: int = 0
    frame_bytes: Counter[str] = field(default_factory=Counter)
    frame_count: Counter[str] = field(default_factory=Counter)
    offsets: dict[str, int] = field(default_factory=dict)
    _unsent: Counter[tuple[str, str]] = field(default_factory=Counter)  # frames handed, not sent

    def clock(self, name: str, now: int) -> int:
        """What node `name` reads as the time when it is `now`."""
        return now + self.offsets.get(name, 0)

    def add(self, name: str, now: int, config: NodeConfig | None = None,
            capacity: int = CAPACITY, identity: Identity | None = None) -> Node:
        node = self.node_factory(identity or Identity.generate(), MemoryStore(capacity),
                                 self.trust, self.clock(name, now),
                                 config or NodeConfig(seed=len(self.nodes)))
        self.nodes[name] = node
        return node

    def connect(self, a: str, b: str, now: int, *, budget: int | None = None) -> None:
        """Bring a link up and run the exchange until quiet (or the byte budget is spent)."""
        self.links[(a, b)] = budget
        self.links[(b, a)] = budget
        queue: deque[tuple[str, list[Output]]] = deque()
        self._hand(queue, a, self.nodes[a].link_up(b, self.clock(a, now)))
        self._hand(queue, b, self.nodes[b].link_up(a, self.clock(b, now)))
        self._run(queue, now)

    def disconnect(self, a: str, b: str, now: int) -> None:
        if (a, b) not in self.links:
            return
        self.links.pop((a, b), None)
        self.links.pop((b, a), None)
        self._unsent.pop((a, b), None)
        self._unsent.pop((b, a), None)
        self._collect(a, self.nodes[a].link_down(b, self.clock(a, now)))
        self._collect(b, self.nodes[b].link_down(a, self.clock(b, now)))

    def local(self, name: str, outputs: list[Output] | Result, now: int) -> None:
        """Feed the outputs of a local action (post, send_dm, inject) into the mesh."""
        if isinstance(outputs, Result):
            outputs = outputs.outputs
        queue: deque[tuple[str, list[Output]]] = deque()
        self._hand(queue, name, outputs)
        self._run(queue, now)

    def advance(self, now: int, start: int | None = None) -> None:
        """Run every timer that falls due up to `now`, each at its own time, in time order
        (from `start`, the time of the last call, if a timer was already due then)."""
        while self.nodes:
            t, name = min((node.get_timer() - self.offsets.get(name, 0), name)
                          for name, node in self.nodes.items())
            if t > now:
                return
            t = t if start is None else max(t, start)
            queue: deque[tuple[str, list[Output]]] = deque()
            self._hand(queue, name, self.nodes[name].handle_timer(self.clock(name, t)))
            self._run(queue, t)

    def of(self, name: str, cls: type) -> list[object]:
        return [e for e in self.events[name] if isinstance(e, cls)]

    def _collect(self, name: str, outputs: list[Output]) -> None:
        for o in outputs:
            if not isinstance(o, Send | Close):
                self.events[name].append(o)

    def _hand(self, queue: deque[tuple[str, list[Output]]], name: str,
              outputs: list[Output]) -> None:
        """A node call returned: its frames are now handed to their links."""
        for out in outputs:
            if isinstance(out, Send):
                self._unsent[(name, str(out.link))] += 1
        queue.append((name, outputs))

    def _run(self, queue: deque[tuple[str, list[Output]]], now: int) -> None:
        """Deliver each call's outputs in order; a link is told `ready` once everything handed
        to it has been delivered."""
        steps = 0
        while queue:
            steps += 1
            if steps >= 1_000_000:
                raise RuntimeError("the exchange does not terminate")
            name, outputs = queue.popleft()
            sent: list[str] = []
            for out in outputs:
                if isinstance(out, Close):
                    self.disconnect(name, str(out.link), now)
                elif not isinstance(out, Send):
                    self.events[name].append(out)
                else:
                    peer = str(out.link)
                    if (name, peer) in self._unsent:
                        self._unsent[(name, peer)] -= 1
                    if self._deliver(name, peer, out.data, now, queue) and peer not in sent:
                        sent.append(peer)
            for peer in sent:
                if (name, peer) in self.links and not self._unsent[(name, peer)]:
                    self._hand(queue, name, self.nodes[name].ready(peer, self.clock(name, now)))

    def _deliver(self, name: str, peer: str, data: bytes, now: int,
                 queue: deque[tuple[str, list[Output]]]) -> bool:
        """Hand one frame to `peer`; False if the link is gone or its budget is spent."""
        if (name, peer) not in self.links:
            return False
        budget = self.links[(name, peer)]
        if budget is not None:
            if budget < len(data):
                self.disconnect(name, peer, now)
                return False
            self.links[(name, peer)] = budget - len(data)
            self.links[(peer, name)] = budget - len(data)
        self.bytes_sent += len(data)
        kind = type(decode_frame(data)).__name__
        self.frame_bytes[kind] += len(data)
        self.frame_count[kind] += 1
        self._hand(queue, peer, self.nodes[peer].receive(name, data, self.clock(peer, now)))
        return True
