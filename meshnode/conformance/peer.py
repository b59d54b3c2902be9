"""The conformance runner's honest side: meshnode's own `Node` over its own UDP link.

`ReferencePeer` drives a `Node` (an in-memory store) over `UdpTransport` to the implementation
under test, exactly as the daemon does, and records every frame on the link in both directions
with the session it belonged to. Because it is the reference implementation itself, a change to
the protocol in `meshnode` changes what the runner plays. It can also put frames of its own on
the link (`send_frame`), for the hostile checks that an honest `Node` would never send.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import trio

from meshnode.codec import WireError
from meshnode.crypto.authority import TrustStore
from meshnode.crypto.identity import Identity
from meshnode.events import Close, LinkId, Output, Send
from meshnode.node import Node, NodeConfig
from meshnode.routing.frames import Frame, decode_frame
from meshnode.routing.session import Session
from meshnode.store import MemoryStore
from meshnode.transport.base import FrameReceived, LinkDown, LinkUp, TransportEvent
from meshnode.transport.udp import Endpoint, UdpConfig, UdpTransport

__all__ = ["Heard", "ReferencePeer"]

_STORE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Heard:
    """One frame on the link: who sent it (`ours`), in which of our sessions, decoded or not."""

    ours: bool
    session: int
    data: bytes
    frame: Frame | None
    error: str = ""


@dataclass(eq=False)
class ReferencePeer:
    """A `Node` linked over UDP from `source` to `target` (see the module docstring)."""

    identity: Identity
    trust: TrustStore
    source: str
    target: Endpoint
    frames: list[Heard] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)  # the node's events, in order
    session_no: int = 0  # ours: +1 each time we start over (`resync`)
    link: LinkId | None = None
    down_reason: str | None = None

    def __post_init__(self) -> None:
        now = int(time.time())
        # The runner's own peer: no per-author quota for the content it seeds.
        config = NodeConfig(author_posts_per_hour=1_000_000)
        self.node = Node(self.identity, MemoryStore(_STORE_BYTES), self.trust, now, config)
        self.transport = UdpTransport(UdpConfig(
            listen=Endpoint(self.source, 0), peers=(self.target,), discovery=False))
        self.changed = trio.Condition()

    # --- what the runner calls -------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled."""
        send, receive = trio.open_memory_channel[TransportEvent](256)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.transport.run, send)
            nursery.start_soon(self._timer)
            task_status.started()
            async for event in receive:
                await self._on_event(event)

    async def local(self, outputs: Sequence[Output]) -> None:
        """Act on the outputs of a local call (`node.inject`, `node.send_dm`...)."""
        await self._dispatch(list(outputs))

    async def send_frame(self, data: bytes) -> None:
        """Put `data` on the link as a frame, whatever it holds."""
        assert self.link is not None
        self._record(True, data)
        await self.transport.send(self.link, data)

    async def resync(self) -> None:
        """Start a new exchange on the link with a new Hello (what a re-sync does, §10.1)."""
        assert self.link is not None
        now = int(time.time())
        self.node.link_down(self.link, now)
        self.session_no += 1
        await self._dispatch(self.node.link_up(self.link, now))

    def session(self) -> Session | None:
        return self.node.session(self.link) if self.link is not None else None

    async def wait(self, predicate: object, seconds: float) -> bool:
        """Whether `predicate()` (checked on every change) becomes true within `seconds`.
        The wait ends early, with the predicate's answer, once the link is down: nothing more
        can come on it (the runner's node never takes up another)."""
        assert callable(predicate)
        with trio.move_on_after(seconds):
            async with self.changed:
                while not predicate():
                    if self.down_reason is not None:
                        return False
                    await self.changed.wait()
                return True
        return bool(predicate())

    def of_peer(self, session: int | None = None) -> list[Heard]:
        return [h for h in self.frames if not h.ours
                and (session is None or h.session == session)]

    # --- driving the node ------------------------------------------------------------------

    async def _on_event(self, event: TransportEvent) -> None:
        now = int(time.time())
        match event:
            case LinkUp(link):
                if self.link is None:
                    self.link = link
                    await self._dispatch(self.node.link_up(link, now))
            case FrameReceived(link, data) if link == self.link:
                self._record(False, data)
                await self._dispatch(self.node.receive(link, data, now))
            case LinkDown(link, reason) if link == self.link:
                self.down_reason = reason
                await self._dispatch(self.node.link_down(link, now))
        await self._notify()

    async def _dispatch(self, outputs: list[Output]) -> None:
        """Act on outputs in order; tell the node `ready` once a link took its burst."""
        while outputs:
            sent: list[LinkId] = []
            for out in outputs:
                if isinstance(out, Send):
                    self._record(True, out.data)
                    await self.transport.send(out.link, out.data)
                    if out.link not in sent:
                        sent.append(out.link)
                elif isinstance(out, Close):
                    await self.transport.close(out.link, out.reason)
                else:
                    self.outputs.append(out)
            outputs = []
            for link in sent:
                outputs += self.node.ready(link, int(time.time()))
        await self._notify()

    def _record(self, ours: bool, data: bytes) -> None:
        try:
            self.frames.append(Heard(ours, self.session_no, data, decode_frame(data)))
        except WireError as exc:
            self.frames.append(Heard(ours, self.session_no, data, None, str(exc)))

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def _timer(self) -> None:
        """`handle_timer` when due; early calls are harmless, so a coarse poll is enough."""
        while True:
            await trio.sleep(0.25)
            now = int(time.time())
            if now >= self.node.get_timer():
                await self._dispatch(self.node.handle_timer(now))
