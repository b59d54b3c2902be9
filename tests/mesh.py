"""A synchronous in-process driver for `Node`s, for tests: links deliver whole frames.

It does what the daemon and the simulator do (deliver `Send`s to the peer, call `ready` once a
burst is delivered), without transports, so the protocol logic is tested on its own. Contacts
can carry a byte budget to model short, slow encounters.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field

from meshnode.crypto.authority import TrustStore
from meshnode.crypto.identity import Identity
from meshnode.events import Close, Event, Output, Send
from meshnode.node import Node, NodeConfig
from meshnode.routing.frames import decode_frame
from meshnode.store.memory import MemoryStore

CAPACITY = 4 * 1024 * 1024


@dataclass
class Mesh:
    trust: TrustStore = field(default_factory=lambda: TrustStore(()))
    nodes: dict[str, Node] = field(default_factory=dict)
    events: dict[str, list[Event]] = field(default_factory=lambda: defaultdict(list))
    links: dict[tuple[str, str], int | None] = field(default_factory=dict)  # budget left
    bytes_sent: int = 0
    frame_bytes: Counter[str] = field(default_factory=Counter)
    frame_count: Counter[str] = field(default_factory=Counter)
    offsets: dict[str, int] = field(default_factory=dict)  # a node's clock minus true time

    def clock(self, name: str, now: int) -> int:
        """What node `name` reads as the time when it is `now`."""
        return now + self.offsets.get(name, 0)

    def add(self, name: str, now: int, config: NodeConfig | None = None,
            capacity: int = CAPACITY) -> Node:
        node = Node(Identity.generate(), MemoryStore(capacity), self.trust, now,
                    config or NodeConfig(seed=len(self.nodes)))
        self.nodes[name] = node
        return node

    def connect(self, a: str, b: str, now: int, *, budget: int | None = None) -> None:
        """Bring a link up and run the exchange until quiet (or the byte budget is spent)."""
        self.links[(a, b)] = budget
        self.links[(b, a)] = budget
        queue: deque[tuple[str, Output]] = deque()
        queue.extend((a, o) for o in self.nodes[a].link_up(b, self.clock(a, now)))
        queue.extend((b, o) for o in self.nodes[b].link_up(a, self.clock(b, now)))
        self._run(queue, now)

    def disconnect(self, a: str, b: str, now: int) -> None:
        self.links.pop((a, b), None)
        self.links.pop((b, a), None)
        self._collect(a, self.nodes[a].link_down(b, self.clock(a, now)))
        self._collect(b, self.nodes[b].link_down(a, self.clock(b, now)))

    def local(self, name: str, outputs: list[Output], now: int) -> None:
        """Feed the outputs of a local action (post, send_dm, inject) into the mesh."""
        self._run(deque((name, o) for o in outputs), now)

    def _collect(self, name: str, outputs: list[Output]) -> None:
        for o in outputs:
            if not isinstance(o, Send | Close):
                self.events[name].append(o)

    def _run(self, queue: deque[tuple[str, Output]], now: int) -> None:
        steps = 0
        while queue:
            steps += 1
            assert steps < 1_000_000, "the exchange does not terminate"
            name, out = queue.popleft()
            if isinstance(out, Close):
                self.disconnect(name, str(out.link), now)
                continue
            if not isinstance(out, Send):
                self.events[name].append(out)
                continue
            peer = str(out.link)
            if (name, peer) not in self.links:
                continue
            budget = self.links[(name, peer)]
            if budget is not None:
                if budget < len(out.data):
                    self.disconnect(name, peer, now)
                    continue
                self.links[(name, peer)] = budget - len(out.data)
                self.links[(peer, name)] = budget - len(out.data)
            self.bytes_sent += len(out.data)
            kind = type(decode_frame(out.data)).__name__
            self.frame_bytes[kind] += len(out.data)
            self.frame_count[kind] += 1
            queue.extend((peer, o) for o in self.nodes[peer].receive(
                name, out.data, self.clock(peer, now)))
            if (name, peer) in self.links:
                queue.extend((name, o) for o in self.nodes[name].ready(peer, self.clock(name, now)))

    def of(self, name: str, cls: type) -> list[object]:
        return [e for e in self.events[name] if isinstance(e, cls)]
