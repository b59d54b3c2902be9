"""What the daemon does for an API request, and with the node's events (synchronous).

`Service.handle` answers one request at `now`, calling the `Node` for local actions (their
typed `Verdict` says what became of them) and reading `node.held` (the store, read-only), the
inbox and the contact book for queries; it returns the JSON result and the node's outputs for
the daemon to dispatch. `Service.record` persists what an event means for this node (a DM
opened for us goes into the inbox at once, delivery states, key-change checks against the
contact book) and returns the API events to publish. Failures raise `ApiError`
with a code and a message that says what to do.

Not thread-safe and never awaited: the daemon calls it from its one core task.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from meshnode import __version__
from meshnode.crypto.authority import Reason, RootKey, root_label
from meshnode.crypto.identity import PublicIdentity, fingerprint
from meshnode.crypto.trustfile import TrustFileError, load_trust
from meshnode.daemon import api
from meshnode.daemon.alertlog import AlertLog, LoggedAlert
from meshnode.daemon.api import ApiError, ErrorCode
from meshnode.daemon.contacts import ContactBook, ContactError, normalise_fingerprint
from meshnode.daemon.inbox import Inbox, InboxError, ReceivedDm, SentDm
from meshnode.daemon.marks import Marks, Sync
from meshnode.daemon.stamps import StampMinter
from meshnode.daemon.views import (
    announce_of,
    contact_view,
    event_name,
    event_view,
    history_view,
    post_view,
    received_view,
    rejected_view,
    sent_view,
    stored_alert_view,
    warning_view,
)
from meshnode.events import (
    AlertReceived,
    AlertRemoved,
    AnnounceReceived,
    Close,
    DmCarried,
    DmDelivered,
    DmReceived,
    Event,
    Output,
    PostReceived,
    Refusal,
    Rejected,
    Send,
    SyncFinished,
    Verdict,
)
from meshnode.node import Node
from meshnode.store.base import StoredMessage
from meshnode.wire import Kind, PostBody, WireError, decode_body, decode_message

__all__ = ["SOFTWARE", "Service", "ServiceInfo"]

SOFTWARE = f"meshnode {__version__}"
_log = logging.getLogger("meshnode.service")
# One hint wherever a person cannot be found, so that every message names both ways in.
ADD_CONTACT_HINT = (
    "A card arrives once their node announces one (it has a [node] name; `meshnode init` sets "
    "one unless given --name '') and a link has carried it here; then `meshnode contacts add "
    "NAME --fingerprint FP` finds it. Without a card, add them with both keys: `meshnode "
    "contacts add NAME --keys SIGN_KEY:DH_KEY`, as their `meshnode whoami` shows.")
_SEARCH_LIMIT = 10_000  # newest posts listed by `channels`, announces searched for a key
# Our clock this far behind what a verified alert proved counts as wrong (an issuer's clock may
# be a little ahead of true time, and a warning must not cry wolf).
CLOCK_BEHIND_WARN = 300


def clock_view(now: int, floor: int) -> dict[str, Any]:
    """What `status` says of the clock: `floor` is `Node.clock_floor`; `behind` is how far our
    clock is at least behind (0 if not noticeably), `warning` what to do about it, or None."""
    behind = floor - now if floor - now > CLOCK_BEHIND_WARN else 0
    warning = None if not behind else (
        f"this node's clock is at least {behind // 60:,} minutes behind (a verified alert was "
        f"sent at {datetime.fromtimestamp(floor, UTC):%Y-%m-%d %H:%M:%S} UTC): alerts are "
        "checked against that time instead, but set the clock right (an RTC module or a GNSS "
        "receiver keeps it through power cuts: docs/hub.md, \"Time\")")
    return {"now": now, "floor": floor or None, "behind": behind, "warning": warning}


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """What the service shows of its surroundings: transports, API counters, the data dir."""

    data_dir: str
    peers: Callable[[], list[dict[str, Any]]]
    transport_stats: Callable[[], dict[str, int]]
    api_stats: Callable[[], dict[str, int]]
    extra: Callable[[], dict[str, Any]] = dict  # more status sections (the bitchat gateway)


class Service:
    def __init__(self, node: Node, inbox: Inbox, contacts: ContactBook, info: ServiceInfo, *,
                 name: str = "", started: float | None = None, alert_log: AlertLog | None = None,
                 marks: Marks | None = None, stamps: StampMinter | None = None) -> None:
        self.node = node
        self.stamps = stamps  # stamped ack keys minted ahead for DMs (`[node] stamp_own`)
        self.inbox = inbox
        self.contacts = contacts
        self._present_contacts()
        # Without files of their own (tests), history and marks last as long as the service.
        self.alert_log = alert_log if alert_log is not None else AlertLog(":memory:")
        self.marks = marks if marks is not None else Marks(":memory:")
        self._queued: list[tuple[str, dict[str, Any]]] = []  # API events a request caused
        self._own: dict[bytes, bool] = {}  # post id -> ours (posts never change)
        self.info = info
        self.name = name
        self.started = started  # None: from the first request (tests without a daemon)
        self.events_published: Counter[str] = Counter()
        # DMs opened for us that the inbox could not take (a full disk): the node has already
        # sent their receipts, so they are held here and written by `retry_unrecorded`.
        self.unrecorded: list[ReceivedDm] = []
        # Set when the damaged message store was moved aside at start (`restore_own`).
        self.recovery: dict[str, Any] | None = None
        self._handlers: dict[type, Callable[[Any, int], tuple[dict[str, Any], list[Output]]]] = {
            api.Hello: self._hello, api.Status: self._status, api.Peers: self._peers,
            api.Whoami: self._whoami, api.Post: self._post, api.SendDm: self._dm,
            api.Inbox: self._inbox, api.Outbox: self._outbox, api.Channels: self._channels,
            api.Posts: self._posts, api.Alerts: self._alerts, api.Inject: self._inject,
            api.AlertHistory: self._alert_history, api.RejectedAlerts: self._rejected_alerts,
            api.MarkRead: self._mark_read,
            api.Contacts: self._contacts, api.ContactAdd: self._contact_add,
            api.ContactRemove: self._contact_remove,
            api.DismissKeyWarning: self._dismiss_key_warning, api.Announce: self._announce,
            api.ReloadTrust: self._reload_trust,
        }

    def names(self, sign_key: bytes) -> str | None:
        if sign_key == self.node.identity.public.sign_key:
            return "me"
        contact = self.contacts.by_sign_key(sign_key)
        return None if contact is None else contact.name

    # --- requests ------------------------------------------------------------------------------

    def handle(self, request: api.Request, now: int) -> tuple[dict[str, Any], list[Output]]:
        if self.started is None:
            self.started = now
        handler = self._handlers.get(type(request))
        if handler is None:
            raise ApiError(ErrorCode.UNKNOWN_OP, f"{api.op_name(request)} is handled by the "
                                                 "API server, not the node")
        return handler(request, now)

    def _hello(self, _: api.Hello, now: int) -> tuple[dict[str, Any], list[Output]]:
        pub = self.node.identity.public
        return {"api_versions": list(api.SUPPORTED_VERSIONS), "software": SOFTWARE,
                "node_id": pub.node_id.hex(), "fingerprint": pub.fingerprint}, []

    def _status(self, _: api.Status, now: int) -> tuple[dict[str, Any], list[Output]]:
        s = self.node.status(now)
        stats = self.node.stats
        received, sent = self.inbox.counts()
        return {
            "node_id": self.node.identity.node_id.hex(),
            "fingerprint": self.node.identity.fingerprint,
            "name": self.name,
            "software": SOFTWARE,
            "data_dir": self.info.data_dir,
            "uptime": int(now - (self.started or now)),  # whole seconds, as every API time
            "links": s["links"],
            "last_sync": self.marks.last_sync(),
            "key_warnings": len(self.contacts.warnings()),
            "recovery": self.recovery,
            "clock": clock_view(now, self.node.clock_floor),
            "store": {"messages": s["stored"], "used_bytes": s["used_bytes"],
                      "capacity_bytes": s["capacity_bytes"],
                      "by_kind": {Kind(k).name.lower(): n
                                  for k, n in self.node.held.usage().by_kind.items()}},
            "counters": {
                "accepted": dict(stats.accepted), "rejected": dict(stats.rejected),
                "accepted_total": sum(stats.accepted.values()),
                "rejected_total": sum(stats.rejected.values()),
                "duplicates": stats.duplicates, "relayed": stats.relayed,
                "frames_in": stats.frames_in, "frames_out": stats.frames_out,
                "bytes_in": stats.bytes_in, "bytes_out": stats.bytes_out,
            },
            "inbox": {"received": received, "sent": sent},
            "roots": [r.name for r in self.node.trust.roots],
            "trust": [root_view(r) for r in self.node.trust.roots],
            "transport": self.info.transport_stats(),
            "api": {**self.info.api_stats(), "events_published": sum(
                self.events_published.values())},
            **self.info.extra(),
        }, []

    def _peers(self, _: api.Peers, now: int) -> tuple[dict[str, Any], list[Output]]:
        syncs = self.marks.syncs()
        peers = []
        for peer in self.info.peers():
            sync = syncs.get(str(peer.get("link")))
            peers.append({"transport": None, **peer,
                          "last_sync": None if sync is None else sync.at,
                          "last_sync_sent": None if sync is None else sync.sent,
                          "last_sync_received": None if sync is None else sync.received})
        return {"peers": peers}, []

    def _whoami(self, _: api.Whoami, now: int) -> tuple[dict[str, Any], list[Output]]:
        pub = self.node.identity.public
        return {"node_id": pub.node_id.hex(), "fingerprint": pub.fingerprint,
                "sign_key": pub.sign_key.hex(), "dh_key": pub.dh_key.hex(),
                "name": self.name}, []

    def _originated(self, what: str, verdict: Verdict) -> bytes:
        """The new message's id; raises if the node refused it (a quota, a full store). The
        same text sent twice in one second is one message, held already: not an error."""
        held = verdict.accepted or verdict.refusal is Refusal.DUPLICATE
        if not held or verdict.msg_id is None:
            raise ApiError(ErrorCode.INVALID, f"the node refused the {what}: {verdict.reason}")
        return verdict.msg_id

    def _post(self, req: api.Post, now: int) -> tuple[dict[str, Any], list[Output]]:
        try:
            verdict, outputs = self.node.post(req.channel, req.text, now)
        except WireError as exc:
            raise ApiError(ErrorCode.INVALID, f"cannot post: {exc}") from None
        msg_id = self._originated("post", verdict)
        self.inbox.add_own_post(msg_id, self._raw(msg_id), now)
        return {"id": msg_id.hex(), "channel": req.channel}, outputs

    def _dm(self, req: api.SendDm, now: int) -> tuple[dict[str, Any], list[Output]]:
        recipient = self.resolve(req.to)
        try:
            ack = None if self.stamps is None else self.stamps.take_ack(now)
            verdict, outputs = self.node.send_dm(recipient, req.text, now, ack=ack)
        except WireError as exc:
            raise ApiError(ErrorCode.INVALID, f"cannot send the message: {exc}") from None
        msg_id = self._originated("direct message", verdict)
        self.inbox.add_sent(SentDm(msg_id, recipient.sign_key, recipient.dh_key, req.text, now),
                            self._raw(msg_id))
        name = self.names(recipient.sign_key)
        warnings = [warning_view(w) for w in self.contacts.warnings() if w.name == name]
        return {"id": msg_id.hex(), "to": {"fingerprint": recipient.fingerprint, "name": name},
                "key_warnings": warnings}, outputs

    def _raw(self, msg_id: bytes) -> bytes:
        stored = self.node.held.get(msg_id)
        assert stored is not None  # `_originated` checked that the node stored it
        return stored.raw

    def restore_own(self, now: int, moved_to: str) -> tuple[dict[str, Any], list[Output]]:
        """Publish again, from the inbox, the node's own undelivered DMs and own posts after
        the message store holding them was moved aside as damaged (to `moved_to`). What was
        restored is kept for `status` (``recovery``) and returned with the node's outputs."""
        dms, posts = self.inbox.to_restore()
        outputs: list[Output] = []
        restored = {"dms": 0, "posts": 0}
        for what, raws in (("dms", dms), ("posts", posts)):
            for raw in raws:
                verdict, out = self.node.restore_own(raw, now)
                outputs.extend(out)
                restored[what] += verdict.accepted
        self.recovery = {"at": now, "moved_to": moved_to, "dms_restored": restored["dms"],
                         "dms_not_restored": len(dms) - restored["dms"],
                         "posts_restored": restored["posts"],
                         "posts_expired": len(posts) - restored["posts"]}
        return dict(self.recovery), outputs

    def resolve(self, to: str) -> PublicIdentity:
        """A recipient by contact name, fingerprint, or signing key (hex) seen in an announce."""
        contact = self.contacts.by_name(to)
        if contact is None:
            contact = self.contacts.by_fingerprint(to)
        if contact is None and _is_hex_key(to):
            contact = self.contacts.by_sign_key(bytes.fromhex(to))
        if contact is not None:
            return contact.identity
        found = self._announced(to)
        if found is not None:
            return found
        raise ApiError(ErrorCode.NOT_FOUND, f"no contact or identity card matches {to!r}. "
                       + ADD_CONTACT_HINT)

    def _announced(self, key_or_fingerprint: str) -> PublicIdentity | None:
        wanted_key = bytes.fromhex(key_or_fingerprint) if _is_hex_key(key_or_fingerprint) else None
        wanted_fp = normalise_fingerprint(key_or_fingerprint)
        matches = set()
        for stored in self._newest(Kind.ANNOUNCE, _SEARCH_LIMIT):
            card = announce_of(stored)
            if card is None:
                continue
            if card.sign_key == wanted_key or normalise_fingerprint(
                    fingerprint(card.sign_key)) == wanted_fp:
                matches.add(PublicIdentity(card.sign_key, card.dh_key))
        if len(matches) > 1:
            raise ApiError(ErrorCode.CONFLICT, "that key is announced with several agreement "
                           "keys: ask the person for both keys and add them as a contact")
        return next(iter(matches), None)

    def _newest(self, kind: Kind, limit: int) -> Iterator[StoredMessage]:
        """The newest `limit` stored messages of a kind, without loading the others."""
        store = self.node.held
        for _, msg_id in store.ids_since(0, kind=int(kind))[-limit:]:
            stored = store.get(msg_id)
            if stored is not None:
                yield stored

    def _inbox(self, req: api.Inbox, now: int) -> tuple[dict[str, Any], list[Output]]:
        dms = self.inbox.received(since=req.since, limit=req.limit)
        return {"messages": [received_view(dm, self.names) for dm in dms]}, []

    def _outbox(self, req: api.Outbox, now: int) -> tuple[dict[str, Any], list[Output]]:
        return {"messages": [sent_view(dm, self.names) for dm in self.inbox.sent(
            limit=req.limit)]}, []

    def _channels(self, _: api.Channels, now: int) -> tuple[dict[str, Any], list[Output]]:
        counts: Counter[str] = Counter()
        unread: Counter[str] = Counter()
        latest: dict[str, int] = {}
        marks = self.marks.read_upto()
        for stored in self._newest(Kind.POST, _SEARCH_LIMIT):
            if stored.channel is None:
                continue
            counts[stored.channel] += 1
            latest[stored.channel] = max(latest.get(stored.channel, 0), stored.created)
            if stored.received > marks.get(stored.channel, 0) and not self._own_post(stored):
                unread[stored.channel] += 1
        return {"channels": [{"channel": ch, "posts": n, "latest": latest[ch],
                              "unread": unread[ch], "read_upto": marks.get(ch, 0)}
                             for ch, n in sorted(counts.items())]}, []

    def _own_post(self, stored: StoredMessage) -> bool:
        own = self._own.get(stored.id)
        if own is None:
            try:
                body = decode_body(Kind.POST, decode_message(stored.raw).body)
            except WireError:
                body = None
            own = isinstance(body, PostBody) and body.author == self.node.identity.public.sign_key
            if len(self._own) >= 2 * _SEARCH_LIMIT:
                self._own.clear()
            self._own[stored.id] = own
        return own

    def _posts(self, req: api.Posts, now: int) -> tuple[dict[str, Any], list[Output]]:
        out = []
        for stored in self.node.held.by_channel(req.channel, req.limit):
            try:
                body = decode_body(Kind.POST, decode_message(stored.raw).body)
            except WireError:
                continue
            if isinstance(body, PostBody):
                out.append(post_view(stored.id, body, self.names, stored.received))
        return {"channel": req.channel, "posts": out}, []

    def _alerts(self, _: api.Alerts, now: int) -> tuple[dict[str, Any], list[Output]]:
        now = max(now, self.node.clock_floor)  # a clock behind must not hide valid alerts
        views = [stored_alert_view(s, self.node.trust, now, self.node.config.location)
                 for s in self.node.held.by_kind(int(Kind.ALERT))]
        return {"alerts": [v for v in views if v is not None]}, []

    def _alert_history(self, req: api.AlertHistory,
                       now: int) -> tuple[dict[str, Any], list[Output]]:
        logged = self.alert_log.entries()
        kept = {entry.id for entry in logged}
        # Alerts held from before the log existed are history too.
        for stored in self.node.held.by_kind(int(Kind.ALERT)):
            if stored.id not in kept:
                view = stored_alert_view(stored, self.node.trust, max(now, self.node.clock_floor),
                                         self.node.config.location)
                if view is not None:
                    logged.append(LoggedAlert(stored.id, stored.received, view))
        return {"threads": history_view(logged, now)[:req.limit]}, []

    def _rejected_alerts(self, req: api.RejectedAlerts,
                         now: int) -> tuple[dict[str, Any], list[Output]]:
        return {"rejected": [rejected_view(r) for r in self.alert_log.rejected(req.limit)]}, []

    def _mark_read(self, req: api.MarkRead, now: int) -> tuple[dict[str, Any], list[Output]]:
        posts = self.node.held.by_channel(req.channel, _SEARCH_LIMIT)
        newest = max((p.received for p in posts), default=0)
        upto = min(now, newest if req.upto is None else req.upto)
        moved = self.marks.mark_read(req.channel, upto)
        mark = self.marks.read_upto().get(req.channel, 0)
        unread = sum(1 for p in posts if p.received > mark and not self._own_post(p))
        result = {"channel": req.channel, "read_upto": mark, "unread": unread}
        if moved is not None:
            self._queued.append(("read_marked", dict(result)))
        return result, []

    def _inject(self, req: api.Inject, now: int) -> tuple[dict[str, Any], list[Output]]:
        try:
            msg = decode_message(req.data)
        except WireError as exc:
            raise ApiError(ErrorCode.INVALID, api.not_a_message(req.data, str(exc))) from None
        verdict, outputs = self.node.inject(req.data, now)
        if _unknown_root(outputs) and self.reload_trust():
            # A root pinned on disk since the start (by another user, say): take it and retry.
            verdict, outputs = self.node.inject(req.data, now)
        duplicate = verdict.refusal is Refusal.DUPLICATE
        if not verdict.accepted and not duplicate:
            if verdict.refusal is Refusal.ALERT:
                self.alert_log.reject(verdict.reason, None, now)  # shown as NOT VERIFIED too
            raise ApiError(ErrorCode.INVALID, f"the node refused it: {verdict.reason}")
        # A duplicate is held or was seen before (e.g. a delivered DM): nothing to do.
        result = {"id": msg.id.hex(), "kind": msg.kind.name.lower(),
                  "accepted": verdict.accepted, "duplicate": duplicate}
        return result, outputs

    def _reload_trust(self, _: api.ReloadTrust, now: int) -> tuple[dict[str, Any], list[Output]]:
        added = self.reload_trust()
        return {"added": [root_view(r) for r in added],
                "roots": [root_view(r) for r in self.node.trust.roots]}, []

    def reload_trust(self) -> list[RootKey]:
        """Add the roots pinned in the data directory since the start; the ones added.

        Refusals of alerts under a newly pinned root are forgotten: those alerts verify now,
        and come again from the peers (a refusal for an unknown root is not remembered as
        seen), so they must not stay on screen as NOT VERIFIED.
        """
        try:
            pinned = load_trust(Path(self.info.data_dir))
        except TrustFileError as exc:
            raise ApiError(ErrorCode.INVALID, f"cannot read the pinned roots, so nothing "
                           f"changed: {exc}") from None
        added = self.node.pin_roots(pinned.roots)
        if added:
            forgotten = sum(self.alert_log.forget_rejected(root_label(root.id))
                            for root in added)
            _log.warning("roots_pinned", extra={"fields": {
                "roots": "; ".join(f"{r.name} ({fingerprint(r.key)})" for r in added),
                "refusals_forgotten": forgotten}})
        return added

    def _contacts(self, _: api.Contacts, now: int) -> tuple[dict[str, Any], list[Output]]:
        return {"contacts": [contact_view(c) for c in self.contacts.all()],
                "warnings": [warning_view(w) for w in self.contacts.warnings()]}, []

    def _contact_add(self, req: api.ContactAdd, now: int) -> tuple[dict[str, Any], list[Output]]:
        if req.sign_key is not None and req.dh_key is not None:
            identity = PublicIdentity(req.sign_key, req.dh_key)
            if req.fingerprint is not None and normalise_fingerprint(
                    req.fingerprint) != normalise_fingerprint(identity.fingerprint):
                raise ApiError(ErrorCode.INVALID, "the fingerprint does not match the keys")
        elif req.fingerprint is not None or req.sign_key is not None:
            query = req.sign_key.hex() if req.sign_key is not None else str(req.fingerprint)
            found = self._announced(query)
            if found is None:
                raise ApiError(ErrorCode.NOT_FOUND, "no identity card with that fingerprint "
                               "has reached this node. " + ADD_CONTACT_HINT)
            identity = found
        else:
            raise ApiError(ErrorCode.BAD_REQUEST, "contact_add needs sign_key and dh_key, or a "
                           "fingerprint")
        warned = sum(w.name == req.name.strip() for w in self.contacts.warnings())
        try:
            contact = self.contacts.add(req.name, identity, now, replace=req.replace)
        except ContactError as exc:
            raise ApiError(ErrorCode(str(exc.problem)), str(exc)) from None
        self._present_contacts()
        left = sum(w.name == contact.name for w in self.contacts.warnings())
        if warned > left:  # a rebind (replace) clears the name's warnings: say so, and who
            self._key_warnings_dismissed(contact.name, warned - left, "rebound")
        return {"contact": contact_view(contact)}, []

    def _dismiss_key_warning(self, req: api.DismissKeyWarning,
                             now: int) -> tuple[dict[str, Any], list[Output]]:
        dismissed = self.contacts.dismiss_warnings(req.name)
        if not dismissed and self.contacts.by_name(req.name) is None:
            raise ApiError(ErrorCode.NOT_FOUND, f"no contact or key-change warning named "
                           f"{req.name!r} (`meshnode contacts list` shows both)")
        if dismissed:
            self._key_warnings_dismissed(req.name, dismissed, "dismissed")
        return {"name": req.name, "dismissed": dismissed}, []

    def _key_warnings_dismissed(self, name: str, count: int, how: str) -> None:
        # Logged so that a cleared warning stays auditable; published so every client refreshes.
        _log.warning("key_warnings_cleared", extra={"fields": {"name": name, "count": count,
                                                               "how": how}})
        self._queued.append(("key_warnings_dismissed", {"name": name, "dismissed": count}))

    def _contact_remove(self, req: api.ContactRemove,
                        now: int) -> tuple[dict[str, Any], list[Output]]:
        if not self.contacts.remove(req.name):
            raise ApiError(ErrorCode.NOT_FOUND, f"no contact named {req.name!r} "
                           "(`meshnode contacts list` shows them)")
        self._present_contacts()
        return {"removed": req.name}, []

    def _present_contacts(self) -> None:
        """Tell the node whose DMs to present itself for in its Hellos (pair tags, docs/
        protocol.md §10.1): the contact book, most recently added first."""
        book = sorted(self.contacts.all(), key=lambda c: c.added, reverse=True)
        self.node.set_contacts(c.dh_key for c in book)

    def _announce(self, req: api.Announce, now: int) -> tuple[dict[str, Any], list[Output]]:
        try:
            verdict, outputs = self.node.announce(req.name, now)
        except WireError as exc:
            raise ApiError(ErrorCode.INVALID, f"cannot announce: {exc}") from None
        msg_id = self._originated("identity card", verdict)
        self.name = req.name
        return {"id": msg_id.hex(), "name": req.name}, outputs

    # --- events --------------------------------------------------------------------------------

    def record(self, outputs: list[Output], now: int, *,
               wanted: Callable[[str], bool] = lambda name: True,
               ) -> list[tuple[str, dict[str, Any]]]:
        """Persist what the node's events mean here; the API events to publish, in order.

        An event's view (its JSON data, with names looked up in the contact book) is built
        only when `wanted(name)` says someone reads it (an API subscriber, the log), or when
        recording needs it (an alert for the history): a hub taking thousands of posts with no
        client listening spent a measurable share of its CPU building views for nobody.
        `events_published` counts every event either way."""
        published, self._queued = self._queued, []
        for out in outputs:
            if isinstance(out, Send | Close):
                continue
            self._record_one(out, now, wanted, published)
        for name, _ in published:
            self.events_published[name] += 1
        return published

    def _record_one(self, event: Event, now: int, wanted: Callable[[str], bool],
                    published: list[tuple[str, dict[str, Any]]]) -> None:
        if isinstance(event, DmReceived):
            self._keep(ReceivedDm(event.msg_id, event.sender.sign_key, event.sender.dh_key,
                                  event.text, event.created, now))
        elif isinstance(event, DmCarried):
            self.inbox.carried(event.dm_id, event.handovers)
        elif isinstance(event, DmDelivered):
            self.inbox.delivered(event.dm_id, now)
        elif isinstance(event, AlertRemoved):
            self.alert_log.remove(event.msg_id, event.reason, now)
        elif isinstance(event, SyncFinished):
            self.marks.synced(Sync(str(event.link), now, event.sent, event.received))
        name = event_name(event)
        logged = isinstance(event, AlertReceived) or (
            isinstance(event, Rejected) and event.refusal is Refusal.ALERT)
        if wanted(name) or logged:
            name, data = event_view(event, self.names)
            if isinstance(event, AlertReceived):
                self.alert_log.record(data, now)
            elif isinstance(event, Rejected) and event.refusal is Refusal.ALERT:
                self.alert_log.reject(event.reason, data["link"], now)
            elif isinstance(event, PostReceived):
                data["received"] = now
            published.append((name, data))
        else:
            self.events_published[name] += 1  # counted here: it is not in `published`
        if isinstance(event, AnnounceReceived):
            card = event.announce
            warning = self.contacts.check_announce(
                card.name, PublicIdentity(card.sign_key, card.dh_key), now)
            if warning is not None:
                published.append(("key_warning", warning_view(warning)))

    def _keep(self, dm: ReceivedDm) -> None:
        try:
            self.inbox.add_received(dm)
        except InboxError as exc:
            self.unrecorded.append(dm)
            _log.error("dm_not_recorded", extra={"fields": {
                "id": dm.id.hex(), "held": len(self.unrecorded), "error": str(exc),
                "fix": "free space on the data directory's disk; the DM is held in memory "
                       "and written as soon as the inbox takes it"}})

    def retry_unrecorded(self) -> int:
        """Write the held DMs the inbox now takes (oldest first); returns how many."""
        written = 0
        while self.unrecorded:
            try:
                self.inbox.add_received(self.unrecorded[0])
            except InboxError:
                break
            self.unrecorded.pop(0)
            written += 1
        if written:
            _log.warning("dm_recorded_late", extra={"fields": {"written": written,
                                                               "held": len(self.unrecorded)}})
        return written


def _unknown_root(outputs: list[Output]) -> bool:
    """Whether local input was refused for a root not pinned here."""
    return any(isinstance(o, Rejected) and o.link is None and o.rejection is not None
               and o.rejection.reason is Reason.UNKNOWN_ROOT for o in outputs)


def root_view(root: RootKey) -> dict[str, Any]:
    """A pinned root as the API shows it: named by its fingerprint, as the authority does, with
    its public key (what the steunpunt hands to residents' browsers to pin, docs/steunpunt.md)."""
    return {"name": root.name, "fingerprint": fingerprint(root.key), "id": root.id.hex(),
            "key": root.key.hex(), "retired": root.retired}


def _is_hex_key(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)

