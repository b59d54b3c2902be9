"""What a node accepts: every message is validated in full before it is stored or relayed.

`Intake.accept` takes one encoded message (from a peer, or local: `link` is None), applies the
hop and copy clamps, checks signature, freshness, rate limits and quotas, verifies alerts,
certificates and revocations through their chain, stores what passes and returns a `Verdict`;
what fails is counted, reported as `Rejected` and dropped. It also keeps the state that
validation needs: trust, alert sequence windows, which alerts are superseded or were issued
under which certificate, and the per-DM copy and hand-over counts.

It never sends anything. What it stored since the node last looked is in `take_stored()`,
`take_deleted()` names what it deleted by id (the node takes those out of its sync set), and
`take_removed()` says whether the store dropped anything it cannot name, evicted or expired
(the node rebuilds its sync set); the node turns these into pushes and session state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from meshnode.alerts.area import covers
from meshnode.alerts.model import MsgType
from meshnode.codec import WireError
from meshnode.crypto.authority import (
    CertCache,
    CertRole,
    IssuerCert,
    KnownAlert,
    Reason,
    Rejection,
    RootKey,
    SequenceWindow,
    TrustStore,
    VerifiedAlert,
    apply_revocation,
    apply_rotation,
    decode_cert,
    proven_time,
    verify_alert,
    verify_cert,
    verify_revocation,
)
from meshnode.crypto.identity import Identity
from meshnode.crypto.sealing import (
    OpenError,
    create_receipt,
    open_verified_dm,
    receipt_matches,
)
from meshnode.crypto.signing import (
    SignatureError,
    decode_self_signed,
    signing_key_of,
    verify_message,
    verify_signature,
)
from meshnode.crypto.stamp import STAMP_BITS, stamp_day, stamp_worth
from meshnode.crypto.verify import SignatureMemo
from meshnode.events import (
    AlertReceived,
    AlertRemoved,
    AnnounceReceived,
    DmCarried,
    DmDelivered,
    DmReceived,
    LinkId,
    Output,
    PostReceived,
    Refusal,
    Rejected,
    TrustUpdated,
    Verdict,
)
from meshnode.routing.limits import AuthorQuota, Rate, TokenBucket
from meshnode.store.base import MessageStore, Priority, PutResult, StoredMessage, StoreError
from meshnode.wire import (
    KEY_SIZE,
    MAX_TIME,
    MAX_TTL,
    AnnounceBody,
    Body,
    DmBody,
    Kind,
    Message,
    PostBody,
    ReceiptBody,
    Routing,
    decode_body,
    decode_message,
    encode_message,
    tail_routing,
    with_tail_routing,
)

__all__ = ["SENT_DM_META", "Intake", "IntakeConfig", "NodeStats", "own_dm_deadline",
           "own_dm_record", "read_routing", "stamp_shortfall"]

# Kinds whose stored copy a duplicate with more hops upgrades (a DM's copies are per holder).
_UPGRADABLE = frozenset((Kind.POST, Kind.ANNOUNCE, Kind.RECEIPT))

_PRIORITY = {Kind.REVOKE: Priority.CERT, Kind.CERT: Priority.CERT, Kind.ALERT: Priority.ALERT,
             Kind.RECEIPT: Priority.RECEIPT, Kind.DM: Priority.DM, Kind.POST: Priority.POST,
             Kind.ANNOUNCE: Priority.POST}
# A kind's acceptance check: (message, link, now, outputs) -> verdict.
_Handler = Callable[[Message, "LinkId | None", int, "list[Output]"], "Verdict"]
_STAT_NAME = {kind: kind.name.lower() for kind in Kind}  # the keys of NodeStats.accepted
SENT_DM_META = "sent-dm:"  # store meta key prefix: our own DMs' ack keys, by DM id (hex)
# Store meta key: the clock floor, "TIME ROOT_ID_HEX SERIAL" (the certificate that proved it).
CLOCK_FLOOR_META = "clock-floor"
# Store meta key prefix: the root rotations this node followed (the encoded certificate message,
# by id in hex). Kept apart from the messages, which a rotation leaves when it expires.
ROTATION_META = "rotation:"

# Per-author quotas for DMs and receipts. Relays cannot see who sent a DM (sealed sender): the
# only author keys they see are each envelope's and each receipt's signing key, the DM's
# one-time `ack_key`, which an honest sender uses for one DM and its recipient for one receipt;
# and the daily pair tag bounds a flood from one sender to one resident. Local messages are
# exempt.
ACK_KEY_PER_HOUR = 2  # DMs, and receipts, signed by one ack key, per hour of creation
DMS_PER_TAG_PER_HOUR = 120  # DMs with one (pair) tag per hour of creation

# Keys (authors, announcers, ack keys) a node remembers having accepted a message from: those
# need no stamp when stamps are required. Least recently seen dropped beyond this.
KNOWN_KEYS = 10_000
_STAMPED = frozenset({Kind.POST, Kind.ANNOUNCE, Kind.DM})

# Alert refusals a clock running behind causes, after which the alert may prove a later time.
_BEHIND = frozenset({Reason.SENT_IN_FUTURE, Reason.CERT_NOT_YET_VALID})

_SELF_SIGNED = frozenset({Kind.POST, Kind.ANNOUNCE, Kind.DM, Kind.RECEIPT})

# How far the per-DM copy and carry counts may outgrow the store before they are pruned.
_BOOKKEEPING_SLACK = 64

# Alert refusals that must not be remembered as seen: a forgery must not block the genuine
# message; one refused for our clock, either way (sent "in the future", certificate not yet
# valid, alert or certificate expired), is accepted once the clock is right, since a node's
# clock may be hours off (a hub without a real-time clock after a power cut); UNKNOWN_ROOT and
# REVOKED are decided before the alert's own signature is checked, so remembering them would
# let anyone fill (and so flush) the seen memory with made-up alerts.
_FORGETTABLE = frozenset({Reason.BAD_SIGNATURE, Reason.MALFORMED,
                          Reason.SENT_IN_FUTURE, Reason.CERT_NOT_YET_VALID,
                          Reason.ALERT_EXPIRED, Reason.CERT_EXPIRED,
                          Reason.UNKNOWN_ROOT, Reason.REVOKED})


@dataclass(frozen=True, slots=True)
class IntakeConfig:
    """The part of `NodeConfig` that validation reads (see there)."""

    hop_limit: int
    max_hops: int
    post_hops: int
    receipt_hops: int
    spray_copies: int
    author_posts_per_hour: int
    post_rate: Rate
    clock_skew: int
    location: tuple[int, int] | None
    channels: frozenset[str] | None
    require_stamps: bool = False
    stamp_bits: int = STAMP_BITS


@dataclass
class NodeStats:
    """Counters since start. `wanted` counts ids peers asked for with `Want`; `want_refused`
    those of them this node then could not send (no hops left, the forwarding policy said no):
    the airtime a sync spent on a difference nobody could act on. `unoffered` counts every
    queued message refused that way (pushes included); `frame_bytes` the bytes sent per frame
    type."""

    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    relayed: int = 0
    frames_in: int = 0
    frames_out: int = 0
    stale_frames: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    sessions: int = 0  # sync sessions finished (both sides said Done)
    wanted: int = 0
    want_refused: int = 0
    unoffered: int = 0
    upgraded: int = 0  # duplicates that brought more hops than our copy had (§10.2)
    sync_rebuilds: int = 0  # times the sync set was read afresh from the whole store
    frame_bytes: Counter[str] = field(default_factory=Counter)


def own_dm_record(ack_key: bytes, expires: int) -> bytes:
    """What the store keeps of a DM this node sent: its ack key, to know the receipt, until the
    last moment a receipt can come (the DM's expiry plus a receipt's longest lifetime)."""
    return ack_key + (expires + MAX_TTL[Kind.RECEIPT]).to_bytes(8, "big")


def read_routing(stored: StoredMessage) -> tuple[Routing, Message | None] | None:
    """A stored message's routing, read from its tail (then no decoded message) or decoded;
    None if the bytes do not decode."""
    routing = tail_routing(stored.raw)
    if routing is not None:
        return routing, None
    try:
        msg = decode_message(stored.raw)
    except WireError:
        return None
    return msg.routing, msg


def own_dm_deadline(record: bytes) -> int:
    return int.from_bytes(record[KEY_SIZE:], "big")


def stamp_shortfall(config: IntakeConfig, kind: Kind, body: Body) -> str | None:
    """Why a message from the network with `body` lacks the stamp `config` requires of a key
    new to the node (None if it needs none or carries enough). A pure function of its
    arguments: what a node knows (a key already seen is exempt) is `Intake`'s to add."""
    if not config.require_stamps or kind not in _STAMPED:
        return None
    assert isinstance(body, PostBody | AnnounceBody | DmBody)
    if body.stamp is None:
        return "no stamp, and its key is new to this node"
    worth = stamp_worth(signing_key_of(body), stamp_day(body.created), body.stamp)
    if worth < config.stamp_bits:
        return (f"the stamp is worth {worth} bits for this key and day, "
                f"{config.stamp_bits} required")
    return None


class Intake:
    """Validation and storage for one node (see the module docstring)."""

    def __init__(self, identity: Identity, store: MessageStore, trust: TrustStore,
                 config: IntakeConfig, stats: NodeStats, now: int, *,
                 memo: SignatureMemo | None = None) -> None:
        self.identity = identity
        self.store = store
        self.trust = trust
        self.config = config
        self.stats = stats
        self.copies: dict[bytes, int] = {}  # copies of each DM we hold (spray-and-wait)
        self.carried: dict[bytes, int] = {}  # hand-overs of each of our own DMs
        self._memo = memo
        # Least recently used first; a plain dict (an OrderedDict entry costs twice as much,
        # and a simulated city holds millions).
        self._known_keys: dict[bytes, None] = {}
        self._authors = AuthorQuota(config.author_posts_per_hour)
        self._dm_keys = AuthorQuota(ACK_KEY_PER_HOUR)
        self._dm_tags = AuthorQuota(DMS_PER_TAG_PER_HOUR)
        self._receipt_keys = AuthorQuota(ACK_KEY_PER_HOUR)
        self._posts = TokenBucket.full(config.post_rate, now)
        self._seqs = SequenceWindow()
        self._known: dict[tuple[str, str], KnownAlert] = {}
        self._alert_ids: dict[tuple[str, str], bytes] = {}
        self._superseded: set[tuple[str, str]] = set()
        self._alert_certs: dict[bytes, tuple[bytes, int]] = {}
        self._certs = CertCache()
        self._stored: list[tuple[StoredMessage, LinkId | None]] = []
        self._removed = False
        self._deleted: list[tuple[int, bytes]] = []  # (created, id) of what _delete removed
        self._opened: list[bytes] = []  # X25519 keys of the senders of DMs opened here
        self._upgraded: list[StoredMessage] = []
        self._handlers: dict[Kind, _Handler] = {
            Kind.POST: self._accept_post, Kind.ANNOUNCE: self._accept_announce,
            Kind.DM: self._accept_dm, Kind.RECEIPT: self._accept_receipt,
            Kind.ALERT: self._accept_alert, Kind.CERT: self._accept_cert,
            Kind.REVOKE: self._accept_revoke,
        }
        self.clock_floor, self._floor_cert = _stored_floor(store)
        self._load(now)
        # When the next own-DM record runs out (`expire` prunes them then).
        self.own_dms_until = self._prune_own_dms(now)

    def pin_roots(self, roots: Sequence[RootKey]) -> list[RootKey]:
        """Add `roots` to the trusted ones; returns those that were not pinned yet."""
        added = [root for root in roots if self.trust.root(root.id) is None]
        if added:
            self.trust = TrustStore(self.trust.roots + tuple(added), self.trust.revoked)
        return added

    def handed_over(self, dm_id: bytes, out: list[Output]) -> None:
        """A copy of a DM went to a peer: if it is one of ours, count it (`DmCarried`)."""
        if self.store.get_meta(SENT_DM_META + dm_id.hex()) is not None:
            self.carried[dm_id] = self.carried.get(dm_id, 0) + 1
            out.append(DmCarried(dm_id, self.carried[dm_id]))

    # --- what changed --------------------------------------------------------------------

    def take_stored(self) -> list[tuple[StoredMessage, LinkId | None]]:
        """The messages stored since the last call, in order, each with the link it came on
        (None: local, or made here, like the receipt of a DM opened here)."""
        stored, self._stored = self._stored, []
        return stored

    def take_opened(self) -> list[bytes]:
        """The X25519 keys of the senders of the DMs opened since the last call."""
        opened, self._opened = self._opened, []
        return opened
    def take_upgraded(self) -> list[StoredMessage]:
        """The stored messages whose routing a duplicate upgraded since the last call."""
        upgraded, self._upgraded = self._upgraded, []
        return upgraded

    def take_removed(self) -> bool:
        """Whether anything was evicted or expired since the last call (what was deleted by
        id is named by `take_deleted` instead)."""
        removed, self._removed = self._removed, False
        return removed

    def take_deleted(self) -> list[tuple[int, bytes]]:
        """The `(created, id)` of every message deleted by id since the last call (a DM whose
        receipt came, a superseded or revoked alert), in order."""
        deleted, self._deleted = self._deleted, []
        return deleted

    def expire(self, now: int) -> None:
        if self.store.expire(now):
            self._removed = True
            self.forget_gone(self.store.count())
        if self.own_dms_until <= now:
            self.own_dms_until = self._prune_own_dms(now)

    def remember_own_dm(self, dm_id: bytes, ack_key: bytes, expires: int) -> None:
        """Keep what is needed to recognise the receipt of a DM this node sent."""
        record = own_dm_record(ack_key, expires)
        self.store.set_meta(SENT_DM_META + dm_id.hex(), record)
        self.own_dms_until = min(self.own_dms_until, own_dm_deadline(record))

    def _prune_own_dms(self, now: int) -> int:
        """Forget own DMs no receipt can come for any more; the earliest deadline left."""
        earliest = MAX_TIME
        for key in self.store.meta_keys(SENT_DM_META):
            record = self.store.get_meta(key)
            deadline = -1 if record is None else own_dm_deadline(record)
            if deadline <= now:
                self.store.delete_meta(key)
            else:
                earliest = min(earliest, deadline)
        return earliest

    # --- accepting -----------------------------------------------------------------------

    def accept(self, data: bytes, link: LinkId | None, now: int, out: list[Output], *,
               peer_rate: TokenBucket | None = None) -> Verdict:
        """Validate and store one encoded message; `peer_rate` is the sending link's bucket."""
        try:
            msg = decode_message(data)
        except WireError as exc:
            return self.reject(out, link, None, Refusal.MALFORMED, str(exc))
        if self.store.has(msg.id) or self.store.seen(msg.id):
            self.stats.duplicates += 1
            self._upgrade(msg, link, now)
            return Verdict(msg.id, Refusal.DUPLICATE)
        if peer_rate is not None and not peer_rate.take(now):
            return self.reject(out, link, msg.kind, Refusal.RATE, "peer sends too fast", msg.id)
        msg = msg.with_routing(self._clamped(msg, link))
        try:
            return self._handlers[msg.kind](msg, link, now, out)
        except (WireError, SignatureError) as exc:
            return self.reject(out, link, msg.kind, Refusal.INVALID, str(exc), msg.id)

    def reject(self, out: list[Output], link: LinkId | None, kind: Kind | None,
               refusal: Refusal, detail: str = "", msg_id: bytes | None = None, *,
               rejection: Rejection | None = None) -> Verdict:
        """Count and report a refusal; the verdict for a local caller."""
        event = Rejected(link, kind, refusal, detail, rejection)
        self.stats.rejected[event.reason.split(":")[0]] += 1
        out.append(event)
        return Verdict(msg_id, refusal, detail)

    def _clamped(self, msg: Message, link: LinkId | None) -> Routing:
        hops = min(msg.routing.hops_left, self.config.max_hops)
        if msg.kind in (Kind.POST, Kind.ANNOUNCE):
            hops = min(hops, self.config.post_hops)  # the scope of posts: see NodeConfig
        if msg.kind is Kind.RECEIPT:
            hops = min(hops, self.config.receipt_hops)  # and of receipts
        if link is None and msg.kind in (Kind.ALERT, Kind.REVOKE, Kind.CERT):
            hops = self.config.max_hops  # authority messages travel as far as the mesh reaches
        return Routing(hops, min(msg.routing.copies, self.config.spray_copies))

    def _fresh(self, msg: Message, created: int, expires: int, link: LinkId | None, now: int,
               out: list[Output]) -> Verdict | None:
        """None if `msg` is within its lifetime by our clock, else the refusal.

        Neither refusal is remembered as seen: both depend on our clock, which may be wrong
        (hours ahead or behind), and the same message must be accepted once it is right."""
        if created > now + self.config.clock_skew:
            return self.reject(out, link, msg.kind, Refusal.FROM_FUTURE,
                               "created ahead of our clock", msg.id)
        if expires <= now:
            return self.reject(out, link, msg.kind, Refusal.EXPIRED, "", msg.id)
        return None

    def _store(self, msg: Message, now: int, out: list[Output], link: LinkId | None, *,
               created: int, expires: int, priority: int | None = None,
               **meta: object) -> Verdict:
        stored = StoredMessage(
            id=msg.id, kind=int(msg.kind), raw=encode_message(msg),
            priority=int(_PRIORITY[msg.kind]) if priority is None else priority,
            created=created, expires=expires,
            received=now, **meta,  # type: ignore[arg-type]
        )
        count = self.store.count()
        result = self.store.put(stored, now)
        if result is PutResult.ACCEPTED:
            after = self.store.count()
            if after != count + 1:
                self._removed = True  # the put evicted something
                self.forget_gone(after)
            self.stats.accepted[_STAT_NAME[msg.kind]] += 1
            self._stored.append((stored, link))
            return Verdict(msg.id)
        if result is PutResult.DUPLICATE:
            self.stats.duplicates += 1
            return Verdict(msg.id, Refusal.DUPLICATE)
        return self.reject(out, link, msg.kind, Refusal.STORE, result.value, msg.id)

    def _upgrade(self, msg: Message, link: LinkId | None, now: int) -> None:
        """A duplicate post, announce or receipt with more hops left than our copy raises our
        copy's hops to its (clamped) value (docs/protocol.md §10.2): our copy can then spread
        again, and its reconciliation item moves to class 1. Only the routing of the bytes we
        already hold is rewritten; nothing of the duplicate but its routing is trusted (its
        id names the signed part, which we verified when we first stored it)."""
        if msg.kind not in _UPGRADABLE:
            return
        stored = self.store.get(msg.id)
        if stored is None:
            return
        read = read_routing(stored)
        hops = self._clamped(msg, link).hops_left
        if read is None or hops <= read[0].hops_left:
            return
        ours, decoded = read
        new = Routing(hops, ours.copies).clamped()
        raw = (with_tail_routing(stored.raw, new) if decoded is None
               else encode_message(decoded.with_routing(new)))
        upgraded = replace(stored, raw=raw)
        count = self.store.count()
        self.store.delete(msg.id)
        if self.store.put(upgraded, now) is not PutResult.ACCEPTED:
            self._removed = True  # our copy could not be put back: it is gone
            return
        if self.store.count() != count:
            self._removed = True
            self.forget_gone(self.store.count())
        self.stats.upgraded += 1
        self._upgraded.append(upgraded)

    def forget_gone(self, stored: int) -> None:
        """Drop the copy counts and carry counts of DMs the store no longer holds (expired,
        evicted), so this bookkeeping stays within the store's bound over a long outage.

        Amortised: it scans only once the entries outnumber the stored messages by a margin,
        so each scan removes at least that many. `stored` is the store's message count."""
        if len(self.copies) + len(self.carried) <= stored + _BOOKKEEPING_SLACK:
            return
        self.copies = {k: v for k, v in self.copies.items() if self.store.has(k)}
        self.carried = {k: v for k, v in self.carried.items() if self.store.has(k)}

    def _delete(self, msg_id: bytes, now: int) -> bool:
        stored = self.store.get(msg_id)
        if stored is None or not self.store.delete(msg_id):
            return False
        self.store.mark_seen(msg_id, now)
        self._deleted.append((stored.created, msg_id))
        return True

    # --- residents' messages -------------------------------------------------------------

    def _verified(self, msg: Message, link: LinkId | None,
                  out: list[Output]) -> Body | Verdict:
        """The body of a post, announce or DM whose signature verifies, or the stamp refusal:
        the stamp is checked first, since a hash costs far less than a signature check.

        A stamp refusal is not remembered as seen: it is decided before the signature, so
        remembering it would let anyone fill (and so flush) the seen memory with made-up
        messages; and the same message is accepted once its key is known here."""
        body = decode_self_signed(msg, self._memo)
        if link is not None:
            shortfall = self._stamp_shortfall(msg.kind, body)
            if shortfall is not None:
                return self.reject(out, link, msg.kind, Refusal.STAMP, shortfall, msg.id)
        verify_signature(msg, signing_key_of(body), self._memo)
        return body

    def _stamp_shortfall(self, kind: Kind, body: Body) -> str | None:
        """Why a message from the network with `body` lacks the stamp this node requires
        (None if it needs none or carries enough): stamps are required, when the node's
        config says so, of posts, announces and DMs whose signing key is not known here."""
        if signing_key_of(body) in self._known_keys:
            return None
        return stamp_shortfall(self.config, kind, body)

    def _know(self, key: bytes) -> None:
        """Remember that a message signed by `key` was accepted (bounded, LRU)."""
        self._known_keys.pop(key, None)
        self._known_keys[key] = None
        if len(self._known_keys) > KNOWN_KEYS:
            del self._known_keys[next(iter(self._known_keys))]

    def _accept_post(self, msg: Message, link: LinkId | None, now: int,
                     out: list[Output]) -> Verdict:
        body = self._verified(msg, link, out)
        if isinstance(body, Verdict):
            return body
        assert isinstance(body, PostBody)
        stale = self._fresh(msg, body.created, body.expires, link, now, out)
        if stale is not None:
            return stale
        if link is not None and not self._posts.take(now):
            return self.reject(out, link, msg.kind, Refusal.RATE, "posts arrive too fast", msg.id)
        if not self._authors.allow(body.author, body.created):
            self.store.mark_seen(msg.id, now)
            return self.reject(out, link, msg.kind, Refusal.QUOTA,
                               "author created too many posts", msg.id)
        try:
            verdict = self._store(msg, now, out, link, created=body.created,
                                  expires=body.expires, channel=body.channel)
        except StoreError:
            # Not stored (a full disk): it comes again, and must not count twice.
            self._authors.forget(body.author, body.created)
            raise
        channels = self.config.channels
        if verdict.accepted:
            self._know(body.author)
        if verdict.accepted and (channels is None or body.channel in channels):
            out.append(PostReceived(msg.id, body))
        return verdict

    def _accept_announce(self, msg: Message, link: LinkId | None, now: int,
                         out: list[Output]) -> Verdict:
        body = self._verified(msg, link, out)
        if isinstance(body, Verdict):
            return body
        assert isinstance(body, AnnounceBody)
        stale = self._fresh(msg, body.created, body.expires, link, now, out)
        if stale is not None:
            return stale
        if not self._authors.allow(body.sign_key, body.created):
            self.store.mark_seen(msg.id, now)
            return self.reject(out, link, msg.kind, Refusal.QUOTA,
                               "author created too many announces", msg.id)
        try:
            verdict = self._store(msg, now, out, link, created=body.created,
                                  expires=body.expires)
        except StoreError:
            self._authors.forget(body.sign_key, body.created)  # as for posts
            raise
        if verdict.accepted:
            self._know(body.sign_key)
            out.append(AnnounceReceived(msg.id, body))
        return verdict

    def _accept_dm(self, msg: Message, link: LinkId | None, now: int,
                   out: list[Output]) -> Verdict:
        body = self._verified(msg, link, out)
        if isinstance(body, Verdict):
            return body
        assert isinstance(body, DmBody)
        stale = self._fresh(msg, body.created, body.expires, link, now, out)
        if stale is not None:
            return stale
        if link is not None:
            # Tags are pair tags (docs/protocol.md §5.1): a DM from someone who is not our
            # contact has a tag we cannot compute, so every DM handed to us is tried.
            try:
                opened = open_verified_dm(self.identity, msg.id, body)  # verified above
            except OpenError:
                opened = None  # carried on like any other DM: no observable difference
            if opened is not None:
                self.store.mark_seen(msg.id, now)
                self.stats.accepted["dm delivered"] += 1
                self._opened.append(opened.sender.dh_key)
                out.append(DmReceived(msg.id, opened.sender, opened.text, opened.created))
                receipt = create_receipt(opened, now).with_routing(
                    Routing(self.config.receipt_hops, 1))
                rbody = decode_body(Kind.RECEIPT, receipt.body)
                assert isinstance(rbody, ReceiptBody)
                self._store(receipt, now, out, None, created=rbody.created,
                            expires=rbody.expires, ref=rbody.dm_id)
                return Verdict(msg.id)
        for stored in self.store.by_ref(msg.id):
            ack = decode_body(Kind.RECEIPT, decode_message(stored.raw).body)
            if isinstance(ack, ReceiptBody) and receipt_matches(ack, msg.id, body):
                self.store.mark_seen(msg.id, now)  # already delivered: an anti-packet is here
                return Verdict(msg.id, Refusal.DUPLICATE, "delivered: its receipt is held")
        if link is not None and not (self._dm_keys.allow(body.ack_key, body.created)
                                     and self._dm_tags.allow(body.tag, body.created)):
            self.store.mark_seen(msg.id, now)
            return self.reject(out, link, msg.kind, Refusal.QUOTA,
                               "too many direct messages from one key or with one tag",
                               msg.id)
        verdict = self._store(msg, now, out, link, created=body.created, expires=body.expires,
                              tag=body.tag)
        if verdict.accepted:
            self._know(body.ack_key)
            self.copies[msg.id] = msg.routing.copies
        return verdict

    def _accept_receipt(self, msg: Message, link: LinkId | None, now: int,
                        out: list[Output]) -> Verdict:
        body = verify_message(msg, self._memo)
        assert isinstance(body, ReceiptBody)
        stale = self._fresh(msg, body.created, body.expires, link, now, out)
        if stale is not None:
            return stale
        own = self.store.get_meta(SENT_DM_META + body.dm_id.hex())
        ours = own is not None and own[:KEY_SIZE] == body.ack_key
        if link is not None and not ours and not self._receipt_keys.allow(body.ack_key,
                                                                          body.created):
            self.store.mark_seen(msg.id, now)
            return self.reject(out, link, msg.kind, Refusal.QUOTA,
                               "too many receipts signed by one key", msg.id)
        if ours:
            out.append(DmDelivered(body.dm_id))
            self.store.delete_meta(SENT_DM_META + body.dm_id.hex())
        dm = self.store.get(body.dm_id)
        known = ours
        if dm is not None:
            dm_body = decode_body(Kind.DM, decode_message(dm.raw).body)
            known = known or (isinstance(dm_body, DmBody)
                              and receipt_matches(body, body.dm_id, dm_body))
            if known and self._delete(body.dm_id, now):
                self.copies.pop(body.dm_id, None)
                # A copy of the DM went here, so the receipt spreads from here again, with the
                # full budget: it follows the DM's copies, not the whole mesh (§4.4).
                msg = msg.with_routing(Routing(self.config.receipt_hops, 1))
        # A receipt for a DM this node never held may be genuine (the DM went another way)
        # or junk signed by made-up keys: it is kept, but evicted first, with the posts.
        return self._store(msg, now, out, link, created=body.created, expires=body.expires,
                           ref=body.dm_id,
                           priority=None if known or link is None else int(Priority.POST))

    # --- authority messages --------------------------------------------------------------

    def authority_time(self, now: int) -> int:
        """The time authority messages are checked at: our clock, but never below the clock
        floor, the latest time a verified alert proved (`proven_time`)."""
        return max(now, self.clock_floor)

    def _raise_floor(self, proven: int, cert: IssuerCert) -> None:
        if proven > self.clock_floor:
            self._set_floor(proven, (cert.root_id, cert.serial))

    def _set_floor(self, floor: int, cert: tuple[bytes, int] | None) -> None:
        self.clock_floor, self._floor_cert = floor, cert
        root, serial = cert if cert is not None else (b"", 0)
        self.store.set_meta(CLOCK_FLOOR_META, f"{floor} {root.hex()} {serial}".encode())

    def _floor_after_revocation(self) -> None:
        """A revoked certificate proves nothing (its key may have been stolen to push the
        floor forward): the floor falls back to the latest alert still held."""
        if self._floor_cert is not None and self._floor_cert in self.trust.revoked:
            held = max((m.created for m in self.store.by_kind(int(Kind.ALERT))), default=0)
            self._set_floor(min(held, self.clock_floor), None)

    def _verify_alert(self, msg: Message, now: int) -> VerifiedAlert | Rejection:
        """`verify_alert` at `authority_time`; an alert refused as being ahead of that time
        but proving a later one (`proven_time`) raises the floor and is checked again."""
        def verify() -> VerifiedAlert | Rejection:
            return verify_alert(msg, self.trust, self.authority_time(now), seqs=self._seqs,
                                known=lambda s, i: self._known.get((s, i)), cache=self._certs,
                                memo=self._memo)

        result = verify()
        if isinstance(result, Rejection) and result.reason in _BEHIND:
            proven = proven_time(msg, self.trust, cache=self._certs, memo=self._memo)
            if proven is not None and proven[0] > self.clock_floor:
                self._raise_floor(*proven)
                result = verify()
        if isinstance(result, VerifiedAlert):
            self._raise_floor(result.alert.sent, result.cert)
        return result

    def _accept_alert(self, msg: Message, link: LinkId | None, now: int,
                      out: list[Output]) -> Verdict:
        result = self._verify_alert(msg, now)
        if isinstance(result, Rejection):
            if result.reason not in _FORGETTABLE:
                self.store.mark_seen(msg.id, now)
            return self.reject(out, link, msg.kind, Refusal.ALERT, str(result), msg.id,
                               rejection=result)
        alert = result.alert
        if (alert.sender, alert.identifier) in self._superseded:
            self.store.mark_seen(msg.id, now)
            return self.reject(out, link, msg.kind, Refusal.SUPERSEDED,
                               "a later update or cancel is held", msg.id)
        verdict = self._store(msg, now, out, link, created=alert.sent, expires=result.expires,
                              issuer=result.cert.issuer_id.encode("utf-8"), seq=result.seq,
                              pinned=True)
        if not verdict.accepted:
            return verdict
        self._remember_alert(result)
        if alert.msg_type in (MsgType.UPDATE, MsgType.CANCEL):
            for ref in alert.references:
                key = (ref.sender, ref.identifier)
                self._superseded.add(key)
                old = self._alert_ids.pop(key, None)
                if old is not None and self._delete(old, now):
                    out.append(AlertRemoved(old, f"superseded by {alert.msg_type.cap}"))
        here = None
        if self.config.location is not None and alert.infos:
            here = covers(alert, *self.config.location)
        out.append(AlertReceived(msg.id, result, here))
        return verdict

    def _remember_alert(self, result: VerifiedAlert) -> None:
        alert, cert = result.alert, result.cert
        self._seqs.record(cert.issuer_id, result.seq)
        key = (alert.sender, alert.identifier)
        self._known[key] = KnownAlert(cert.issuer_id, cert.level)
        self._alert_ids[key] = result.msg_id
        self._alert_certs[result.msg_id] = (cert.root_id, cert.serial)
        if alert.msg_type in (MsgType.UPDATE, MsgType.CANCEL):
            # Remembered with the Update/Cancel itself, so a restart cannot forget it.
            self._superseded.update((r.sender, r.identifier) for r in alert.references)

    def _accept_cert(self, msg: Message, link: LinkId | None, now: int,
                     out: list[Output]) -> Verdict:
        result = verify_cert(msg, self.trust, self.authority_time(now))
        if isinstance(result, Rejection):
            return self.reject(out, link, msg.kind, Refusal.CERT, str(result), msg.id,
                               rejection=result)
        cert, _ = result
        if cert.role is CertRole.ROOT:
            rotated = apply_rotation(self.trust, msg, self.authority_time(now))
            if isinstance(rotated, Rejection):
                return self.reject(out, link, msg.kind, Refusal.CERT, str(rotated), msg.id,
                                   rejection=rotated)
            self.trust = rotated
            self.store.set_meta(ROTATION_META + msg.id.hex(), encode_message(msg))
            out.append(TrustUpdated(msg.id, f"new root {cert.name}"))
        return self._store(msg, now, out, link, created=cert.not_before,
                           expires=cert.not_after, pinned=True)

    def _accept_revoke(self, msg: Message, link: LinkId | None, now: int,
                       out: list[Output]) -> Verdict:
        rev = verify_revocation(msg, self.trust)
        if isinstance(rev, Rejection):
            return self.reject(out, link, msg.kind, Refusal.REVOKE, str(rev), msg.id,
                               rejection=rev)
        trust = apply_revocation(self.trust, msg)
        assert isinstance(trust, TrustStore)
        self.trust = trust
        verdict = self._store(msg, now, out, link, created=rev.created, expires=MAX_TIME,
                              pinned=True)
        if not verdict.accepted:
            return verdict
        out.append(TrustUpdated(msg.id, f"revoked serials {list(rev.serials)}"))
        for alert_id, (root_id, serial) in list(self._alert_certs.items()):
            if (root_id, serial) in self.trust.revoked and self._delete(alert_id, now):
                del self._alert_certs[alert_id]
                out.append(AlertRemoved(alert_id, "issuer certificate revoked"))
        self._floor_after_revocation()
        return verdict

    def _follow_kept_rotations(self) -> None:
        """Follow again the root rotations followed before a restart. The new root stays
        trusted after its rotation certificate expires (and leaves the store): each kept
        rotation is checked again, signatures and all, as of the moment it took effect (its
        not_before). A chain of rotations is followed link by link, whatever order the
        rotations are kept in: passes repeat while one brings a root that lets another in."""
        pending: list[tuple[int, Message]] = []
        for key in self.store.meta_keys(ROTATION_META):
            try:
                msg = decode_message(self.store.get_meta(key) or b"")
                pending.append((decode_cert(msg.body).not_before, msg))
            except WireError:
                continue
        pending.sort(key=lambda entry: entry[0])
        while pending:
            left = []
            for took_effect, msg in pending:
                rotated = apply_rotation(self.trust, msg, took_effect)
                if isinstance(rotated, TrustStore):
                    self.trust = rotated
                else:
                    left.append((took_effect, msg))
            if len(left) == len(pending):
                return  # what is left does not chain to a root trusted here
            pending = left

    def _load(self, now: int) -> None:
        """Rebuild trust and alert state from what the store holds (after a restart)."""
        now = self.authority_time(now)
        self._follow_kept_rotations()
        for kind in (Kind.CERT, Kind.REVOKE, Kind.ALERT):
            for stored in self.store.by_kind(int(kind)):
                try:
                    msg = decode_message(stored.raw)
                except WireError:
                    continue
                if kind is Kind.CERT:
                    rotated = apply_rotation(self.trust, msg, now)
                    if isinstance(rotated, TrustStore):
                        self.trust = rotated
                elif kind is Kind.REVOKE:
                    revoked = apply_revocation(self.trust, msg)
                    if isinstance(revoked, TrustStore):
                        self.trust = revoked
                else:
                    result = verify_alert(msg, self.trust, now)
                    if isinstance(result, VerifiedAlert):
                        self._remember_alert(result)
        for kind in (Kind.POST, Kind.ANNOUNCE):
            for stored in self.store.by_kind(int(kind)):
                try:
                    self._know(signing_key_of(decode_body(kind, decode_message(stored.raw).body)))
                except WireError:
                    continue
        # Whatever a held Update or Cancel superseded stays out (a crash between storing it
        # and deleting the old alert, or a replay after the seen memory moved on).
        for key in self._superseded & self._alert_ids.keys():
            old = self._alert_ids.pop(key)
            self._alert_certs.pop(old, None)
            self._delete(old, now)


def _stored_floor(store: MessageStore) -> tuple[int, tuple[bytes, int] | None]:
    """The clock floor kept in `store` and its certificate (0, None if none or unreadable)."""
    raw = store.get_meta(CLOCK_FLOOR_META)
    try:
        floor, root, serial = (raw or b"").decode("ascii").split(" ")
        return int(floor), ((bytes.fromhex(root), int(serial)) if root else None)
    except (UnicodeDecodeError, ValueError):
        return 0, None
