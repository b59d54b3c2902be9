"""In-process links for tests and the simulator, through the real framing.

`MemoryNetwork` connects pairs of named endpoints. A frame sent on a link is cut into
fragments at the link's MTU, queued, and fed fragment by fragment to the receiving side's
`Reassembler` when the network is pumped: `step(now)` moves one fragment, `deliver_all(now)`
all of them, in the order they were sent. Each fragment is lost with the link's probability,
drawn from one seeded generator, so a run is reproducible. Nothing reads a clock: `now` is
passed in. Endpoints collect their `TransportEvent`s until `poll`ed; a peer's name is its
`LinkId`.

`MemoryTransport` wraps one endpoint in the async `Transport` interface for daemon tests
under trio.
"""

from __future__ import annotations

import random
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from meshnode.transport.base import FrameReceived, LinkDown, LinkId, LinkUp, TransportEvent
from meshnode.transport.framing import (
    DEFAULT_MAX_FRAME,
    MIN_MTU,
    Fragmenter,
    FramingError,
    Reassembler,
    ReassemblyStats,
)

__all__ = ["LinkStats", "MemoryNetwork", "MemoryTransport"]


@dataclass(frozen=True, slots=True)
class LinkStats:
    """Traffic one way on one link: `wire_bytes` counts fragments with their headers."""

    frames_sent: int
    fragments_sent: int
    wire_bytes: int
    fragments_lost: int
    reassembly: ReassemblyStats


@dataclass(slots=True)
class _Direction:
    src: LinkId
    dst: LinkId
    mtu: int
    loss: float
    fragmenter: Fragmenter
    reassembler: Reassembler
    alive: bool = True
    frames_sent: int = 0
    fragments_sent: int = 0
    wire_bytes: int = 0
    fragments_lost: int = 0


@dataclass
class MemoryNetwork:
    """Links between named endpoints; `mtu` and `loss` are defaults for `connect`."""

    mtu: int = MIN_MTU
    loss: float = 0.0
    seed: int = 0
    max_frame: int = DEFAULT_MAX_FRAME
    timeout: float = 30.0
    wire_bytes: int = field(default=0, init=False)
    _links: dict[tuple[LinkId, LinkId], _Direction] = field(default_factory=dict, init=False)
    _queue: deque[tuple[_Direction, bytes]] = field(default_factory=deque, init=False)
    _inbox: defaultdict[LinkId, deque[TransportEvent]] = field(
        default_factory=lambda: defaultdict(deque), init=False)
    _listeners: dict[LinkId, Callable[[], None]] = field(default_factory=dict, init=False)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def connect(self, a: LinkId, b: LinkId, *, mtu: int | None = None,
                loss: float | None = None) -> None:
        """Bring up a link between `a` and `b`: both get `LinkUp` naming the other."""
        if a == b:
            raise ValueError("an endpoint cannot link to itself")
        if (a, b) in self._links:
            raise ValueError(f"{a!r} and {b!r} are already linked")
        mtu = self.mtu if mtu is None else mtu
        loss = self.loss if loss is None else loss
        if not 0.0 <= loss <= 1.0:
            raise ValueError(f"loss {loss} outside 0..1")
        for src, dst in ((a, b), (b, a)):
            self._links[(src, dst)] = _Direction(
                src, dst, mtu, loss, Fragmenter(mtu, max_frame=self.max_frame),
                Reassembler(max_frame=self.max_frame, timeout=self.timeout, ordered=True))
            self._post(src, LinkUp(dst, mtu))

    def disconnect(self, a: LinkId, b: LinkId, reason: str = "disconnected") -> bool:
        """Take the link down: fragments in flight are lost, both ends get `LinkDown`."""
        if (a, b) not in self._links:
            return False
        for src, dst in ((a, b), (b, a)):
            self._links.pop((src, dst)).alive = False
            self._post(src, LinkDown(dst, reason))
        return True

    def linked(self, a: LinkId, b: LinkId) -> bool:
        return (a, b) in self._links

    def send(self, src: LinkId, dst: LinkId, frame: bytes) -> bool:
        """Queue `frame` from `src` to `dst`; False (and dropped) if they are not linked."""
        direction = self._links.get((src, dst))
        if direction is None:
            return False
        fragments = direction.fragmenter.fragments(frame)
        direction.frames_sent += 1
        direction.fragments_sent += len(fragments)
        size = sum(len(f) for f in fragments)
        direction.wire_bytes += size
        self.wire_bytes += size
        self._queue.extend((direction, f) for f in fragments)
        return True

    @property
    def in_flight(self) -> int:
        return len(self._queue)

    def step(self, now: float) -> bool:
        """Deliver the oldest fragment in flight; False if there was none."""
        if not self._queue:
            return False
        direction, fragment = self._queue.popleft()
        if not direction.alive:
            return True
        if direction.loss and self._rng.random() < direction.loss:
            direction.fragments_lost += 1
            return True
        try:
            frames = direction.reassembler.feed(fragment, now)
        except FramingError:
            return True  # counted by the reassembler; a real transport does the same
        for frame in frames:
            self._post(direction.dst, FrameReceived(direction.src, frame))
        return True

    def deliver_all(self, now: float) -> int:
        """Deliver everything in flight; return how many fragments were taken off the queue."""
        n = 0
        while self.step(now):
            n += 1
        return n

    def poll(self, name: LinkId) -> list[TransportEvent]:
        """Take the events that arrived at endpoint `name`, oldest first."""
        inbox = self._inbox.pop(name, None)
        return list(inbox) if inbox else []

    def listen(self, name: LinkId, callback: Callable[[], None] | None) -> None:
        """Call `callback` whenever an event arrives for `name` (None to stop)."""
        if callback is None:
            self._listeners.pop(name, None)
        else:
            self._listeners[name] = callback

    def link_stats(self, src: LinkId, dst: LinkId) -> LinkStats:
        """Traffic from `src` to `dst` on their current link (KeyError if not linked)."""
        d = self._links[(src, dst)]
        return LinkStats(d.frames_sent, d.fragments_sent, d.wire_bytes, d.fragments_lost,
                         d.reassembler.stats)

    def _post(self, name: LinkId, event: TransportEvent) -> None:
        self._inbox[name].append(event)
        listener = self._listeners.get(name)
        if listener is not None:
            listener()


class MemoryTransport:
    """The `Transport` interface over endpoint `name` of a `MemoryNetwork`.

    `send` pumps the whole network at `clock()` (trio's clock by default, so tests can use
    `trio.testing.MockClock`), which delivers synchronously to every endpoint.
    """

    def __init__(self, network: MemoryNetwork, name: LinkId, *,
                 clock: Callable[[], float] = trio.current_time) -> None:
        self.network = network
        self.name = name
        self._clock = clock
        self._wakeup = trio.Event()

    async def run(self, events: trio.MemorySendChannel[TransportEvent]) -> None:
        try:
            while True:
                self._wakeup = trio.Event()
                self.network.listen(self.name, self._wakeup.set)
                for event in self.network.poll(self.name):
                    await events.send(event)
                await self._wakeup.wait()
        finally:
            self.network.listen(self.name, None)

    async def send(self, link: LinkId, frame: bytes) -> None:
        if self.network.send(self.name, link, frame):
            self.network.deliver_all(self._clock())
        await trio.lowlevel.checkpoint()

    async def close(self, link: LinkId, reason: str) -> None:
        self.network.disconnect(self.name, link, reason)
        await trio.lowlevel.checkpoint()
