"""Drive one real `Node` as a hostile or watching peer would: frames in, frames out.

`Bench` links named peers to the node under attack through `Node.receive` (no transport, so
every byte the node emits is visible) and keeps what the node sent to each peer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meshnode.crypto.authority import TrustStore
from meshnode.crypto.identity import Identity
from meshnode.events import Output, Send
from meshnode.node import Node, NodeConfig
from meshnode.routing.frames import Frame, Hello, Msg, decode_frame, encode_frame
from meshnode.store.base import MessageStore
from meshnode.store.memory import MemoryStore
from meshnode.wire import Message, encode_message

NOW = 1_790_000_000
RESPONDER_NONCE = b"\xff" * 8  # the peer out-ranks the node, so the node waits for a Recon


@dataclass
class Bench:
    """One node under test and the peers linked to it, all driven by hand."""

    node: Node
    sent: dict[str, list[bytes]] = field(default_factory=dict)
    outputs: list[Output] = field(default_factory=list)

    @classmethod
    def make(cls, now: int = NOW, *, trust: TrustStore | None = None,
             config: NodeConfig | None = None, store: MessageStore | None = None,
             identity: Identity | None = None, capacity: int = 4 << 20) -> Bench:
        node = Node(identity or Identity.generate(), store or MemoryStore(capacity),
                    trust or TrustStore(()), now, config or NodeConfig())
        return cls(node)

    def link(self, peer: str, now: int = NOW, *, nonce: bytes = RESPONDER_NONCE) -> None:
        """Bring a link up and greet the node as a peer that initiates (or not) by `nonce`."""
        self._take(self.node.link_up(peer, now))
        self._take(self.node.ready(peer, now))
        self.frame(peer, Hello(nonce=nonce), now)
        self._take(self.node.ready(peer, now))

    def frame(self, peer: str, frame: Frame | bytes, now: int = NOW) -> list[Output]:
        data = frame if isinstance(frame, bytes) else encode_frame(frame)
        out = self.node.receive(peer, data, now)
        self._take(out)
        # The peer has received whatever the node handed it: let the node go on.
        for other in list(self.sent):
            if other in self.node.links():
                self._take(self.node.ready(other, now))
        return out

    def send(self, peer: str, msg: Message | bytes, now: int = NOW) -> list[Output]:
        data = msg if isinstance(msg, bytes) else encode_message(msg)
        return self.frame(peer, Msg(data), now)

    def frames_to(self, peer: str) -> list[Frame]:
        return [decode_frame(d) for d in self.sent.get(peer, [])]

    def msgs_to(self, peer: str) -> list[bytes]:
        return [f.data for f in self.frames_to(peer) if isinstance(f, Msg)]

    def _take(self, out: list[Output]) -> None:
        self.outputs.extend(out)
        for o in out:
            if isinstance(o, Send):
                self.sent.setdefault(str(o.link), []).append(o.data)


def sends(outputs: list[Output]) -> list[Send]:
    return [o for o in outputs if isinstance(o, Send)]


class Recording(Node):
    """A node that keeps every frame it receives, with the link it came on: what a modified
    node (or a radio next to it) could log."""

    heard: list[tuple[object, bytes]]

    def receive(self, link: object, data: bytes, now: int) -> list[Output]:
        self.heard.append((link, data))
        return super().receive(link, data, now)


def recording(trust: TrustStore | None = None, now: int = NOW) -> Recording:
    node = Recording(Identity.generate(), MemoryStore(4 << 20), trust or TrustStore(()), now)
    node.heard = []
    return node
