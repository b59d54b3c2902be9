"""A recorded, deterministic sync session for fuzzing `Node.receive`.

Peer B holds posts, an announce, DMs (one for A), an authority certificate and alert; A holds
a post of its own. `record()` runs the real exchange and keeps the frames B sent to A. Because
A is rebuilt identically each time (fixed seeds, fixed clock), replaying those frames to a
fresh A reproduces the valid session, so mutations of it reach deep into the node.

`Replay` feeds frames to a fresh A (with a bystander link C, greeted, to watch relaying) and
checks after every frame:
  * nothing raises;
  * the store only ever holds A's own messages and B's genuine ones (no forgery, by id);
  * every message sent on any link is one the store holds (nothing relayed unaccepted);
  * a frame that is not a valid frame, or a Msg whose message is not genuine, leaves the
    store (and its seen memory) exactly as it was and yields only `Rejected` (or `Close`).
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from functools import cache

from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode.alerts.examples import ExampleAuthority, example_authority, example_nl_alert
from meshnode.codec import WireError
from meshnode.crypto.authority import sign_alert
from meshnode.crypto.identity import Identity
from meshnode.events import Close, Output, Rejected, Send
from meshnode.node import Node, NodeConfig
from meshnode.routing.frames import Hello, Msg, decode_frame, encode_frame
from meshnode.store.memory import MemoryStore
from meshnode.wire import decode_message, encode_message

__all__ = ["NOW", "Recording", "Replay", "authority", "authority_messages", "receiver", "record"]

NOW = 1_790_000_000
PEER, OTHER = "peer", "bystander"
CAPACITY = 1 << 20


def _identity(name: str) -> Identity:
    return Identity.from_seeds(hashlib.sha256(b"sign:" + name.encode()).digest(),
                               hashlib.sha256(b"dh:" + name.encode()).digest())


@dataclass(frozen=True)
class Recording:
    frames: tuple[bytes, ...]  # what B sent A, in order
    genuine: frozenset[bytes]  # ids of every message B or A legitimately holds


@cache
def authority() -> ExampleAuthority:
    """The example authority with fixed keys, so every run signs the same bytes."""
    root = ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"root").digest())
    issuer = ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"issuer").digest())
    return example_authority(NOW, root=root, issuer=issuer)


@cache
def authority_messages() -> tuple[bytes, bytes]:
    """(certificate message, alert message), encoded."""
    auth = authority()
    alert = sign_alert(auth.issuer, auth.cert_msg, example_nl_alert(NOW), 1)
    return encode_message(auth.cert_msg), encode_message(alert)


def _node(name: str, seed: int) -> Node:
    return Node(_identity(name), MemoryStore(CAPACITY), authority().trust, NOW,
                NodeConfig(seed=seed))


def receiver() -> Node:
    """A, exactly as it is at the start of every replay."""
    a = _node("A", 1)
    a.post("wijk-noord", "A's own post", NOW)
    return a


def _sender() -> Node:
    b = _node("B", 2)
    a_public = _identity("A").public
    cert, alert = authority_messages()
    b.inject(cert, NOW)
    b.inject(alert, NOW)
    for i in range(3):
        b.post("wijk-noord", f"post {i} from B", NOW - 60 * i)
    b.announce("Bram", NOW)
    # B is seeded, so its DMs seal to the same bytes in every process: seeds written by one
    # process replay in another (atheris runs each target apart).
    for to, text in ((a_public, "for A"), (_identity("D").public, "for D, carried by A")):
        b.send_dm(to, text, NOW)
    return b


@cache
def record() -> Recording:
    """Run the genuine A-B session and keep B's frames."""
    a, b = receiver(), _sender()
    nodes = {"A": a, "B": b}
    frames: list[bytes] = []
    genuine = {m for node in nodes.values() for _, m in node.store.ids_since(0)}
    queue: deque[tuple[str, Output]] = deque()
    queue.extend(("A", o) for o in a.link_up("B", NOW))
    queue.extend(("B", o) for o in b.link_up("A", NOW))
    steps = 0
    while queue and steps < 10_000:
        steps += 1
        name, out = queue.popleft()
        if not isinstance(out, Send):
            continue
        peer = str(out.link)
        if name == "B":
            frames.append(out.data)
        frame = decode_frame(out.data)
        if isinstance(frame, Msg):
            genuine.add(decode_message(frame.data).id)
        queue.extend((peer, o) for o in nodes[peer].receive(name, out.data, NOW))
        queue.extend((name, o) for o in nodes[name].ready(peer, NOW))
    genuine |= {m for node in nodes.values() for _, m in node.store.ids_since(0)}
    return Recording(tuple(frames), frozenset(genuine))


def _snapshot(node: Node) -> dict[bytes, bytes]:
    out = {}
    for _, msg_id in node.store.ids_since(0):
        stored = node.store.get(msg_id)
        assert stored is not None
        out[msg_id] = stored.raw
    return out


def _valid_frame_of_genuine(data: bytes, genuine: frozenset[bytes]) -> bool:
    """Could this frame legitimately change the store? Only a Msg carrying a genuine message
    (its routing may differ: the hop and copy counts are not signed) or a sync frame."""
    try:
        frame = decode_frame(data)
    except WireError:
        return False
    if isinstance(frame, Msg):
        try:
            return decode_message(frame.data).id in genuine
        except WireError:
            return False
    return True


@dataclass
class Replay:
    """A fresh A with a greeted bystander link; `feed` checks the invariants above."""

    recording: Recording = field(default_factory=record)
    node: Node = field(default_factory=receiver)
    frames_fed: int = 0

    def __post_init__(self) -> None:
        self.node.link_up(PEER, NOW)
        self.node.link_up(OTHER, NOW)
        self._check(self.node.receive(OTHER, encode_frame(Hello(nonce=b"\xff" * 8)), NOW))
        self._check(self.node.ready(OTHER, NOW))

    def feed(self, data: bytes, now: int = NOW) -> list[Output]:
        before = _snapshot(self.node), self.node.store.seen_count()
        outs = self.node.receive(PEER, data, now)
        self.frames_fed += 1
        if not _valid_frame_of_genuine(data, self.recording.genuine):
            after = _snapshot(self.node), self.node.store.seen_count()
            assert after == before, "an invalid frame changed the store"
            bad = [o for o in outs if not isinstance(o, Rejected | Close)]
            assert not bad, f"an invalid frame produced {bad!r}"
        outs = outs + self.node.ready(PEER, now) + self.node.ready(OTHER, now)
        self._check(outs)
        return outs

    def _check(self, outs: list[Output]) -> None:
        held = _snapshot(self.node)
        assert set(held) <= self.recording.genuine, "a message that was never signed is stored"
        for out in outs:
            if isinstance(out, Rejected):
                assert out.link in (PEER, None), "a bystander blamed for a peer's frame"
            if not isinstance(out, Send):
                continue
            frame = decode_frame(out.data)  # what we send must always decode
            if isinstance(frame, Msg):
                msg_id = decode_message(frame.data).id
                assert msg_id in held, "relayed a message the store does not hold"
