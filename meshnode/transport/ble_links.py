"""Per-link state shared by the BLE central and peripheral roles (asyncio side).

A `BleLink` owns one connection's framing: a `Fragmenter` at the link's payload size (ATT
MTU - 3) and an ordered `Reassembler`. It guarantees the daemon's view of the link: `LinkUp`
before any `FrameReceived`, frames in order, exactly one `LinkDown`. Frames that complete
before the link is announced (a peer may notify its Hello while we are still subscribing)
are held, at most `MAX_EARLY_FRAMES`, and delivered right after `LinkUp`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from meshnode.transport.base import FrameReceived, LinkDown, LinkId, LinkUp, TransportEvent
from meshnode.transport.framing import (
    DEFAULT_MAX_FRAME,
    MIN_MTU,
    Fragmenter,
    FramingError,
    Reassembler,
)

__all__ = ["MAX_EARLY_FRAMES", "BleLink", "LinkCounters", "LinkIds"]

MAX_EARLY_FRAMES = 8
REASSEMBLY_TIMEOUT = 30.0

log = logging.getLogger(__name__)

Emit = Callable[[TransportEvent], None]
Writer = Callable[[bytes], Awaitable[None]]


class LinkIds:
    """Fresh opaque link ids: "ble:c:1" for links we opened, "ble:p:2" for links to us."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def new(self, role: str) -> str:
        return f"ble:{role}:{next(self._next)}"


@dataclass(slots=True)
class LinkCounters:
    frames_in: int = 0
    frames_out: int = 0
    fragments_in: int = 0
    fragments_out: int = 0
    malformed: int = 0
    early_dropped: int = 0


@dataclass(eq=False, slots=True)
class BleLink:
    """One BLE connection as the daemon sees it. All methods run on the asyncio loop."""

    id: LinkId
    payload: int
    emit: Emit
    writer: Writer
    max_frame: int = DEFAULT_MAX_FRAME
    up: bool = False
    down: bool = False
    counters: LinkCounters = field(default_factory=LinkCounters)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_reason: str = ""
    _early: list[bytes] = field(default_factory=list)
    _fragmenter: Fragmenter = field(init=False)
    _reassembler: Reassembler = field(init=False)
    _write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.payload = max(self.payload, MIN_MTU)
        self._fragmenter = Fragmenter(self.payload, max_frame=self.max_frame)
        self._reassembler = Reassembler(max_frame=self.max_frame, ordered=True,
                                        timeout=REASSEMBLY_TIMEOUT)

    def announce(self) -> None:
        """Report `LinkUp`, then any frames that arrived before it."""
        if self.up or self.down:
            return
        self.up = True
        self.emit(LinkUp(self.id, self.payload))
        early, self._early = self._early, []
        for frame in early:
            self.emit(FrameReceived(self.id, frame))

    def fragment_in(self, fragment: bytes | bytearray, now: float) -> None:
        """One write or notification from the peer."""
        if self.down:
            return
        self.counters.fragments_in += 1
        try:
            frames = self._reassembler.feed(fragment, now)
        except FramingError as exc:
            self.counters.malformed += 1
            log.debug("%s: malformed fragment: %s", self.id, exc)
            return
        for frame in frames:
            self.counters.frames_in += 1
            if self.up:
                self.emit(FrameReceived(self.id, frame))
            elif len(self._early) < MAX_EARLY_FRAMES:
                self._early.append(frame)
            else:
                self.counters.early_dropped += 1

    async def send(self, frame: bytes) -> bool:
        """Write `frame` as fragments, in order; False if the link is (or went) down."""
        async with self._write_lock:
            if self.down:
                return False
            for fragment in self._fragmenter.fragments(frame):
                await self.writer(fragment)
                self.counters.fragments_out += 1
            self.counters.frames_out += 1
        return True

    def finish(self, reason: str) -> None:
        """The connection is gone: report `LinkDown` once (only if `LinkUp` was reported)."""
        if self.down:
            return
        self.down = True
        self.close_reason = reason
        if self.up:
            self.emit(LinkDown(self.id, reason))
        self.closed.set()
