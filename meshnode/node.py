"""The protocol core: one `Node`, driven by the daemon and by the simulator alike.

Sans-IO in the style of h11: a node never opens a socket, sleeps, reads the clock or starts a
task. Drivers call `link_up`, `receive`, `ready`, `link_down`, `tick` and the local actions
(`post`, `send_dm`, `inject`), always passing the time, and act on the returned outputs:
`Send` a frame on a link, `Close` a link, and events for the application.

On contact both sides send `Hello`. The side with the higher nonce initiates a range-based
reconciliation over receipts, DMs, posts and announces; revocations, certificates and alerts
are pushed straight from the `Hello`'s summaries. Messages go out in priority order, a burst
at a time: the driver calls `ready(link)` when the link has sent what it was given. Every
message is fully validated (alerts verified through their chain) before it is stored or
relayed; what fails is counted and dropped.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from meshnode.alerts.area import covers
from meshnode.alerts.model import MsgType
from meshnode.codec import WireError
from meshnode.crypto.authority import (
    CertCache,
    CertRole,
    KnownAlert,
    Rejection,
    SequenceWindow,
    TrustStore,
    VerifiedAlert,
    apply_revocation,
    apply_rotation,
    verify_alert,
    verify_cert,
    verify_revocation,
)
from meshnode.crypto.identity import Identity, PublicIdentity
from meshnode.crypto.sealing import (
    OpenError,
    addressed_to,
    create_receipt,
    hello_tag,
    open_dm,
    receipt_matches,
    recipient_tag,
    seal_dm,
)
from meshnode.crypto.signing import SignatureError, create_announce, create_post, verify_message
from meshnode.crypto.verify import SignatureMemo
from meshnode.events import (
    AlertReceived,
    AlertRemoved,
    AnnounceReceived,
    Close,
    DmCarried,
    DmDelivered,
    DmReceived,
    LinkId,
    Output,
    PostReceived,
    Rejected,
    Send,
    SyncFinished,
    TrustUpdated,
)
from meshnode.routing.frames import (
    MAX_ISSUERS,
    MAX_PROPHET,
    MAX_SEQS,
    MAX_TRUST_IDS,
    MAX_WANT,
    NONCE_SIZE,
    Done,
    Frame,
    Hello,
    Msg,
    Recon,
    Want,
    blind_digest,
    decode_frame,
    encode_frame,
)
from meshnode.routing.limits import AuthorQuota, Rate, TokenBucket
from meshnode.routing.policy import (
    Epidemic,
    ForwardingPolicy,
    PolicyName,
    ProphetTable,
    make_policy,
)
from meshnode.routing.reconcile import Reconciler, SortedItems
from meshnode.store.base import MessageStore, Priority, PutResult, StoredMessage, StoreError
from meshnode.wire import (
    DAY,
    MAX_TIME,
    AnnounceBody,
    DmBody,
    Kind,
    Message,
    PostBody,
    ReceiptBody,
    Routing,
    decode_body,
    decode_message,
    encode_message,
)

__all__ = ["Node", "NodeConfig", "NodeStats"]

# Sync order: trust first, then alerts, receipts, DMs for the peer, other DMs, posts.
_CLASS = {Kind.REVOKE: 0, Kind.CERT: 0, Kind.ALERT: 1, Kind.RECEIPT: 2, Kind.DM: 4,
          Kind.POST: 5, Kind.ANNOUNCE: 5}
_PRIORITY = {Kind.REVOKE: Priority.CERT, Kind.CERT: Priority.CERT, Kind.ALERT: Priority.ALERT,
             Kind.RECEIPT: Priority.RECEIPT, Kind.DM: Priority.DM, Kind.POST: Priority.POST,
             Kind.ANNOUNCE: Priority.POST}
_RECONCILED = (Kind.RECEIPT, Kind.DM, Kind.POST, Kind.ANNOUNCE)
_SENT_DM_META = "sent-dm:"


# CPU guards against a hostile peer: verifying costs ~0.13 ms, so 500/s is ~7 % of a core.
PEER_RATE = Rate(500.0, 5_000.0)  # messages a peer may hand us
POST_RATE = Rate(200.0, 5_000.0)  # posts from the network together, whoever the authors
SERVE_RATE = Rate(500.0, 5_000.0)  # messages we hand a peer on request


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Tunables; the defaults suit a phone on BLE. Rates are per link or per author.

    `post_hops` scopes posts and announces: every node (author and relays) clamps their hop
    budget to it, so a post travels at most that many contacts from its author however large
    the budget it arrived with. A neighbourhood channel needs a few hops, not a whole city.
    """

    dm_policy: PolicyName = PolicyName.SPRAY
    spray_copies: int = 8
    hop_limit: int = 16
    max_hops: int = 32
    post_hops: int = 16
    burst_bytes: int = 16_384
    peer_rate: Rate = PEER_RATE
    author_posts_per_hour: int = 60
    post_rate: Rate = POST_RATE
    serve_rate: Rate = SERVE_RATE
    max_frame_errors: int = 20
    clock_skew: int = 3_600
    resync_interval: int = 900
    session_timeout: int = 60
    location: tuple[int, int] | None = None
    channels: frozenset[str] | None = None
    seed: int = 0


@dataclass
class NodeStats:
    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    relayed: int = 0
    frames_in: int = 0
    frames_out: int = 0
    stale_frames: int = 0
    bytes_in: int = 0
    bytes_out: int = 0


@dataclass
class _Link:
    id: LinkId
    nonce: bytes
    peer_rate: TokenBucket
    serve: TokenBucket
    peer: Hello | None = None
    recon: Reconciler | None = None
    queue: list[tuple[int, int, bytes]] = field(default_factory=list)
    queued: set[bytes] = field(default_factory=set)
    peer_has: set[bytes] = field(default_factory=set)  # ids the peer sent us on this link
    done_sent: bool = False
    done_received: bool = False
    reconciled: bool = False
    initiator: bool = False
    finished: bool = False
    sent: int = 0
    received: int = 0
    errors: int = 0
    synced_at: int = 0
    active_at: int = 0
    busy: bool = False
    tags: tuple[bytes, ...] = ()  # the recipient tags our last Hello carried
    items: SortedItems | None = None  # the set whose digest our last Hello carried
    digest: bytes = b""
    quiet: bool = False  # equal sets: the session ends without Done frames
    restarted: bool = False  # a session on this link was started over (see `receive`)


# A stored message is canonical, so it ends with its routing map {1: hops, 2: copies}; with both
# below 128 (MAX_HOPS and MAX_COPIES are) that is exactly these five bytes, hops and copies at
# offsets -3 and -1. Relaying reads and rewrites it in place instead of decoding the message.
_ROUTING_TAIL = bytes((0x82, 1, 0, 2, 0))

# How far the per-DM copy and carry counts may outgrow the store before they are pruned.
_BOOKKEEPING_SLACK = 64


def _stored_routing(raw: bytes) -> Routing | None:
    """The routing header at the end of a canonically encoded message, or None if the tail is
    not the five-byte form (then decode the message)."""
    if (len(raw) > 5 and raw[-5] == 0x82 and raw[-4] == 1 and raw[-2] == 2
            and raw[-3] < 0x80 and 0 < raw[-1] < 0x80):
        return Routing(raw[-3], raw[-1])
    return None


class Node:
    """One mesh node. See the module docstring for the driving contract.

    `memo` may be shared by many nodes in one process (the simulator): it remembers signature
    results, which are the same for every node.
    """

    def __init__(
        self,
        identity: Identity,
        store: MessageStore,
        trust: TrustStore,
        now: int,
        config: NodeConfig | None = None,
        *,
        memo: SignatureMemo | None = None,
    ) -> None:
        self.identity = identity
        self.store = store
        self.trust = trust
        self.config = config or NodeConfig()
        self.stats = NodeStats()
        self._memo = memo
        self._rng = random.Random(self.config.seed)
        self._links: dict[LinkId, _Link] = {}
        self._dm_policy: ForwardingPolicy = make_policy(self.config.dm_policy,
                                                        self.config.spray_copies)
        self._flood: ForwardingPolicy = Epidemic()
        self._prophet = ProphetTable(aged_at=now)
        self._copies: dict[bytes, int] = {}
        self._carried: dict[bytes, int] = {}
        self._authors = AuthorQuota(self.config.author_posts_per_hour)
        self._posts = TokenBucket.full(self.config.post_rate, now)
        self._seqs = SequenceWindow()
        self._known: dict[tuple[str, str], KnownAlert] = {}
        self._alert_ids: dict[tuple[str, str], bytes] = {}
        self._superseded: set[tuple[str, str]] = set()
        self._alert_certs: dict[bytes, tuple[bytes, int]] = {}
        self._certs = CertCache()
        self._items: SortedItems | None = None
        self._items_added: list[tuple[int, bytes]] = []  # accepted since `_items` was built
        self._wake = 0  # `tick` has nothing to do before this time (a lower bound)
        self._own_dh = identity.public.dh_key
        self._own_tags: tuple[int, tuple[bytes, bytes]] = (-1, (b"", b""))  # (day, tags)
        self._load(now)

    # --- driver inputs ---------------------------------------------------------------------

    def link_up(self, link: LinkId, now: int) -> list[Output]:
        """A link to a peer is up: greet it."""
        state = _Link(
            link,
            self._rng.randbytes(NONCE_SIZE),
            TokenBucket.full(self.config.peer_rate, now),
            TokenBucket.full(self.config.serve_rate, now),
            synced_at=now,
        )
        self._links[link] = state
        self._wake = min(self._wake, now + self.config.session_timeout)
        return [self._send(state, self._hello(state, now))]

    def link_down(self, link: LinkId, now: int) -> list[Output]:
        """The link is gone; anything not yet sent is simply not sent."""
        self._links.pop(link, None)
        return []

    def receive(self, link: LinkId, data: bytes, now: int) -> list[Output]:
        """One whole frame arrived on `link`."""
        state = self._links.get(link)
        if state is None:
            return []
        self.stats.frames_in += 1
        self.stats.bytes_in += len(data)
        state.active_at = now
        out: list[Output] = []
        try:
            frame: Frame | None = decode_frame(data)
            if state.peer is None and isinstance(frame, (Recon, Want, Done)):
                # Out of session. Either we started over and the peer has not seen our new
                # Hello yet (links are FIFO, so these belong to the old session: a stale Done
                # must not end the new one), or the peer's Hello was lost on a lossy link: then
                # start over now rather than at the session timeout. Once per session, so a
                # peer cannot make us send Hellos at will.
                self.stats.stale_frames += 1
                frame = None
                if not state.restarted:
                    self._resync(state, now, out)
            match frame:
                case Hello():
                    self._on_hello(state, frame, now, out)
                case Recon():
                    self._on_recon(state, frame, now, out)
                case Want():
                    self._on_want(state, frame, now)
                case Msg():
                    state.received += 1
                    self._accept(frame.data, link, now, out)
                case Done():
                    state.done_received = True
        except WireError as exc:
            state.errors += 1
            self._reject(out, link, None, f"malformed frame: {exc}")
            if state.errors > self.config.max_frame_errors:
                self._links.pop(link, None)
                out.append(Close(link, "too many malformed frames"))
                return out
        self._pump(state, now, out)
        # A message accepted here may be news for every other peer we are linked with.
        for other in self._links.values():
            if other is not state and other.queue and not other.busy:
                self._pump(other, now, out)
        return out

    def ready(self, link: LinkId, now: int) -> list[Output]:
        """The link has sent everything handed to it: hand it the next burst."""
        state = self._links.get(link)
        if state is None:
            return []
        state.busy = False
        out: list[Output] = []
        self._pump(state, now, out)
        return out

    def tick(self, now: int) -> list[Output]:
        """Housekeeping: expire messages, age PRoPHET, re-sync long-lived links.

        Cheap to call often: it returns at once until the next thing is due."""
        prophet = self._dm_policy.name is PolicyName.PROPHET
        if now < self._wake and not prophet:
            return []
        out: list[Output] = []
        if self.store.expire(now):
            self._items = None
            self._forget_gone(self.store.usage().count)
        if prophet:
            self._prophet.age(now)
        for state in list(self._links.values()):
            if state.finished and now - state.synced_at >= self.config.resync_interval:
                self._resync(state, now, out)
            elif not state.finished and now - max(state.active_at, state.synced_at) >= (
                    self.config.session_timeout):
                # A frame was lost (lossy link, or a peer that went quiet): start over.
                self._resync(state, now, out)
        self._wake = self._next_wake()
        return out

    def _next_wake(self) -> int:
        """When `tick` next has work, as far as is known now; events that bring something
        forward (a link up, a session restart, a message expiring sooner) lower `_wake`."""
        wake = self.store.next_expiry()
        due = MAX_TIME if wake is None else wake
        for state in self._links.values():
            if state.finished:
                due = min(due, state.synced_at + self.config.resync_interval)
            else:
                due = min(due, max(state.active_at, state.synced_at)
                          + self.config.session_timeout)
        return due

    # --- local actions ---------------------------------------------------------------------

    def post(self, channel: str, text: str, now: int) -> tuple[bytes, list[Output]]:
        """Sign and publish a post; returns its id."""
        msg = create_post(self.identity, channel, text, now)
        return msg.id, self._originate(msg, now)

    def announce(self, name: str, now: int) -> tuple[bytes, list[Output]]:
        msg = create_announce(self.identity, name, now)
        return msg.id, self._originate(msg, now)

    def send_dm(self, recipient: PublicIdentity, text: str, now: int) -> tuple[bytes, list[Output]]:
        """Seal a DM for `recipient`; the receipt, when it comes back, yields `DmDelivered`."""
        msg = seal_dm(self.identity, recipient, text, now)
        body = decode_body(Kind.DM, msg.body)
        assert isinstance(body, DmBody)
        self.store.set_meta(_SENT_DM_META + msg.id.hex(), body.ack_key)
        msg = msg.with_routing(Routing(self.config.hop_limit, self._dm_policy.initial_copies()))
        return msg.id, self._originate(msg, now)

    def inject(self, data: bytes, now: int) -> list[Output]:
        """Validate and publish an encoded message from outside the mesh (an authority's alert,
        revocation or certificate file); the same checks as for anything received."""
        out: list[Output] = []
        self._accept(data, None, now, out)
        for state in self._links.values():
            self._pump(state, now, out)
        return out

    def status(self, now: int) -> dict[str, object]:
        usage = self.store.usage()
        return {
            "links": len(self._links),
            "stored": usage.count,
            "used_bytes": usage.used_bytes,
            "capacity_bytes": usage.capacity_bytes,
            "accepted": dict(self.stats.accepted),
            "rejected": dict(self.stats.rejected),
            "duplicates": self.stats.duplicates,
            "relayed": self.stats.relayed,
            "stale_frames": self.stats.stale_frames,
            "dm_bookkeeping": len(self._copies) + len(self._carried),
        }

    # --- loading ---------------------------------------------------------------------------

    def _load(self, now: int) -> None:
        """Rebuild trust and alert state from what the store holds (after a restart)."""
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
        # Whatever a held Update or Cancel superseded stays out (a crash between storing it
        # and deleting the old alert, or a replay after the seen memory moved on).
        for key in self._superseded & self._alert_ids.keys():
            old = self._alert_ids.pop(key)
            self._alert_certs.pop(old, None)
            if self.store.delete(old):
                self.store.mark_seen(old, now)

    # --- sync ------------------------------------------------------------------------------

    def _hello(self, state: _Link, now: int) -> Hello:
        day = now // DAY
        trust_ids = [m.id for k in (Kind.REVOKE, Kind.CERT) for m in self.store.by_kind(int(k))]
        alerts: dict[str, list[int]] = {}
        for m in self.store.by_kind(int(Kind.ALERT)):
            if m.issuer is not None and m.seq is not None:
                alerts.setdefault(m.issuer.decode("utf-8", "replace"), []).append(m.seq)
        vector = tuple((issuer, tuple(sorted(seqs)[-MAX_SEQS:]))
                       for issuer, seqs in sorted(alerts.items())[:MAX_ISSUERS])
        if self._own_tags[0] != day:  # a Hello per contact, the tags change once a day
            own = self._own_dh
            self._own_tags = (day, (recipient_tag(own, day), recipient_tag(own, day - 1)))
        mine = self._own_tags[1]
        prophet: tuple[tuple[bytes, int], ...] = ()
        if self._dm_policy.name is PolicyName.PROPHET:
            # PRoPHET routes by destination, so it names our own tags (predictability 1.0) in
            # the clear: linkable for a day, which is why it is opt-in (docs/security.md).
            prophet = tuple((t, 10_000) for t in mine) + tuple(
                (t, round(p * 10_000)) for t, p in self._prophet.top(MAX_PROPHET - len(mine)))
        state.tags = tuple(hello_tag(state.nonce, t) for t in mine)
        state.items = self._item_set()
        state.digest = state.items.fingerprint(0, len(state.items))
        return Hello(
            nonce=state.nonce,
            tags=state.tags,
            digest=blind_digest(state.nonce, state.digest),
            trust_ids=tuple(trust_ids[:MAX_TRUST_IDS]),
            alerts=vector,
            prophet=prophet,
        )

    def _send(self, state: _Link, frame: Hello | Recon | Want | Msg | Done) -> Send:
        data = encode_frame(frame)
        state.busy = True  # until the driver says the link sent it: `ready`
        self.stats.frames_out += 1
        self.stats.bytes_out += len(data)
        return Send(state.id, data)

    def _on_hello(self, state: _Link, hello: Hello, now: int, out: list[Output]) -> None:
        if not state.peer_rate.take(now, 10.0):
            raise WireError("hello", "sessions restarted too often")
        if state.peer is not None:
            # The peer starts over: a re-sync of a long-lived link, or after a lost frame.
            self._reset_session(state, now)  # the peer re-syncs a long-lived link
            out.append(self._send(state, self._hello(state, now)))
        state.peer = hello
        if self._dm_policy.name is PolicyName.PROPHET:
            own = [t for t, p in hello.prophet if p == 10_000]
            self._prophet.encounter(own, [(t, p / 10_000) for t, p in hello.prophet], now)
        self._push_trust_and_alerts(state, hello)
        self._start_recon(state, out)

    def _start_recon(self, state: _Link, out: list[Output]) -> None:
        assert state.peer is not None
        # Equal nonces (two nodes seeded alike) fall back to the tags, which differ between
        # identities, so exactly one side initiates.
        state.initiator = (state.nonce, state.tags) > (state.peer.nonce, state.peer.tags)
        if (state.peer.digest and state.items is not None
                and state.peer.digest == blind_digest(state.peer.nonce, state.digest)):
            # Both Hellos carried the same set: nothing to reconcile and no Wants can come, so
            # neither side sends Recon or Done. What we took in since our Hello goes out as is.
            state.reconciled = state.done_received = state.quiet = True
            current = self._item_set()
            if current is not state.items:
                sent = set(state.items.items(0, len(state.items)))
                for item in current.items(0, len(current)):
                    stored = None if item in sent else self.store.get(item[1])
                    if stored is not None:
                        self._enqueue(state, stored)
            return
        state.recon = Reconciler(self._item_set(), initiator=state.initiator)
        if state.initiator:
            out.append(self._send(state, Recon(state.recon.initiate())))

    def _reset_session(self, state: _Link, now: int) -> None:
        state.synced_at = now
        self._wake = min(self._wake, now + self.config.session_timeout)
        state.finished = state.done_sent = state.done_received = state.reconciled = False
        state.quiet = False
        state.restarted = True
        state.peer = None
        state.recon = None
        state.nonce = self._rng.randbytes(NONCE_SIZE)
        # What was sent in earlier sessions may be wanted again (the peer refused it: a full
        # disk, a rate limit), so only what is still waiting counts as queued.
        state.queued = {msg_id for _, _, msg_id in state.queue}
        # Per session, so a long-lived link does not collect every id that ever crossed it;
        # the new reconciliation tells what the peer holds.
        state.peer_has.clear()

    def _resync(self, state: _Link, now: int, out: list[Output]) -> None:
        """A long-lived link (a hub's neighbour) reconciles again from time to time."""
        self._reset_session(state, now)
        out.append(self._send(state, self._hello(state, now)))

    def _push_trust_and_alerts(self, state: _Link, hello: Hello) -> None:
        held = set(hello.trust_ids)
        for kind in (Kind.REVOKE, Kind.CERT):
            for m in self.store.by_kind(int(kind)):
                if m.id not in held:
                    self._enqueue(state, m)
        peer_seqs = {issuer: set(seqs) for issuer, seqs in hello.alerts}
        for m in self.store.by_kind(int(Kind.ALERT)):
            issuer = (m.issuer or b"").decode("utf-8", "replace")
            if m.seq not in peer_seqs.get(issuer, set()):
                self._enqueue(state, m)

    def _on_recon(self, state: _Link, frame: Recon, now: int, out: list[Output]) -> None:
        if state.recon is None:
            raise WireError("recon", "reconciliation before hello")
        reply = state.recon.receive(frame.data)
        if reply is not None:
            out.append(self._send(state, Recon(reply)))
            return
        if state.initiator and not state.reconciled:
            state.reconciled = True
            for msg_id in sorted(state.recon.have_ids):
                stored = self.store.get(msg_id)
                if stored is not None:
                    self._enqueue(state, stored)
            wanted = sorted(i for i in state.recon.need_ids if not self.store.seen(i))
            for i in range(0, len(wanted), MAX_WANT):
                out.append(self._send(state, Want(tuple(wanted[i : i + MAX_WANT]))))

    def _on_want(self, state: _Link, want: Want, now: int) -> None:
        for msg_id in want.ids:
            stored = self.store.get(msg_id)
            if stored is None:
                continue
            if not state.serve.take(now):
                self.stats.rejected["rate: sync replies"] += 1
                break
            self._enqueue(state, stored)

    def _enqueue(self, state: _Link, stored: StoredMessage) -> None:
        if stored.id in state.queued:
            return
        cls = _CLASS.get(Kind(stored.kind), 6)
        if _addressed_to_peer(state, stored):
            cls = 3
        state.queued.add(stored.id)
        heapq.heappush(state.queue, (cls, -stored.created, stored.id))

    def _pump(self, state: _Link, now: int, out: list[Output]) -> None:
        """Hand the link its next burst of messages, in priority order, then say Done."""
        if state.peer is None:
            return
        if not state.busy:
            budget = self.config.burst_bytes
            while state.queue and budget > 0:
                _, _, msg_id = heapq.heappop(state.queue)
                data = self._outgoing(state, msg_id, now, out)
                if data is None:
                    continue
                frame = self._send(state, Msg(data))
                budget -= len(frame.data)
                state.sent += 1
                self.stats.relayed += 1
                out.append(frame)
        # The initiator has offered everything once reconciliation ended; the responder once
        # the initiator's Done shows that no more wants can come.
        offered = state.reconciled if state.initiator else state.done_received
        if not state.queue and not state.done_sent and offered:
            state.done_sent = True
            if not state.quiet:
                out.append(self._send(state, Done()))
        if state.done_sent and state.done_received and not state.finished:
            state.finished = True
            state.synced_at = now
            out.append(SyncFinished(state.id, state.sent, state.received))

    def _outgoing(self, state: _Link, msg_id: bytes, now: int,
                  out: list[Output]) -> bytes | None:
        """The bytes to send for a queued message, applying hops and the forwarding policy."""
        stored = self.store.get(msg_id)
        if stored is None or stored.expires <= now or msg_id in state.peer_has:
            return None
        routing = _stored_routing(stored.raw)
        msg = None
        if routing is None:
            try:
                msg = decode_message(stored.raw)
            except WireError:
                return None
            routing = msg.routing
        assert state.peer is not None
        is_dest = _addressed_to_peer(state, stored)
        if routing.hops_left <= 0 and not is_dest:
            return None
        policy = self._dm_policy if stored.kind == Kind.DM else self._flood
        held = self._copies.get(msg_id, routing.copies)
        gain = 0.0
        if stored.kind == Kind.DM and stored.tag is not None:
            gain = dict(state.peer.prophet).get(stored.tag, 0) / 10_000 - self._prophet.p(
                stored.tag)
        offer = policy.offer(held, peer_is_destination=is_dest, gain=gain)
        if offer is None:
            return None
        if stored.kind == Kind.DM:
            self._copies[msg_id] = offer.keep
            if self.store.get_meta(_SENT_DM_META + msg_id.hex()) is not None:
                self._carried[msg_id] = self._carried.get(msg_id, 0) + 1
                out.append(DmCarried(msg_id, self._carried[msg_id]))
        new = Routing(max(0, routing.hops_left - 1), offer.give).clamped()
        if msg is None:
            return stored.raw[:-len(_ROUTING_TAIL)] + bytes(
                (0x82, 1, new.hops_left, 2, new.copies))
        return encode_message(msg.with_routing(new))

    # --- accepting messages ----------------------------------------------------------------

    def _reject(self, out: list[Output], link: LinkId | None, kind: Kind | None,
                reason: str) -> None:
        key = reason.split(":")[0]
        self.stats.rejected[key] += 1
        out.append(Rejected(link, kind, reason))

    def _accept(self, data: bytes, link: LinkId | None, now: int, out: list[Output]) -> None:
        try:
            msg = decode_message(data)
        except WireError as exc:
            self._reject(out, link, None, f"malformed: {exc}")
            return
        state = self._links.get(link) if link is not None else None
        if state is not None:
            # The peer holds it: never send it back (a push crossing this one on the air).
            state.peer_has.add(msg.id)
            state.queued.add(msg.id)
        if self.store.has(msg.id) or self.store.seen(msg.id):
            self.stats.duplicates += 1
            return
        if state is not None and not state.peer_rate.take(now):
            self._reject(out, link, msg.kind, "rate: peer sends too fast")
            return
        hops = min(msg.routing.hops_left, self.config.max_hops)
        if msg.kind in (Kind.POST, Kind.ANNOUNCE):
            hops = min(hops, self.config.post_hops)  # the scope of posts: see NodeConfig
        if link is None and msg.kind in (Kind.ALERT, Kind.REVOKE, Kind.CERT):
            hops = self.config.max_hops  # authority messages travel as far as the mesh reaches
        routing = Routing(hops, min(msg.routing.copies, self.config.spray_copies))
        msg = msg.with_routing(routing)
        try:
            handler = {
                Kind.POST: self._accept_post, Kind.ANNOUNCE: self._accept_announce,
                Kind.DM: self._accept_dm, Kind.RECEIPT: self._accept_receipt,
                Kind.ALERT: self._accept_alert, Kind.CERT: self._accept_cert,
                Kind.REVOKE: self._accept_revoke,
            }[msg.kind]
            handler(msg, link, now, out)
        except (WireError, SignatureError) as exc:
            self._reject(out, link, msg.kind, f"invalid: {exc}")

    def _fresh(self, msg: Message, created: int, expires: int, link: LinkId | None, now: int,
               out: list[Output]) -> bool:
        if created > now + self.config.clock_skew:
            self._reject(out, link, msg.kind, "from the future: created ahead of our clock")
            return False
        if expires <= now:
            self.store.mark_seen(msg.id, now)
            self._reject(out, link, msg.kind, "expired")
            return False
        return True

    def _store(self, msg: Message, now: int, out: list[Output], link: LinkId | None, *,
               created: int, expires: int, **meta: object) -> bool:
        stored = StoredMessage(
            id=msg.id, kind=int(msg.kind), raw=encode_message(msg),
            priority=int(_PRIORITY[msg.kind]), created=created, expires=expires,
            received=now, **meta,  # type: ignore[arg-type]
        )
        count = self.store.usage().count
        result = self.store.put(stored, now)
        if result is PutResult.ACCEPTED:
            after = self.store.usage().count
            if after != count + 1:
                self._items = None  # the put evicted something: rebuild
                self._forget_gone(after)
            elif msg.kind in _RECONCILED:
                self._items_added.append((created, msg.id))
            self._wake = min(self._wake, expires)
            self.stats.accepted[msg.kind.name.lower()] += 1
            self._push_everywhere(stored, except_link=link)
            return True
        if result is PutResult.DUPLICATE:
            self.stats.duplicates += 1
        else:
            self._reject(out, link, msg.kind, f"store: {result.value}")
        return False

    def _forget_gone(self, stored: int) -> None:
        """Drop the copy counts and carry counts of DMs the store no longer holds (expired,
        evicted), so this bookkeeping stays within the store's bound over a long outage.

        Amortised: it scans only once the entries outnumber the stored messages by a margin,
        so each scan removes at least that many. `stored` is the store's message count."""
        if len(self._copies) + len(self._carried) <= stored + _BOOKKEEPING_SLACK:
            return
        self._copies = {k: v for k, v in self._copies.items() if self.store.has(k)}
        self._carried = {k: v for k, v in self._carried.items() if self.store.has(k)}

    def _push_everywhere(self, stored: StoredMessage, except_link: LinkId | None) -> None:
        """Eager push to peers we are already synced with, so long links stay current."""
        for state in self._links.values():
            if state.id != except_link and state.peer is not None:
                self._enqueue(state, stored)

    def _accept_post(self, msg: Message, link: LinkId | None, now: int,
                     out: list[Output]) -> None:
        body = verify_message(msg, self._memo)
        assert isinstance(body, PostBody)
        if not self._fresh(msg, body.created, body.expires, link, now, out):
            return
        if link is not None and not self._posts.take(now):
            self._reject(out, link, msg.kind, "rate: posts arrive too fast")
            return
        if not self._authors.allow(body.author, body.created):
            self.store.mark_seen(msg.id, now)
            self._reject(out, link, msg.kind, "quota: author created too many posts")
            return
        try:
            stored = self._store(msg, now, out, link, created=body.created,
                                 expires=body.expires, channel=body.channel)
        except StoreError:
            # Not stored (a full disk): it comes again, and must not count twice.
            self._authors.forget(body.author, body.created)
            raise
        if stored:
            channels = self.config.channels
            if channels is None or body.channel in channels:
                out.append(PostReceived(msg.id, body))

    def _accept_announce(self, msg: Message, link: LinkId | None, now: int,
                         out: list[Output]) -> None:
        body = verify_message(msg, self._memo)
        assert isinstance(body, AnnounceBody)
        if not self._fresh(msg, body.created, body.expires, link, now, out):
            return
        if not self._authors.allow(body.sign_key, body.created):
            self.store.mark_seen(msg.id, now)
            self._reject(out, link, msg.kind, "quota: author created too many announces")
            return
        try:
            stored = self._store(msg, now, out, link, created=body.created, expires=body.expires)
        except StoreError:
            self._authors.forget(body.sign_key, body.created)  # as for posts
            raise
        if stored:
            out.append(AnnounceReceived(msg.id, body))

    def _accept_dm(self, msg: Message, link: LinkId | None, now: int, out: list[Output]) -> None:
        body = verify_message(msg, self._memo)
        assert isinstance(body, DmBody)
        if not self._fresh(msg, body.created, body.expires, link, now, out):
            return
        if addressed_to(self.identity, body) and link is not None:
            try:
                opened = open_dm(self.identity, msg)
            except OpenError:
                opened = None  # carried on like any other DM: no observable difference
            if opened is not None:
                self.store.mark_seen(msg.id, now)
                self.stats.accepted["dm delivered"] += 1
                out.append(DmReceived(msg.id, opened.sender, opened.text, opened.created))
                receipt = create_receipt(opened, now).with_routing(
                    Routing(self.config.hop_limit, 1))
                rbody = decode_body(Kind.RECEIPT, receipt.body)
                assert isinstance(rbody, ReceiptBody)
                self._store(receipt, now, out, None, created=rbody.created,
                            expires=rbody.expires, ref=rbody.dm_id)
                return
        for stored in self.store.by_ref(msg.id):
            ack = decode_body(Kind.RECEIPT, decode_message(stored.raw).body)
            if isinstance(ack, ReceiptBody) and receipt_matches(ack, msg.id, body):
                self.store.mark_seen(msg.id, now)  # already delivered: an anti-packet is here
                return
        if self._store(msg, now, out, link, created=body.created, expires=body.expires,
                       tag=body.tag):
            self._copies[msg.id] = msg.routing.copies

    def _accept_receipt(self, msg: Message, link: LinkId | None, now: int,
                        out: list[Output]) -> None:
        body = verify_message(msg, self._memo)
        assert isinstance(body, ReceiptBody)
        if not self._fresh(msg, body.created, body.expires, link, now, out):
            return
        own = self.store.get_meta(_SENT_DM_META + body.dm_id.hex())
        if own is not None and own == body.ack_key:
            out.append(DmDelivered(body.dm_id))
        dm = self.store.get(body.dm_id)
        if dm is not None:
            dm_body = decode_body(Kind.DM, decode_message(dm.raw).body)
            if isinstance(dm_body, DmBody) and receipt_matches(body, body.dm_id, dm_body):
                self.store.delete(body.dm_id)
                self.store.mark_seen(body.dm_id, now)
                self._copies.pop(body.dm_id, None)
                self._items = None
        self._store(msg, now, out, link, created=body.created, expires=body.expires,
                    ref=body.dm_id)

    def _accept_alert(self, msg: Message, link: LinkId | None, now: int,
                      out: list[Output]) -> None:
        result = verify_alert(msg, self.trust, now, seqs=self._seqs,
                              known=lambda s, i: self._known.get((s, i)), cache=self._certs,
                              memo=self._memo)
        if isinstance(result, Rejection):
            # Not remembered: a forgery must not block the genuine message, and an alert
            # refused for our clock (sent "in the future", certificate "not yet valid") is
            # accepted once the clock has caught up. UNKNOWN_ROOT and REVOKED are decided before
            # the alert's own signature is checked: remembering them would let anyone fill (and
            # so flush) the seen memory with made-up alerts.
            if result.reason.name not in ("BAD_SIGNATURE", "MALFORMED", "SENT_IN_FUTURE",
                                          "CERT_NOT_YET_VALID", "UNKNOWN_ROOT", "REVOKED"):
                self.store.mark_seen(msg.id, now)
            self._reject(out, link, msg.kind, f"alert {result}")
            return
        alert = result.alert
        if (alert.sender, alert.identifier) in self._superseded:
            self.store.mark_seen(msg.id, now)
            self._reject(out, link, msg.kind, "alert superseded: a later update or cancel is held")
            return
        if not self._store(msg, now, out, link, created=alert.sent, expires=result.expires,
                           issuer=result.cert.issuer_id.encode("utf-8"), seq=result.seq,
                           pinned=True):
            return
        self._remember_alert(result)
        if alert.msg_type in (MsgType.UPDATE, MsgType.CANCEL):
            for ref in alert.references:
                key = (ref.sender, ref.identifier)
                self._superseded.add(key)
                old = self._alert_ids.pop(key, None)
                if old is not None and self.store.delete(old):
                    self.store.mark_seen(old, now)
                    self._items = None
                    out.append(AlertRemoved(old, f"superseded by {alert.msg_type.cap}"))
        here = None
        if self.config.location is not None and alert.infos:
            here = covers(alert, *self.config.location)
        out.append(AlertReceived(msg.id, result, here))

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
                     out: list[Output]) -> None:
        result = verify_cert(msg, self.trust, now)
        if isinstance(result, Rejection):
            self._reject(out, link, msg.kind, f"cert {result}")
            return
        cert, _ = result
        if cert.role is CertRole.ROOT:
            rotated = apply_rotation(self.trust, msg, now)
            if isinstance(rotated, Rejection):
                self._reject(out, link, msg.kind, f"cert {rotated}")
                return
            self.trust = rotated
            out.append(TrustUpdated(msg.id, f"new root {cert.name}"))
        self._store(msg, now, out, link, created=cert.not_before, expires=cert.not_after,
                    pinned=True)

    def _accept_revoke(self, msg: Message, link: LinkId | None, now: int,
                       out: list[Output]) -> None:
        rev = verify_revocation(msg, self.trust)
        if isinstance(rev, Rejection):
            self._reject(out, link, msg.kind, f"revoke {rev}")
            return
        trust = apply_revocation(self.trust, msg)
        assert isinstance(trust, TrustStore)
        self.trust = trust
        if not self._store(msg, now, out, link, created=rev.created, expires=MAX_TIME,
                           pinned=True):
            return
        out.append(TrustUpdated(msg.id, f"revoked serials {list(rev.serials)}"))
        for alert_id, (root_id, serial) in list(self._alert_certs.items()):
            if (root_id, serial) in self.trust.revoked and self.store.delete(alert_id):
                self.store.mark_seen(alert_id, now)
                del self._alert_certs[alert_id]
                self._items = None
                out.append(AlertRemoved(alert_id, "issuer certificate revoked"))

    def _originate(self, msg: Message, now: int) -> list[Output]:
        out: list[Output] = []
        if msg.routing.hops_left == Routing().hops_left and msg.kind is not Kind.DM:
            msg = msg.with_routing(Routing(self.config.hop_limit, 1))
        self._accept(encode_message(msg), None, now, out)
        for state in self._links.values():
            self._pump(state, now, out)
        return out

    # --- helpers ---------------------------------------------------------------------------

    def _item_set(self) -> SortedItems:
        """What we reconcile, cached: rebuilt after removals (`_items = None`), updated in
        place for plain additions."""
        if self._items is None:
            items: list[tuple[int, bytes]] = []
            for kind in _RECONCILED:
                items.extend(self.store.ids_since(0, kind=int(kind)))
            self._items = SortedItems(sorted(items))
            self._items_added.clear()
        elif self._items_added:
            self._items = self._items.updated(add=self._items_added)
            self._items_added.clear()
        return self._items

    def links(self) -> Iterable[LinkId]:
        return list(self._links)



def _addressed_to_peer(state: _Link, stored: StoredMessage) -> bool:
    """Whether `stored` is a DM for the peer on `state`, by the blinded tags of its Hello."""
    if stored.kind != Kind.DM or stored.tag is None or state.peer is None:
        return False
    return hello_tag(state.peer.nonce, stored.tag) in state.peer.tags
