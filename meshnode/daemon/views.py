"""JSON renderings of what the daemon holds and of the node's events, for the local API.

Pure functions from protocol objects to plain dicts (docs/api.md lists their fields). Binary
values are hex; times are unix seconds. A person is shown with the name the contact book binds
to their key, never with a name they chose for themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from meshnode.alerts.area import covers
from meshnode.crypto.authority import Rejection, TrustStore, VerifiedAlert, verify_alert
from meshnode.crypto.identity import fingerprint
from meshnode.daemon.alertlog import LoggedAlert, RejectedAlert, threads
from meshnode.daemon.contacts import Contact, KeyWarning
from meshnode.daemon.inbox import ReceivedDm, SentDm
from meshnode.events import (
    AlertReceived,
    AlertRemoved,
    AnnounceReceived,
    DmCarried,
    DmDelivered,
    DmReceived,
    Event,
    PostReceived,
    Rejected,
    SyncFinished,
    TrustUpdated,
)
from meshnode.store.base import StoredMessage
from meshnode.wire import AnnounceBody, Kind, PostBody, WireError, decode_body, decode_message

__all__ = [
    "Names",
    "alert_view",
    "announce_of",
    "contact_view",
    "event_name",
    "event_view",
    "history_view",
    "person",
    "post_view",
    "received_view",
    "rejected_view",
    "sent_view",
    "stored_alert",
    "stored_alert_view",
    "warning_view",
]

Names = Callable[[bytes], str | None]
"""The contact name bound to a signing key, if any."""


def person(sign_key: bytes, names: Names) -> dict[str, Any]:
    name = names(sign_key)
    return {"sign_key": sign_key.hex(), "fingerprint": fingerprint(sign_key), "name": name,
            "known": name is not None}


def post_view(msg_id: bytes, post: PostBody, names: Names,
              received: int | None = None) -> dict[str, Any]:
    view = {"id": msg_id.hex(), "channel": post.channel, "author": person(post.author, names),
            "text": post.text, "created": post.created, "expires": post.expires,
            "reply_to": None if post.reply_to is None else post.reply_to.hex()}
    if received is not None:
        view["received"] = received
    return view


def received_view(dm: ReceivedDm, names: Names) -> dict[str, Any]:
    sender = person(dm.sender_sign, names)
    sender["dh_key"] = dm.sender_dh.hex()
    return {"id": dm.id.hex(), "from": sender, "text": dm.text, "created": dm.created,
            "received": dm.received}


def sent_view(dm: SentDm, names: Names) -> dict[str, Any]:
    return {"id": dm.id.hex(), "to": person(dm.recipient_sign, names), "text": dm.text,
            "created": dm.created, "handovers": dm.handovers, "delivered": dm.delivered}


def contact_view(contact: Contact) -> dict[str, Any]:
    return {"name": contact.name, "fingerprint": contact.fingerprint,
            "sign_key": contact.sign_key.hex(), "dh_key": contact.dh_key.hex(),
            "added": contact.added}


def warning_view(warning: KeyWarning) -> dict[str, Any]:
    return {"name": warning.name, "old_fingerprint": fingerprint(warning.old_sign),
            "new_fingerprint": fingerprint(warning.new_sign),
            "new_sign_key": warning.new_sign.hex(), "new_dh_key": warning.new_dh.hex(),
            "seen": warning.seen, "detail": warning.detail}


def alert_view(verified: VerifiedAlert, covers_here: bool | None) -> dict[str, Any]:
    a, cert = verified.alert, verified.cert
    return {
        "id": verified.msg_id.hex(),
        "identifier": a.identifier,
        "sender": a.sender,
        "sent": a.sent,
        "status": a.status.cap,
        "msg_type": a.msg_type.cap,
        "severity": None if a.max_severity is None else a.max_severity.cap,
        "expires": verified.expires,
        "issuer": cert.name,
        "issuer_id": cert.issuer_id,
        "cert_serial": cert.serial,
        "seq": verified.seq,
        "root": verified.root.name,
        "root_fingerprint": fingerprint(verified.root.key),
        "references": [{"sender": r.sender, "identifier": r.identifier, "sent": r.sent}
                       for r in a.references],
        "infos": [{
            "language": i.language, "event": i.event, "urgency": i.urgency.cap,
            "severity": i.severity.cap, "certainty": i.certainty.cap, "expires": i.expires,
            "headline": i.headline, "description": i.description,
            "instruction": i.instruction, "web": i.web,
            "areas": [area.area_desc for area in i.areas],
        } for i in a.infos],
        "covers_here": covers_here,
    }


def stored_alert(stored: StoredMessage, trust: TrustStore, now: int) -> VerifiedAlert | None:
    """A held alert, verified again against today's trust; None if it no longer verifies."""
    try:
        msg = decode_message(stored.raw)
    except WireError:
        return None
    result = verify_alert(msg, trust, now)
    return None if isinstance(result, Rejection) else result


def stored_alert_view(stored: StoredMessage, trust: TrustStore, now: int,
                      location: tuple[int, int] | None) -> dict[str, Any] | None:
    """The view of a held alert that still verifies against today's trust; else None."""
    result = stored_alert(stored, trust, now)
    if result is None:
        return None
    here = None
    if location is not None and result.alert.infos:
        here = covers(result.alert, *location)
    return alert_view(result, here)


def history_view(logged: Sequence[LoggedAlert], now: int) -> list[dict[str, Any]]:
    """Kept alerts as threads (an alert with its Updates and Cancel), the newest first.

    A thread's `state`: `cancelled` (its latest entry is a Cancel), `withdrawn` (its latest
    entry was removed, e.g. its certificate revoked), `expired`, or `active`.
    """
    entries = [{**entry.view, "received": entry.received,
                "removed": None if entry.removed is None else
                {"at": entry.removed, "reason": entry.removed_reason}} for entry in logged]
    out = []
    for thread in threads(entries):
        latest = thread[-1]
        expires = latest.get("expires")
        state = ("cancelled" if latest.get("msg_type") == "Cancel" else
                 "withdrawn" if latest.get("removed") is not None else
                 "expired" if type(expires) is int and expires <= now else "active")
        out.append({"sender": thread[0].get("sender"), "identifier": thread[0].get("identifier"),
                    "state": state, "updated": latest.get("sent"), "entries": list(thread)})
    return out


def rejected_view(rejected: RejectedAlert) -> dict[str, Any]:
    return {"reason": rejected.reason, "link": rejected.link, "first_seen": rejected.first_seen,
            "last_seen": rejected.last_seen, "count": rejected.count}


def announce_of(stored: StoredMessage) -> AnnounceBody | None:
    """The identity card in a stored announce message (already verified when accepted)."""
    try:
        body = decode_body(Kind.ANNOUNCE, decode_message(stored.raw).body)
    except WireError:
        return None
    return body if isinstance(body, AnnounceBody) else None


_EVENT_NAMES: dict[type[Event], str] = {
    PostReceived: "post_received", DmReceived: "dm_received", DmCarried: "dm_carried",
    DmDelivered: "dm_delivered", AlertReceived: "alert_received",
    AlertRemoved: "alert_removed", TrustUpdated: "trust_updated",
    AnnounceReceived: "announce_received", Rejected: "rejected", SyncFinished: "sync_finished",
}


def event_name(event: Event) -> str:
    """The API event name of a node event (`event_view`'s first item), without the view."""
    return _EVENT_NAMES[type(event)]


def event_view(event: Event, names: Names) -> tuple[str, dict[str, Any]]:
    """The API event name and data for a node event."""
    match event:
        case PostReceived(msg_id, post):
            return "post_received", post_view(msg_id, post, names)
        case DmReceived(msg_id, sender, text, created):
            sender_view = person(sender.sign_key, names)
            sender_view["dh_key"] = sender.dh_key.hex()
            return "dm_received", {"id": msg_id.hex(), "from": sender_view, "text": text,
                                   "created": created}
        case DmCarried(dm_id, handovers):
            return "dm_carried", {"id": dm_id.hex(), "handovers": handovers}
        case DmDelivered(dm_id):
            return "dm_delivered", {"id": dm_id.hex()}
        case AlertReceived(_, verified, covers_here):
            return "alert_received", alert_view(verified, covers_here)
        case AlertRemoved(msg_id, reason):
            return "alert_removed", {"id": msg_id.hex(), "reason": reason}
        case TrustUpdated(msg_id, what):
            return "trust_updated", {"id": msg_id.hex(), "what": what}
        case AnnounceReceived(msg_id, card):
            return "announce_received", {
                "id": msg_id.hex(), "name": card.name,
                **person(card.sign_key, names), "dh_key": card.dh_key.hex()}
        case Rejected(link, kind, refusal):
            return "rejected", {"link": None if link is None else str(link),
                                "kind": None if kind is None else kind.name.lower(),
                                "refusal": refusal.value, "reason": event.reason}
        case SyncFinished(link, sent, received):
            return "sync_finished", {"link": str(link), "sent": sent, "received": received}
    raise AssertionError(f"unknown event {event!r}")  # pragma: no cover
