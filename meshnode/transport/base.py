"""What the daemon sees of a transport: links coming and going, and whole frames.

A transport moves frames between this node and its peers and reports links up and down;
it takes no protocol decisions. Its `run` task delivers `TransportEvent`s into a trio memory
channel; the daemon feeds them to the `Node` and hands the node's `Send`s back to `send`.
Fragmenting to the link's MTU is the transport's business (see `framing`); frames in and out
are whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeAlias

import trio

from meshnode.events import LinkId

__all__ = ["FrameReceived", "LinkDown", "LinkId", "LinkUp", "Transport", "TransportEvent"]


@dataclass(frozen=True, slots=True)
class LinkUp:
    """A peer is reachable on `link`; `mtu` is the largest fragment the link carries."""

    link: LinkId
    mtu: int


@dataclass(frozen=True, slots=True)
class LinkDown:
    """`link` is gone; frames sent to it from now on are dropped."""

    link: LinkId
    reason: str


@dataclass(frozen=True, slots=True)
class FrameReceived:
    """One whole frame arrived on `link`."""

    link: LinkId
    data: bytes


TransportEvent: TypeAlias = LinkUp | LinkDown | FrameReceived


class Transport(Protocol):
    """One kind of link (BLE, UDP, memory), as the daemon drives it."""

    async def run(self, events: trio.MemorySendChannel[TransportEvent]) -> None:
        """Find peers and receive, reporting on `events`, until cancelled."""
        ...

    async def send(self, link: LinkId, frame: bytes) -> None:
        """Queue `frame` on `link`; return once the link has taken it.

        A link that is down drops the frame silently: its `LinkDown` is, or will be, reported.
        """
        ...

    async def close(self, link: LinkId, reason: str) -> None:
        """Disconnect `link` (the node gave up on the peer); `LinkDown` follows."""
        ...
