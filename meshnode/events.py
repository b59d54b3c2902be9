"""What a `Node` hands back to its driver: frames to send and things that happened.

Small frozen dataclasses in the h11 style. `Send` and `Close` are for the transport; the rest
are for the application (daemon API, TUI, simulator metrics).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TypeAlias

from meshnode.crypto.authority import VerifiedAlert
from meshnode.crypto.identity import PublicIdentity
from meshnode.wire import AnnounceBody, Kind, PostBody

__all__ = [
    "AlertReceived",
    "AlertRemoved",
    "AnnounceReceived",
    "Close",
    "DmCarried",
    "DmDelivered",
    "DmReceived",
    "Event",
    "LinkId",
    "Output",
    "PostReceived",
    "Rejected",
    "Send",
    "SyncFinished",
    "TrustUpdated",
]

LinkId: TypeAlias = Hashable


@dataclass(frozen=True, slots=True)
class Send:
    """Send `data` (one sync frame) on `link`."""

    link: LinkId
    data: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """The node wants `link` closed (a peer that keeps sending garbage)."""

    link: LinkId
    reason: str


@dataclass(frozen=True, slots=True)
class PostReceived:
    msg_id: bytes
    post: PostBody


@dataclass(frozen=True, slots=True)
class AnnounceReceived:
    msg_id: bytes
    announce: AnnounceBody


@dataclass(frozen=True, slots=True)
class DmReceived:
    """A DM to this node opened and its sender's signature verified."""

    msg_id: bytes
    sender: PublicIdentity
    text: str
    created: int


@dataclass(frozen=True, slots=True)
class DmCarried:
    """A copy of one of our own DMs was handed to a relay (or to the recipient)."""

    dm_id: bytes
    handovers: int


@dataclass(frozen=True, slots=True)
class DmDelivered:
    """The recipient's signed receipt for one of our own DMs arrived."""

    dm_id: bytes


@dataclass(frozen=True, slots=True)
class AlertReceived:
    """An alert verified through its whole chain; `covers_here` is None without a location."""

    msg_id: bytes
    verified: VerifiedAlert
    covers_here: bool | None


@dataclass(frozen=True, slots=True)
class AlertRemoved:
    """A stored alert was superseded by an Update/Cancel, or its certificate was revoked."""

    msg_id: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class TrustUpdated:
    """A revocation or root rotation was applied."""

    msg_id: bytes
    what: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """Input refused: counted, never stored or relayed. `link` is None for local input."""

    link: LinkId | None
    kind: Kind | None
    reason: str


@dataclass(frozen=True, slots=True)
class SyncFinished:
    """Both sides said they have nothing more to offer on `link`."""

    link: LinkId
    sent: int
    received: int


Event: TypeAlias = (
    PostReceived | AnnounceReceived | DmReceived | DmCarried | DmDelivered | AlertReceived
    | AlertRemoved | TrustUpdated | Rejected | SyncFinished
)
Output: TypeAlias = Send | Close | Event
