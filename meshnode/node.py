"""The protocol core: one `Node`, driven by the daemon, the simulator and the tests alike.

The driving contract, in the style of aioquic's `QuicConnection`:

1. Tell the node what happened, always with the time: a link came up (`link_up`), a frame
   arrived on it (`receive`), it sent everything it was handed (`ready`), it went down
   (`link_down`); or the user acted (`post`, `send_dm`, `announce`, `inject`).
2. Act on every returned output at once and in order: `Send` a frame on its link (hand the
   next burst over only after calling `ready` for the last), `Close` a link, and hand the
   events to the application. Local actions return a `Result`: the typed `Verdict` first.
3. After every call, read `get_timer()` and call `handle_timer(now)` when that time comes;
   calling it early is harmless, so a driver never polls on a fixed period.
4. Group commit, for a store that batches writes (`meshnode.store.base.BatchStore`, the
   daemon's SQLite store): a driver may wrap any number of calls in `begin_batch()` ...
   `commit_batch()`. Their store writes become durable together when `commit_batch` returns,
   so the driver holds every output of those calls (frames, events, API answers) until then:
   nothing is relayed, answered, published or acknowledged before it is on disk.
   `commit_batch` may run on a worker thread (it only commits the store); no other call may run
   meanwhile except `take_checked`, which puts an arrived frame's checked signature into the
   node's memo so that the next batch finds it done. If `commit_batch` raises, the driver
   drops the batch's frames and events (none of it was kept), still closes the links it was
   told to close, and acts on the outputs of `abort_batch(now)`: the node
   forgets what the batch held and starts every session over. Without a batch, or with a
   store that does not batch (the simulator's `MemoryStore`), every call's writes are done
   when it returns, as before.
   Overlapped, the same in three steps: `seal_batch()` closes the open batch, `commit_sealed()`
   commits it on a worker thread, and meanwhile the driver may `begin_batch()` the next one and
   run calls in it (a statement the store cannot defer waits for the sealed COMMIT); once
   `commit_sealed` returned, `land_batch()` and then the sealed batch's outputs are released,
   always before the next batch's. At most one batch is sealed and one open. If
   `commit_sealed` raises, the open batch is lost with it: the driver drops the outputs of
   both (closing the links either closed) and acts on `abort_batch(now)`, which forgets both.
5. Checking ahead (optional): `frame_check()` is a pure, thread-safe function of a frame's
   bytes that decodes it and verifies its signature (`meshnode.precheck`); a driver may run it
   on any thread, ahead of `receive`, and hand its result to `take_checked` on the driving
   thread before the `receive` of that frame. A frame not checked ahead is verified by
   `receive` itself: checking ahead changes the cost, never an outcome.

A node never opens a socket, sleeps, reads the clock or starts a task, and draws its randomness
from `NodeConfig.seed` (reproducible, for simulations and tests) or the operating system.
`meshnode.testing` has an in-memory mesh driven this way and a conformance check any driver can
run against itself.

On contact both sides send `Hello`; the session on each link is the state machine of
`meshnode.routing.session`. The side with the higher nonce initiates a range-based
reconciliation over receipts, DMs, posts and announces; revocations, certificates and alerts
are pushed straight from the `Hello`'s summaries. Messages go out in priority order, a burst at
a time. What arrives is validated in full by `meshnode.intake` before it is stored or relayed.
"""

from __future__ import annotations

import heapq
import weakref
from collections.abc import Callable, Iterable, Sequence

from meshnode.codec import WireError
from meshnode.crypto.authority import RootKey, TrustStore
from meshnode.crypto.entropy import Entropy, SeededEntropy, SystemEntropy
from meshnode.crypto.identity import Identity, PublicIdentity
from meshnode.crypto.sealing import StampedAck, hello_tag, seal_dm, stamped_ack
from meshnode.crypto.signing import create_announce, create_post
from meshnode.crypto.stamp import StampWork, stamp_day, stamp_worth
from meshnode.crypto.verify import MemoEntries, SignatureMemo
from meshnode.events import (
    Close,
    LinkId,
    Output,
    Refusal,
    Result,
    Send,
    SyncFinished,
)
from meshnode.intake import Intake, NodeStats, read_routing
from meshnode.nodeconfig import NodeConfig
from meshnode.precheck import FrameCheck
from meshnode.routing.forwarding import Forwarder, fades_at
from meshnode.routing.frames import (
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
from meshnode.routing.ghosts import GhostBook
from meshnode.routing.limits import TokenBucket
from meshnode.routing.pairtags import PairTags, hello_field
from meshnode.routing.policy import Offer
from meshnode.routing.reconcile import (
    GHOST,
    GIVES_DEAD,
    GIVES_LIVE,
    HELD,
    DescribeAll,
    Reconciler,
    SortedItems,
    class_of,
    offer_of,
)
from meshnode.routing.session import Phase, Session, SessionError, Step
from meshnode.routing.summaries import lacking, summarise
from meshnode.store.base import BatchStore, MessageStore, StoredMessage, StoreView
from meshnode.wire import (
    DAY,
    MAX_TIME,
    DmBody,
    Kind,
    Message,
    Routing,
    decode_body,
    decode_message,
    encode_message,
    kind_of,
    with_tail_routing,
)

__all__ = ["Node", "NodeConfig", "NodeStats"]

# Sync order: trust first, then alerts, receipts, DMs for the peer, other DMs, posts.
_CLASS = {Kind.REVOKE: 0, Kind.CERT: 0, Kind.ALERT: 1, Kind.RECEIPT: 2, Kind.DM: 4,
          Kind.POST: 5, Kind.ANNOUNCE: 5}
_FOR_THE_PEER = 3  # the class of a DM addressed to the peer
_READ_AHEAD = 64  # queued messages read from the store in one go when a burst is made
_READ_AT_ONCE = 500  # stored messages read in one go when the sync set is rebuilt
_RECONCILED = (Kind.RECEIPT, Kind.DM, Kind.POST, Kind.ANNOUNCE)
_MEMO_SIZE = 8_192  # signature results a node remembers when not given a shared memo


class Node:
    """One mesh node. See the module docstring for the driving contract.

    `memo` may be shared by many nodes in one process (the simulator): it remembers signature
    results, which are the same for every node. Without one the node keeps a small one of its
    own (what `take_checked` fills).
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
        self.config = config or NodeConfig()
        self.stats = NodeStats()
        self._entropy: Entropy = (SystemEntropy() if self.config.seed is None
                                  else SeededEntropy(self.config.seed))
        self._roots = trust  # as pinned: what `abort_batch` rebuilds the trust from
        self._memo = memo if memo is not None else SignatureMemo(size=_MEMO_SIZE)
        self._batching: BatchStore | None = store if isinstance(store, BatchStore) else None
        self._in_batch = False
        self._sealed = False  # a sealed batch whose commit has not landed
        self._intake = Intake(identity, store, trust, self.config.intake(), self.stats, now,
                              memo=self._memo)
        self._sessions: dict[LinkId, Session] = {}
        self._forwarder = Forwarder(self.config.dm_policy, self.config.spray_copies, now)
        self._ghosts = GhostBook(store, self.config.ghost_capacity)
        self._items: SortedItems | None = None
        self._classes: dict[bytes, int] = {}  # the class of every id in the reconciled set
        self._dead_dms: dict[bytes, bytes] = {}  # our class-0 DMs: id -> recipient tag
        self._adding: dict[bytes, tuple[int, bytes]] = {}  # changes since `_items` was built
        self._removing: set[tuple[int, bytes]] = set()
        self._flood_flags: dict[bytes, tuple[int, int]] = {}  # see `_describe`
        self._fading: list[tuple[int, bytes]] = []  # heap of (fade time, id) of class-1 items
        self._swept = -MAX_TIME  # when expired messages were last removed
        self._wake = self._sweep_at()  # `handle_timer` has nothing to do before (a lower bound)
        self._stamp: tuple[int, bytes] = (-1, b"")  # (day, stamp) for own posts, announces
        self._pairs = PairTags(identity)

    @property
    def held(self) -> StoreView:
        """The store, read-only: what applications read (only the node writes it)."""
        return self.store

    @property
    def clock_floor(self) -> int:
        """A lower bound on the current time (unix seconds; 0: none yet) that verified alerts
        proved, kept in the store across restarts. Authority messages are checked at this time
        when the driver's clock is behind it; a driver should warn that its clock is wrong."""
        return self._intake.clock_floor

    @property
    def trust(self) -> TrustStore:
        """The pinned roots, as revocations and root rotations have left them."""
        return self._intake.trust

    def pin_roots(self, roots: Sequence[RootKey]) -> list[RootKey]:
        """Trust `roots` from now on too (an operator pinned them while the node ran); the
        ones that were not pinned yet. Revocations and rotations already applied stay."""
        added = self._intake.pin_roots(roots)
        if added:  # kept for `abort_batch`, which rebuilds the trust from the pinned roots
            self._roots = TrustStore(self._roots.roots + tuple(added), self._roots.revoked)
        return added

    def set_contacts(self, dh_keys: Iterable[bytes]) -> None:
        """The X25519 keys of this node's contacts, most important first: the next Hellos
        present (blinded) the pair tags of DMs from them, so relays hand such DMs here first,
        and at the end of their journey only here (docs/protocol.md §5.1). A DM from anyone
        else is opened too when a copy reaches this node, but relays cannot tell it is ours."""
        self._pairs.set_contacts(dh_keys)

    # --- driver inputs ---------------------------------------------------------------------

    def link_up(self, link: LinkId, now: int) -> list[Output]:
        """A link to a peer is up: greet it."""
        session = Session(link, self._entropy.random_bytes(NONCE_SIZE),
                          TokenBucket.full(self.config.peer_rate, now),
                          TokenBucket.full(self.config.serve_rate, now), synced_at=now)
        self._sessions[link] = session
        self._wake = min(self._wake, now + self.config.session_timeout)
        return [self._send(session, self._hello(session, now))]

    def link_down(self, link: LinkId, now: int) -> list[Output]:
        """The link is gone; anything not yet sent is simply not sent."""
        self._sessions.pop(link, None)
        return []

    def receive(self, link: LinkId, data: bytes, now: int) -> list[Output]:
        """One whole frame arrived on `link`."""
        session = self._sessions.get(link)
        if session is None:
            return []
        self.stats.frames_in += 1
        self.stats.bytes_in += len(data)
        session.active_at = now
        out: list[Output] = []
        try:
            self._on_frame(session, decode_frame(data), now, out)
        except (WireError, SessionError) as exc:
            session.errors += 1
            self._intake.reject(out, link, None, Refusal.MALFORMED_FRAME, str(exc))
            if session.errors > self.config.max_frame_errors:
                self._sessions.pop(link, None)
                out.append(Close(link, "too many malformed frames"))
                return out
        self._pump(session, now, out)
        # A message accepted here may be news for every other peer we are linked with.
        for other in self._sessions.values():
            if other is not session and other.queue and not other.busy:
                self._pump(other, now, out)
        return out

    def ready(self, link: LinkId, now: int) -> list[Output]:
        """The link has sent everything handed to it: hand it the next burst."""
        session = self._sessions.get(link)
        if session is None:
            return []
        session.busy = False
        out: list[Output] = []
        self._pump(session, now, out)
        return out

    def get_timer(self) -> int:
        """When `handle_timer` is next due (unix seconds). It may be earlier than needed,
        never later; it can only move earlier between calls to `handle_timer`."""
        return self._wake

    def handle_timer(self, now: int) -> list[Output]:
        """Housekeeping: remove expired messages, restart sessions that went quiet, re-sync
        long-lived links. Returns at once when nothing is due."""
        if now < self._wake:
            return []
        out: list[Output] = []
        if now >= self._sweep_at():
            self._swept = now
            self._intake.expire(now)
            if self._ghosts.expire(now):
                self._items = None
            self._after_intake(now)
        for session in list(self._sessions.values()):
            if now >= session.due(self.config.session_timeout, self.config.resync_interval):
                # Finished long ago (a hub's neighbour), or a frame was lost: start over.
                self._restart(session, now, out)
        self._wake = min((s.due(self.config.session_timeout, self.config.resync_interval)
                          for s in self._sessions.values()), default=MAX_TIME)
        self._wake = min(self._wake, self._sweep_at())
        return out

    def _sweep_at(self) -> int:
        """When expired messages (and records of own DMs past any receipt) are next removed:
        at the next expiry, batched."""
        expiry = self.store.next_expiry()
        due = min(MAX_TIME if expiry is None else expiry, self._intake.own_dms_until)
        return due if due == MAX_TIME else self._batched(due)

    def _batched(self, due: int) -> int:
        """`due`, but not before `expiry_interval` has passed since the last sweep."""
        return max(due, self._swept + self.config.expiry_interval)

    # --- group commit (rule 4 of the driving contract) -------------------------------------

    @property
    def in_batch(self) -> bool:
        """Whether a batch is open (between `begin_batch` and its commit or abort)."""
        return self._in_batch

    @property
    def batch_writes(self) -> bool:
        """Whether the open batch wrote anything: its commit has a disk to wait for."""
        return self._batching is not None and self._batching.batch_writes

    def begin_batch(self) -> None:
        """Open a batch: the writes of the calls that follow become durable together."""
        if self._in_batch:
            raise RuntimeError("a batch is already open")
        if self._batching is not None:
            self._batching.begin_batch()
        self._in_batch = True

    def commit_batch(self) -> None:
        """Make the batch's writes durable; raises `StoreError` if they could not be (then
        call `abort_batch`). Touches only the store, so it may run on a worker thread."""
        if not self._in_batch:
            raise RuntimeError("no batch is open")
        if self._sealed:
            raise RuntimeError("the sealed batch before has not landed")
        if self._batching is not None:
            self._batching.commit_batch()  # on failure the batch stays open until aborted
        self._in_batch = False

    @property
    def sealed(self) -> bool:
        """Whether a sealed batch has not landed yet (its commit runs, or failed)."""
        return self._sealed

    def seal_batch(self) -> None:
        """Close the open batch; `commit_sealed` commits it next (rule 4, overlapped)."""
        if not self._in_batch:
            raise RuntimeError("no batch is open")
        if self._sealed:
            raise RuntimeError("the sealed batch before has not landed")
        if self._batching is not None:
            self._batching.seal_batch()
        self._in_batch, self._sealed = False, True

    def commit_sealed(self, written: Callable[[], None] | None = None) -> None:
        """Make the sealed batch's writes durable (`written` runs between its rows and its
        COMMIT); raises `StoreError` if they could not be (then call `abort_batch`). Touches
        only the store's connection, so it runs on a worker thread while the driving thread
        runs the next batch."""
        if not self._sealed:
            raise RuntimeError("no batch is sealed")
        if self._batching is not None:
            self._batching.commit_sealed(written)

    def land_batch(self) -> None:
        """After `commit_sealed` returned: the sealed batch is durable; its outputs may go."""
        if not self._sealed:
            raise RuntimeError("no batch is sealed")
        if self._batching is not None:
            self._batching.land_batch()
        self._sealed = False

    def abort_batch(self, now: int) -> list[Output]:
        """After a failed `commit_batch` (or `commit_sealed`): forget what the batch held,
        and the batch opened after a sealed one (validation state and the sync set are rebuilt
        from the store and the pinned roots) and start every session over, so that peers offer
        again what was lost. Counters and the per-DM copy counts stay. With a store that does
        not batch, the writes were done at once and stay; only the sessions start over."""
        if not self._in_batch and not self._sealed:
            raise RuntimeError("no batch is open")
        self._in_batch = self._sealed = False
        if self._batching is not None:
            self._batching.rollback_batch()
        old = self._intake
        self._intake = Intake(self.identity, self.store, self._roots, self.config.intake(),
                              self.stats, now, memo=self._memo)
        self._intake.copies, self._intake.carried = old.copies, old.carried
        self._ghosts.reload()
        self._items = None
        out: list[Output] = []
        for session in self._sessions.values():
            self._restart(session, now, out)
        self._wake = min(self._wake, self._sweep_at())
        return out

    def frame_check(self) -> FrameCheck:
        """The pure, thread-safe check of arrived frames for this node (`meshnode.precheck`):
        call it anywhere, on any thread, and hand what it returns to `take_checked`."""
        return FrameCheck(self.config.intake())

    def take_checked(self, entries: MemoEntries) -> None:
        """Take in what a `frame_check` learned (decoded bodies, signature results), so that
        the `receive` of the same frame finds the work done; changes nothing else. The node's
        memo is not thread-safe: call this on the driving thread, like every other method
        (it may run while `commit_batch` runs on a worker thread: it never touches the
        store)."""
        self._memo.absorb(entries)


    # --- local actions ---------------------------------------------------------------------

    def post(self, channel: str, text: str, now: int) -> Result:
        """Sign and publish a post on `channel` (stamped with `stamp_own`, see `own_stamp`)."""
        return self._originate(create_post(self.identity, channel, text, now,
                                           stamp=self._own_stamp(now)), now)

    def announce(self, name: str, now: int) -> Result:
        """Sign and publish this node's identity card under `name` (stamped as posts are)."""
        return self._originate(create_announce(self.identity, name, now,
                                               stamp=self._own_stamp(now)), now)

    def own_stamp_work(self, now: int) -> StampWork | None:
        """The stamp this node's posts and announces need today and does not have yet (None
        without `stamp_own`, or once given). A driver that must not block mints it elsewhere
        (`StampWork.mint`, e.g. on a worker thread) and hands it back with `give_own_stamp`;
        otherwise `post` and `announce` mint it when first needed."""
        if not self.config.stamp_own or self._stamp[0] == stamp_day(now):
            return None
        return StampWork(self.identity.public.sign_key, stamp_day(now), self.config.stamp_bits)

    def give_own_stamp(self, work: StampWork, stamp: bytes) -> None:
        """Keep `stamp` (minted for `work`) for this node's posts and announces of its day."""
        if work.key != self.identity.public.sign_key or stamp_worth(
                work.key, work.day, stamp) < self.config.stamp_bits:
            raise ValueError("not a stamp of this node's key worth the configured bits")
        self._stamp = (work.day, stamp)

    def _own_stamp(self, now: int) -> bytes | None:
        work = self.own_stamp_work(now)
        if work is not None:
            self.give_own_stamp(work, work.mint())
        return self._stamp[1] if self.config.stamp_own else None

    def send_dm(self, recipient: PublicIdentity, text: str, now: int, *,
                ack: StampedAck | None = None) -> Result:
        """Seal a DM for `recipient`; `DmCarried` follows each hand-over of a copy, and
        `DmDelivered` the recipient's receipt.

        With `stamp_own` the DM's one-time ack key carries a stamp: `ack`, if the driver
        minted one for today off its event loop (`stamped_ack`), else one minted here."""
        if self.config.stamp_own and (ack is None or ack.day != stamp_day(now)):
            ack = stamped_ack(self._entropy.random_bytes(32), stamp_day(now),
                              self.config.stamp_bits)
        msg = seal_dm(self.identity, recipient, text, now, entropy=self._entropy, stamp=ack)
        body = decode_body(Kind.DM, msg.body)
        assert isinstance(body, DmBody)
        self._intake.remember_own_dm(msg.id, body.ack_key, body.expires)
        self._pairs.correspond(recipient.dh_key)  # present the tag of the reply
        return self._originate(msg, now)

    def inject(self, data: bytes, now: int) -> Result:
        """Validate and publish an encoded message from outside the mesh (an authority's alert,
        revocation or certificate file): the same checks as for anything received, and the
        routing it carries (clamped as on receipt; authority messages get the full budget)."""
        out: list[Output] = []
        verdict = self._intake.accept(data, None, now, out)
        self._after_intake(now)
        self._pump_all(now, out)
        return Result(verdict, out)

    def _originate(self, msg: Message, now: int) -> Result:
        copies = self._forwarder.initial_copies(msg.kind)
        return self.inject(encode_message(msg.with_routing(Routing(self.config.hop_limit,
                                                                   copies))), now)

    def restore_own(self, data: bytes, now: int) -> Result:
        """Publish again one of our own messages (a post, or a DM we sealed) that the driver
        kept outside the store, after the store that held it was lost (moved aside as
        damaged). The same checks as `inject`; for a DM, its receipt is again recognised as
        ours, so its delivery is reported (`DmDelivered`)."""
        try:
            msg = decode_message(data)
            body = decode_body(msg.kind, msg.body) if msg.kind is Kind.DM else None
        except WireError:
            body = None
        if isinstance(body, DmBody):
            self._intake.remember_own_dm(msg.id, body.ack_key, body.expires)
        return self.inject(data, now)

    def status(self, now: int) -> dict[str, object]:
        usage = self.store.usage()
        return {
            "links": len(self._sessions),
            "stored": usage.count,
            "used_bytes": usage.used_bytes,
            "capacity_bytes": usage.capacity_bytes,
            "accepted": dict(self.stats.accepted),
            "rejected": dict(self.stats.rejected),
            "duplicates": self.stats.duplicates,
            "relayed": self.stats.relayed,
            "stale_frames": self.stats.stale_frames,
            "dm_bookkeeping": len(self._intake.copies) + len(self._intake.carried),
            "ghosts": len(self._ghosts),
        }

    def links(self) -> Iterable[LinkId]:
        return list(self._sessions)

    def idle_since(self, link: LinkId) -> int | None:
        """Since when `link` has had nothing to carry either way (unix seconds): its sync
        session finished (both Dones in, or the sets were equal), nothing is queued for the
        peer and no burst is with the driver; the latest of the finish, the last frame in and
        the last message out. None while the link carries something, or is unknown. The
        connection slot rule (`meshnode.transport.slots`) gives up the longest-idle link of a
        full device for a newcomer; a driver reads this to tell it."""
        session = self._sessions.get(link)
        if session is None or not session.finished or session.queue or session.busy:
            return None
        return max(session.synced_at, session.active_at, session.sent_at)

    def session(self, link: LinkId) -> Session | None:
        """The sync session on `link` (read it; only the node changes it)."""
        return self._sessions.get(link)

    # --- sync ------------------------------------------------------------------------------

    def _on_frame(self, session: Session, frame: Frame, now: int, out: list[Output]) -> None:
        if session.peer is None and isinstance(frame, (Recon, Want, Done)):
            # Out of session. Either we started over and the peer has not seen our new Hello
            # yet (links are FIFO, so these belong to the old session: a stale Done must not
            # end the new one), or the peer's Hello was lost on a lossy link: then start over
            # now rather than at the session timeout. Once per session, so a peer cannot make
            # us send Hellos at will.
            self.stats.stale_frames += 1
            if not session.restarted:
                self._restart(session, now, out)
            return
        match frame:
            case Hello():
                self._on_hello(session, frame, now, out)
            case Recon():
                self._on_recon(session, frame, now, out)
            case Want():
                self._on_want(session, frame, now)
            case Msg():
                session.received += 1
                verdict = self._intake.accept(frame.data, session.link, now, out,
                                              peer_rate=session.peer_rate)
                if verdict.msg_id is not None:
                    # The peer holds it: never send it back (a push crossing this one).
                    session.peer_has.add(verdict.msg_id)
                    session.queued.add(verdict.msg_id)
                self._after_intake(now)
            case Done():
                self._advance(session, Step.DONE_RECEIVED, now, out)

    def _hello(self, session: Session, now: int) -> Hello:
        day = now // DAY
        trust_ids, vector = summarise(self.store)
        mine = self._pairs.tags(day)
        # PRoPHET routes by destination, so it names today's tags (predictability 1.0) in the
        # clear: linkable for a day, which is why it is opt-in (docs/security.md).
        prophet = self._forwarder.hello_field(mine[: self._pairs.contacts], now)
        session.tags = hello_field(session.nonce, mine, self._entropy.random_bytes)
        session.items = self._item_set(now)
        session.digest = session.items.fingerprint(0, len(session.items))
        return Hello(
            nonce=session.nonce,
            tags=session.tags,
            digest=blind_digest(session.nonce, session.digest),
            trust_ids=trust_ids,
            alerts=vector,
            prophet=prophet,
        )

    def _send(self, session: Session, frame: Hello | Recon | Want | Msg | Done) -> Send:
        data = encode_frame(frame)
        session.busy = True  # until the driver says the link sent it: `ready`
        self.stats.frames_out += 1
        self.stats.bytes_out += len(data)
        self.stats.frame_bytes[type(frame).__name__] += len(data)
        return Send(session.link, data)

    def _restart(self, session: Session, now: int, out: list[Output]) -> None:
        """Start the session on this link over: a new nonce and a new Hello."""
        session.restart(self._entropy.random_bytes(NONCE_SIZE), now)
        self._wake = min(self._wake, now + self.config.session_timeout)
        out.append(self._send(session, self._hello(session, now)))

    def _advance(self, session: Session, step: Step, now: int, out: list[Output]) -> None:
        session.advance(step)
        if session.finished:
            session.synced_at = now
            self.stats.sessions += 1
            out.append(SyncFinished(session.link, session.sent, session.received))

    def _on_hello(self, session: Session, hello: Hello, now: int, out: list[Output]) -> None:
        if not session.peer_rate.take(now, 10.0):
            raise WireError("hello", "sessions restarted too often")
        if session.peer is not None:
            # The peer starts over: a re-sync of a long-lived link, or after a lost frame.
            self._restart(session, now, out)
        session.peer = hello
        self._forwarder.encounter(hello, now)
        for summarised in lacking(self.store, hello):  # trust and alerts, by summary
            self._enqueue(session, summarised)
        # Equal nonces (two nodes seeded alike) fall back to the set digests, which differ
        # unless the sets are equal (then nobody initiates: the session is quiet), then to the
        # tags, so exactly one side initiates (docs/protocol.md §10.1).
        mine = blind_digest(session.nonce, session.digest)
        session.initiator = ((session.nonce, mine, session.tags)
                             > (hello.nonce, hello.digest, hello.tags))
        if (hello.digest and session.items is not None
                and hello.digest == blind_digest(hello.nonce, session.digest)):
            # Both Hellos carried the same set: nothing to reconcile and no Wants can come, so
            # neither side sends Recon or Done. What we took in since our Hello goes out as is.
            session.quiet = True
            session.advance(Step.SAME_SET)
            current = self._item_set(now)
            if current is not session.items:
                # The two versions share what did not change: this follows the news, not
                # the size of the set.
                for item in current.added_since(session.items):
                    self._enqueue_id(session, item[1])
            for msg_id in self._dead_dms_for(session):  # the peer may hold only their ghosts
                self._enqueue_id(session, msg_id)
            return
        session.advance(Step.HELLO)
        items = self._item_set(now)
        # Our DMs in their wait phase are class 0, except towards their recipient: for this
        # peer they are class 1, so that a ghost of theirs never hides them (§10.2).
        dead = self._dead_dms_for(session)
        if dead:
            items = items.reclassed(dict.fromkeys(dead, 1))
        session.recon = Reconciler(items, initiator=session.initiator,
                                   describe_all=self._describer(session, now))
        if session.initiator:
            out.append(self._send(session, Recon(session.recon.initiate())))

    def _dead_dms_for(self, session: Session) -> list[bytes]:
        """Our class-0 DMs whose recipient is the peer (by the tags of its Hello)."""
        peer = session.peer
        if peer is None or not self._dead_dms:
            return []
        return [msg_id for msg_id, tag in self._dead_dms.items()
                if hello_tag(peer.nonce, tag) in peer.tags]

    def _on_recon(self, session: Session, frame: Recon, now: int, out: list[Output]) -> None:
        if session.recon is None and session.quiet:
            # Our sets were equal, so this session reconciles nothing: the Recon belongs to a
            # session the peer started before this one (a restart crossing on the air).
            self.stats.stale_frames += 1
            return
        if session.recon is None:
            raise WireError("recon", "reconciliation before hello")
        reply = session.recon.receive(frame.data)
        self._record_ghosts(session.recon.take_ghosts(), now)
        if reply is not None:
            out.append(self._send(session, Recon(reply)))
            return
        if session.initiator and session.phase is Phase.RECONCILING:
            session.advance(Step.RECONCILED)
            self._act_on_difference(session, session.recon, now, out)

    def _act_on_difference(self, session: Session, recon: Reconciler, now: int,
                           out: list[Output]) -> None:
        """The initiator's end of reconciliation (§10.2, "What the difference asks for"): push
        what the peer lacks and can use, ask for what it can give us, nothing else."""
        flags = recon.peer_flags
        have = sorted(recon.have_ids)
        found = self.store.get_many(have)
        for msg_id in have:
            stored = found.get(msg_id)
            if stored is None:
                continue  # our ghost: nothing to give
            can = self._describe(session, msg_id, stored, now)
            if can < GIVES_DEAD:
                continue  # held, not offerable to this peer: it records a ghost instead
            theirs = flags.get(msg_id)  # present when the peer holds it in the other class
            if (theirs is None or offer_of(theirs) == GHOST
                    or (class_of(theirs) == 0 and stored.kind != Kind.DM
                        and can == GIVES_LIVE)):
                self._enqueue(session, stored)
        wanted = []
        need = sorted(recon.need_ids)
        found = self.store.get_many(need)
        for msg_id in need:
            offer = offer_of(flags[msg_id])
            if offer < GIVES_DEAD:
                continue  # a ghost or a dead copy: recorded as a ghost, never asked for
            stored = found.get(msg_id)
            if stored is None:
                if not self.store.seen(msg_id):
                    wanted.append(msg_id)
            elif (offer == GIVES_LIVE and self._classes.get(msg_id) == 0
                  and stored.kind != Kind.DM and not self._has_faded(stored, now)):
                wanted.append(msg_id)  # a copy with hops to spare upgrades our dead one
        for i in range(0, len(wanted), MAX_WANT):
            out.append(self._send(session, Want(tuple(wanted[i : i + MAX_WANT]))))

    def _record_ghosts(self, ghosts: dict[bytes, int], now: int) -> None:
        for ghost_id, created in ghosts.items():
            if self.store.has(ghost_id) or created > now + self.config.clock_skew:
                continue
            if self._ghosts.add(ghost_id, created, now) and self._items is not None:
                self._classes[ghost_id] = 0
                self._adding[ghost_id] = (created, ghost_id)

    def _on_want(self, session: Session, want: Want, now: int) -> None:
        self.stats.wanted += len(want.ids)
        session.wanted.update(want.ids)
        found = self.store.get_many(want.ids)
        for msg_id in want.ids:
            stored = found.get(msg_id)
            if stored is None:
                continue
            if not session.serve.take(now):
                self.stats.rejected["rate: sync replies"] += 1
                break
            self._enqueue(session, stored)

    def _enqueue_id(self, session: Session, msg_id: bytes) -> None:
        stored = self.store.get(msg_id)
        if stored is not None:
            self._enqueue(session, stored)

    def _enqueue(self, session: Session, stored: StoredMessage) -> None:
        cls = _CLASS.get(kind_of(stored.kind), 6)
        if session.for_peer(stored):
            cls = _FOR_THE_PEER
        session.enqueue(cls, stored.created, stored.id)

    def _pump_all(self, now: int, out: list[Output]) -> None:
        for session in self._sessions.values():
            self._pump(session, now, out)

    def _pump(self, session: Session, now: int, out: list[Output]) -> None:
        """Hand the link its next burst of messages, in priority order, then say Done."""
        if session.peer is None:
            return
        if not session.busy:
            budget = self.config.burst_bytes
            while session.queue and budget > 0:
                # The next few in queue order, read from the store in one go; those the
                # budget leaves go back into the queue, in the same order.
                taken = session.take(_READ_AHEAD)
                found = self.store.get_many([entry[2] for entry in taken])
                for i, entry in enumerate(taken):
                    if budget <= 0:
                        session.give_back(taken[i:])
                        break
                    data = self._outgoing(session, found.get(entry[2]), now, out)
                    if data is None:
                        continue
                    frame = self._send(session, Msg(data))
                    session.sent_at = now
                    budget -= len(frame.data)
                    session.sent += 1
                    self.stats.relayed += 1
                    out.append(frame)
        if session.may_say_done:
            if not session.quiet:
                out.append(self._send(session, Done()))
            self._advance(session, Step.DONE_SENT, now, out)

    def _outgoing(self, session: Session, stored: StoredMessage | None, now: int,
                  out: list[Output]) -> bytes | None:
        """The bytes to send for a queued message (None: no longer stored), applying hops and
        the forwarding policy."""
        if stored is None or stored.expires <= now or stored.id in session.peer_has:
            return None
        msg_id = stored.id
        read = read_routing(stored)
        if read is None:
            return None
        routing, msg = read
        offer = self._offer(session, stored, routing, now)
        if offer is None:
            self.stats.unoffered += 1
            self.stats.want_refused += msg_id in session.wanted
            return None
        if stored.kind == Kind.DM:
            self._intake.copies[msg_id] = offer.keep
            self._intake.handed_over(msg_id, out)
            self._reclass(stored, now)
        new = Routing(max(0, routing.hops_left - 1), offer.give).clamped()
        if msg is None:
            return with_tail_routing(stored.raw, new)
        return encode_message(msg.with_routing(new))

    def _offer(self, session: Session, stored: StoredMessage, routing: Routing,
               now: int) -> Offer | None:
        assert session.peer is not None
        held = self._intake.copies.get(stored.id, routing.copies)
        return self._forwarder.offer(kind_of(stored.kind), stored.tag, routing, held,
                                     to_destination=session.for_peer(stored),
                                     peer=session.peer, now=now)

    def _describer(self, session: Session, now: int) -> DescribeAll:
        """`_describe` of many items for the reconciler of `session`. The session keeps its
        reconciler, so the reconciler refers to the session only weakly: a strong reference is
        a cycle, and every ended session (with its snapshot of the reconciled set) would stay
        in memory until Python's cyclic collector happened to run."""
        ref = weakref.ref(session)

        def describe(msg_ids: Sequence[bytes], _classes: Sequence[int]) -> list[int]:
            live = ref()
            if live is None:
                return [HELD] * len(msg_ids)
            found = self.store.get_many(msg_ids)  # one read for the range, not one per item
            return [self._describe(live, i, found.get(i), now) for i in msg_ids]
        return describe

    def _describe(self, session: Session, msg_id: bytes, stored: StoredMessage | None,
                  now: int) -> int:
        """What we can give the peer of an item `msg_id` of our reconciled set (§10.2 flags),
        as read from the store: `stored` (None: not stored, a ghost)."""
        if stored is None:
            return GHOST
        if stored.kind == Kind.DM:
            return self._describe_stored(session, stored, now)
        # Anything but a DM floods: the epidemic policy hands every peer the same copy, so its
        # flag is a function of the stored bytes alone (their hops), whatever the peer, the
        # copies held or the time. Kept per id with the bytes it was read from, it is read
        # once per stored copy instead of at every listing of every contact. The bytes are
        # remembered by their hash, not kept: a store that reads from disk returns a new copy
        # each time, and keeping those would double the memory of what it holds. (The hash is
        # keyed per process, so no one can make two copies collide on purpose.) Only the
        # fading (§10.2, "Class") depends on the time, so it is applied to the kept flag.
        known = self._flood_flags.get(msg_id)
        digest = hash(stored.raw)
        if known is not None and known[0] == digest:
            return self._faded(stored, known[1], now)
        flag = self._describe_stored(session, stored, now)
        self._flood_flags[msg_id] = (digest, flag)
        return self._faded(stored, flag, now)

    @staticmethod
    def _has_faded(stored: StoredMessage, now: int) -> bool:
        """Whether a flooded message's item is past its fade time (§10.2, "Class"): no copy
        of it is of class 1 anywhere, so none upgrades ours (a peer without fading may still
        flag it GIVES_LIVE)."""
        fade = fades_at(kind_of(stored.kind), stored.created)
        return fade is not None and now >= fade

    def _faded(self, stored: StoredMessage, flag: int, now: int) -> int:
        """A flooded copy given after its item faded is of class 0 at the peer too (§10.2:
        the fade time comes from `created`, the same at every holder): GIVES_DEAD, not LIVE."""
        return GIVES_DEAD if flag == GIVES_LIVE and self._has_faded(stored, now) else flag

    def _describe_stored(self, session: Session, stored: StoredMessage, now: int) -> int:
        """`_describe` read afresh from a stored copy: its routing and the offer to the peer."""
        read = read_routing(stored)
        offer = None if read is None else self._offer(session, stored, read[0], now)
        if read is None or offer is None:
            return HELD
        given = Routing(max(0, read[0].hops_left - 1), offer.give)
        spreads = self._forwarder.spreads(kind_of(stored.kind), given, offer.give)
        return GIVES_LIVE if spreads else GIVES_DEAD

    # --- the reconciled set ----------------------------------------------------------------

    def _after_intake(self, now: int) -> None:
        """Bring the sync set, the timer and the open sessions up to date with what the
        intake stored, upgraded or removed; news is pushed to every synced peer but its
        sender that we can give a copy to (§10.2: no airtime on what we cannot send)."""
        if self._intake.take_removed():
            self._items = None
        for sender in self._intake.take_opened():
            self._pairs.correspond(sender)  # present the tag of the sender's next DM
        for stored in self._intake.take_upgraded():
            self._reclass(stored, now)
        for stored, source in self._intake.take_stored():
            if kind_of(stored.kind) in _RECONCILED:
                ghost = self._ghosts.discard(stored.id)  # the real message replaces its ghost
                if self._items is not None:
                    if ghost is not None:
                        self._unset(ghost)
                    self._classes[stored.id] = self._class_of(stored, now)
                    self._adding[stored.id] = (stored.created, stored.id)
            self._wake = min(self._wake, self._batched(stored.expires))
            peers = [session for session in self._sessions.values()
                     if session.link != source and session.peer is not None]
            if peers:
                # Read afresh, once: a later put of this call may have evicted or upgraded it.
                current = self.store.get(stored.id)
                for session in peers:
                    if self._describe(session, stored.id, current, now) >= GIVES_DEAD:
                        self._enqueue(session, stored)
        for item in self._intake.take_deleted():  # after the stored: one may be both
            self._drop(item)

    def _drop(self, item: tuple[int, bytes]) -> None:
        """Take a message deleted by id out of the sync set, leaving the set as a rebuild
        from the store would make it: the other items keep their classes, which every change
        of routing or copies already keeps up to date (`_reclass`). A rebuild would read and
        hash every stored item again, and in a replay with a receipt at most contacts that was
        the larger part of the sync set's cost."""
        if self._items is None or self.store.has(item[1]):
            return  # a rebuild is due anyway, or the id was stored again since
        self._classes.pop(item[1], None)
        self._dead_dms.pop(item[1], None)
        self._flood_flags.pop(item[1], None)
        self._unset(item)

    def _unset(self, item: tuple[int, bytes]) -> None:
        if self._adding.get(item[1]) == item:
            del self._adding[item[1]]
        else:
            self._removing.add(item)

    def _class_of(self, stored: StoredMessage, now: int) -> int:
        """The class of a stored message's item at `now`: 1 if a copy could go to some peer
        other than its destination and, for what floods, the item has not faded yet (§10.2).
        Keeps the list of our class-0 DMs and the fade times of class-1 items."""
        read = read_routing(stored)
        kind = kind_of(stored.kind)
        cls = 0
        if read is not None:
            held = self._intake.copies.get(stored.id, read[0].copies)
            cls = int(self._forwarder.spreads(kind, read[0], held))
        fade = fades_at(kind, stored.created)
        if cls and fade is not None:
            if now >= fade:
                cls = 0
            else:
                heapq.heappush(self._fading, (fade, stored.id))
        if kind is Kind.DM and cls == 0 and stored.tag is not None:
            self._dead_dms[stored.id] = stored.tag
        else:
            self._dead_dms.pop(stored.id, None)
        return cls

    def _reclass(self, stored: StoredMessage, now: int) -> None:
        """Re-read the class of a message whose routing, copies or freshness changed."""
        if self._items is None or stored.id not in self._classes:
            return
        cls = self._class_of(stored, now)
        if self._classes[stored.id] != cls:
            self._classes[stored.id] = cls
            item = (stored.created, stored.id)
            self._unset(item)
            self._adding[stored.id] = item

    def _fade(self, now: int) -> None:
        """Move the class-1 items whose fade time has come to class 0 (§10.2, "Class"). Runs
        only when a snapshot is taken, so a session's set never changes under it."""
        while self._fading and self._fading[0][0] <= now:
            msg_id = heapq.heappop(self._fading)[1]
            if self._classes.get(msg_id) == 1:
                stored = self.store.get(msg_id)
                if stored is not None:
                    self._reclass(stored, now)

    def _item_set(self, now: int) -> SortedItems:
        """What we reconcile at `now`, cached: every stored receipt, DM, post and announce with
        its class, and every ghost (class 0); rebuilt after removals, updated for other
        changes (faded items among them)."""
        if self._items is not None:
            self._fade(now)
        if self._items is not None and (self._adding or self._removing):
            try:
                self._items = self._items.updated(add=self._adding.values(),
                                                  remove=self._removing, classes=self._classes)
            except ValueError:  # a ghost and its message under two timestamps: start afresh
                self._items = None
        if self._items is None:
            # Every class is read again: one cached while the set was invalid (an upgrade
            # after a removal) would be stale, and a stale class is a difference at every
            # contact.
            self.stats.sync_rebuilds += 1
            self._classes = {}
            self._dead_dms.clear()
            self._flood_flags.clear()  # bounded by the store: drops the ids removed since
            self._fading.clear()  # refilled by `_class_of`
            items: list[tuple[int, bytes]] = []
            for kind in _RECONCILED:
                listed = self.store.ids_since(0, kind=int(kind))
                for start in range(0, len(listed), _READ_AT_ONCE):  # bounded memory
                    chunk = listed[start:start + _READ_AT_ONCE]
                    found = self.store.get_many([msg_id for _, msg_id in chunk])
                    for item in chunk:
                        stored = found.get(item[1])
                        if stored is not None:
                            items.append(item)
                            self._classes[item[1]] = self._class_of(stored, now)
            for created, ghost_id in self._ghosts.items():
                if ghost_id not in self._classes:
                    items.append((created, ghost_id))
                    self._classes[ghost_id] = 0
            self._items = SortedItems(items, self._classes)
        self._adding.clear()
        self._removing.clear()
        return self._items

