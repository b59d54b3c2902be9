"""What a `Node` hands back to its driver: frames to send and things that happened.

Small frozen dataclasses in the h11 style. `Send` and `Close` are for the transport; the rest
are for the application (daemon API, TUI, simulator metrics).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, TypeAlias

from meshnode.crypto.authority import Rejection, VerifiedAlert
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
    "Refusal",
    "Rejected",
    "Result",
    "Send",
    "SyncFinished",
    "TrustUpdated",
    "Verdict",
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


class Refusal(StrEnum):
    """Why a node refused a message or a frame: one list, used by every driver and client.

    The value is the stable key of `Node.status()["rejected"]` and the start of
    `Rejected.reason`."""

    MALFORMED = "malformed"  # the message does not decode
    MALFORMED_FRAME = "malformed frame"  # a sync frame does not decode or breaks the session
    INVALID = "invalid"  # a bad signature or body
    FROM_FUTURE = "from the future"  # created further ahead of our clock than the skew allows
    EXPIRED = "expired"
    RATE = "rate"  # a peer, or the network's posts together, arrive too fast
    QUOTA = "quota"  # the author created too many
    STAMP = "stamp"  # a key new to this node without the proof of work it requires
    STORE = "store"  # the store would not take it (full of higher-priority messages, ...)
    ALERT = "alert"  # an alert failed verification: `Rejected.rejection` says how
    SUPERSEDED = "alert superseded"  # a later Update or Cancel of the alert is held
    CERT = "cert"  # a certificate failed verification
    REVOKE = "revoke"  # a revocation failed verification
    DUPLICATE = "duplicate"  # held or seen before (only in a `Verdict`, never `Rejected`)


@dataclass(frozen=True, slots=True)
class Rejected:
    """Input refused: counted, never stored or relayed. `link` is None for local input.

    `rejection` carries the chain verifier's typed verdict for ALERT, CERT and REVOKE."""

    link: LinkId | None
    kind: Kind | None
    refusal: Refusal
    detail: str = ""
    rejection: Rejection | None = None

    @property
    def reason(self) -> str:
        """For people and logs: the refusal and its detail, e.g. ``"expired"`` or
        ``"alert bad_signature: ..."``."""
        if self.refusal in (Refusal.ALERT, Refusal.CERT, Refusal.REVOKE) and self.detail:
            return f"{self.refusal.value} {self.detail}"
        return f"{self.refusal.value}: {self.detail}" if self.detail else self.refusal.value


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


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a node decided about a message handed to it locally (`Node.post`, `send_dm`,
    `announce`, `inject`): accepted and stored (`refusal` is None), or refused and why.

    `msg_id` is None only when the bytes do not decode as a message."""

    msg_id: bytes | None
    refusal: Refusal | None = None
    detail: str = ""

    @property
    def accepted(self) -> bool:
        return self.refusal is None

    @property
    def reason(self) -> str:
        """The refusal for people ("" when accepted), worded as `Rejected.reason`."""
        if self.refusal is None:
            return ""
        return f"{self.refusal.value}: {self.detail}" if self.detail else self.refusal.value


class Result(NamedTuple):
    """A local action's verdict and the outputs the driver must act on, in that order."""

    verdict: Verdict
    outputs: list[Output]
