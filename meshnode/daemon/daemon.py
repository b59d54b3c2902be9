"""The node daemon: one `Node` with its SQLite store, the transports and the local API, on trio.

Tasks, all in one nursery:

* transport tasks: each transport's `run`; a forwarder tags its events and queues them for
  the core, all that is waiting at one wakeup (a transport's channel holds
  `TRANSPORT_BUFFER` events, so a burst of frames costs one scheduler round, not one each);
* the core: the only task that calls the `Node` (and the `Service` around it). It takes its
  inputs — transport events, timer and housekeeping ticks, "burst sent" notices and API calls —
  from one bounded channel in batches (what is queued, plus what arrives while scheduler rounds
  keep bringing more, up to `COMMIT_WINDOW` and `MAX_BATCH`), runs a batch through the node in
  one store transaction (group commit, rule 4 of the node's driving contract), commits it on a
  worker thread and only then dispatches the batch's outputs: events are persisted and
  published first (a DM opened for us is in the inbox before anything else happens), then
  frames go to the link senders and API answers to their callers. While the commit's fsync
  runs, the transports keep running (datagrams, ACKs, keepalives) and the core runs the next
  inputs into the next batch (overlap, `meshnode.daemon.groupcommit`: at most one batch
  commits and one is open; the next one's outputs are held until its own COMMIT, after the
  sealed one's, and a failed commit drops both);
* the check-ahead worker (a thread, `meshnode.daemon.checkahead`; `[node] check_ahead`, on by
  default where the process may use `AUTO_CORES` cores): every frame a transport
  delivers is handed to it as it is queued for the core; it decodes the frame and verifies its
  signature (the node's pure `frame_check`) while the core works on earlier inputs, and the
  core puts a ready result into the node (`Node.take_checked`) just before it `receive`s the
  frame, or verifies the frame itself when the result is not ready;
* link senders: one per link, handing the node's frames to the transport in order and then
  telling the core that the burst went out (`Node.ready`);
* the node timer: sleeps until `Node.get_timer()` (woken early when an input moves it
  earlier), then has the core call `Node.handle_timer`;
* housekeeping: every `node.tick` seconds the daemon's own checks (free disk space, DMs the
  inbox could not take yet, the end of urgent dissemination: `meshnode.daemon.radio`); it
  never calls the node;
* the API server on the Unix socket, whose requests become calls queued for the core;
* with `[web] enabled`, the steunpunt's web board (`meshnode.daemon.web`), which reads
  through the same calls;
* the signal watcher: SIGINT or SIGTERM cancels the nursery; once every task has ended, the
  stores are closed (the WAL checkpointed) and the data directory's lock released.

The core never waits for anything but its input channel and its own commit, so no task can
deadlock it. Messages are durable (SQLite, synchronous=FULL) before anything is done with
them: nothing is relayed, answered, published to API clients or reported to a peer (Hello,
Recon, Done) before the COMMIT of its batch returns. What was in flight when the daemon
stopped, or in a batch that could not be committed, is offered again by the peers at the next
sync.

Faults (docs/hub.md, "Faults and recovery"): a full disk refuses writes, not the daemon: API
calls get `storage_full`, messages from peers are dropped (they are offered again), and the
daemon carries on once there is room. A damaged store is moved aside (never deleted) and the
node starts with an empty one that its peers refill; a damaged inbox or contact book, which no
peer can refill, stops the start with a message naming the file and the fix. Any other storage
failure stops the daemon rather than accept messages it cannot keep.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import sqlite3
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeAlias

import trio

from meshnode.crypto.authority import TrustStore
from meshnode.crypto.identity import Identity
from meshnode.crypto.keyfile import KeyFileError
from meshnode.crypto.trustfile import TrustFileError, load_trust
from meshnode.daemon.alertlog import AlertLog
from meshnode.daemon.api import ApiError, ErrorCode, Request, op_name
from meshnode.daemon.apiserver import ApiServer, EventHub
from meshnode.daemon.bitchat import open_bitchat
from meshnode.daemon.checkahead import CheckAhead, Pending
from meshnode.daemon.config import DaemonConfig
from meshnode.daemon.contacts import ContactBook, ContactError
from meshnode.daemon.groupcommit import Batch, GroupCommit, Stage
from meshnode.daemon.inbox import Inbox, InboxError
from meshnode.daemon.lockfile import AlreadyRunning, DataDirLock
from meshnode.daemon.marks import Marks
from meshnode.daemon.radio import RadioSwitch
from meshnode.daemon.service import Service, ServiceInfo, clock_view
from meshnode.daemon.stamps import StampMinter
from meshnode.daemon.tls import Certificate
from meshnode.daemon.views import announce_of
from meshnode.daemon.web import serve_web
from meshnode.events import AlertReceived, Close, LinkId, Output, PostReceived, Send
from meshnode.node import Node
from meshnode.store.base import StoreError
from meshnode.store.sqlite import SqliteStore, StoreCorrupt, StoreFull, check_file, quarantine
from meshnode.transport.base import FrameReceived, LinkUp, Transport, TransportEvent
from meshnode.transport.bitchat.hub import BitchatHub
from meshnode.transport.ble import BleTransport
from meshnode.transport.ble_token import SECRET_FILE, load_or_create_secret
from meshnode.transport.udp import UdpTransport
from meshnode.transport.websocket import WsConfig, WsTransport
from meshnode.wire import Kind

__all__ = ["ALERTS_FILE", "CONTACTS_FILE", "INBOX_FILE", "MARKS_FILE", "STORE_FILE", "Daemon",
           "DaemonError", "run_daemon"]

STORE_FILE = "messages.db"
INBOX_FILE = "inbox.db"
CONTACTS_FILE = "contacts.db"
ALERTS_FILE = "alerts.db"  # alert history and refused alerts (meshnode.daemon.alertlog)
MARKS_FILE = "marks.db"  # channel read marks and sync times (meshnode.daemon.marks)
_TIMER_CAP = 60.0  # the node timer re-reads the clock at least this often (seconds)
INPUT_BUFFER = 64  # queued inputs for the core; small, so that a busy core slows the peers
# Events a transport may hand over without waiting for the daemon to take each one: a
# transport with many frames queued passes them on in one scheduler round, not one per frame.
TRANSPORT_BUFFER = 32
MAX_BATCH = 256  # inputs in one group commit (the queue plus what arrives during a commit)
COMMIT_WINDOW = 0.002  # seconds a batch keeps taking inputs while they keep arriving
QUIET_ROUNDS = 3  # scheduler rounds that bring nothing new end the gathering of a batch
ANNOUNCE_RENEW = 30 * 86_400  # re-announce when our card expires within this
ROOM_AGAIN = 1024 * 1024  # free bytes on the data dir's disk that end a "disk full" episode
HUB_DOC = 'docs/hub.md, "Faults and recovery"'
AUTO_CORES = 4  # `check_ahead = "auto"`: cores for the core, commits, the worker and the rest
CRASH_AT = "MESHNODE_CRASH_AT"  # fault injection for the crash tests: see `CrashPoint`

_log = logging.getLogger("meshnode.daemon")


class DaemonError(Exception):
    """The daemon cannot start; the message says what to do."""


@dataclass(frozen=True, slots=True)
class _Tick:
    """The daemon's own housekeeping is due."""


@dataclass(eq=False)
class _Timer:
    """`Node.handle_timer` is due; `done` is set once the core has called it."""

    done: trio.Event = field(default_factory=trio.Event)


@dataclass(frozen=True, slots=True)
class _Start:
    """The core's first input: renew our announce if needed."""


@dataclass(frozen=True, slots=True)
class _Ready:
    link: LinkId
    generation: int


@dataclass(frozen=True, slots=True)
class _FromTransport:
    transport: Transport
    event: TransportEvent
    check: Pending | None = None  # a frame's check by the check-ahead worker


@dataclass(eq=False)
class _Call:
    request: Request
    done: trio.Event = field(default_factory=trio.Event)
    result: dict[str, Any] | None = None
    error: ApiError | None = None
    retried: bool = False  # its batch failed to commit once and it was run again


_Input: TypeAlias = _FromTransport | _Tick | _Timer | _Ready | _Call | _Start


@dataclass(eq=False)
class _Flight:
    """A sealed batch's commit on its worker thread."""

    done: trio.Event = field(default_factory=trio.Event)
    error: StoreError | None = None  # why it failed: nothing of it was kept
    crash: BaseException | None = None  # anything else the commit's thread raised
    wake: trio.CancelScope | None = None  # the core's wait for an input, ended by the landing


@dataclass(eq=False)
class _Outbox:
    """Frames waiting for one link's sender task."""

    link: LinkId
    transport: Transport
    generation: int
    up_at: float
    frames: deque[bytes] = field(default_factory=deque)
    wake: trio.Event = field(default_factory=trio.Event)
    closed: bool = False

    def push(self, frame: bytes) -> None:
        self.frames.append(frame)
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()

    def open(self) -> bool:
        """Not closed (a method, so that type checkers re-read it after an await)."""
        return not self.closed


class CrashPoint:
    """Fault injection for tests/faults: with ``MESHNODE_CRASH_AT=<point>:<n>`` in its
    environment the daemon SIGKILLs itself the `n`-th time it reaches `point`, so that a test can
    kill a real process at an exact moment of the group commit:

    * ``batch``: a batch has run through the node and written, its COMMIT has not started; the
      other tasks run for `SLOW_COMMIT` seconds first (a slow disk), so that anything released
      too early would reach the peers and API clients before the kill;
    * ``written``: on the commit's thread, the batch's rows were written into its transaction
      (`SqliteStore.write_batch`, the write-behind of its puts), its COMMIT has not run;
    * ``commit``: the COMMIT returned, none of the batch's outputs is released yet;
    * ``verify``: the check-ahead worker just verified a frame's signature, its result not yet
      handed to the core (the kill comes from the worker's thread, the only one that counts
      this point);
    * ``posts``: the batch holding the `n`-th post received from a peer was committed, none of
      its outputs is released yet (a relay killed mid-transfer, at a point that does not
      depend on how quickly a test notices);
    * ``overlap``: on the commit's thread, the sealed batch's rows were written and its COMMIT
      has not run, and the core has run inputs into the next batch meanwhile; the other
      threads run for `SLOW_COMMIT` seconds first, so that anything of either batch released
      too early would reach the peers and API clients before the kill (a commit during which
      the next batch did not start within `OVERLAP_WAIT` seconds does not count).

    Unset (always, outside those tests) it does nothing."""

    POINTS = ("batch", "written", "commit", "verify", "posts", "overlap")
    SLOW_COMMIT = 0.3
    OVERLAP_WAIT = 3.0

    def __init__(self, spec: str | None) -> None:
        self.point, self.left = "", 0
        if spec:
            point, _, count = spec.partition(":")
            if point not in self.POINTS or not count.isdigit() or int(count) < 1:
                raise DaemonError(f"{CRASH_AT}={spec!r}: expected one of "
                                  f"{', '.join(self.POINTS)}, a colon and a count from 1")
            self.point, self.left = point, int(count)

    def reach(self, point: str, visits: int = 1) -> None:
        if self.due(point, visits):
            os.kill(os.getpid(), signal.SIGKILL)

    def due(self, point: str, visits: int = 1) -> bool:
        """Count `visits` to `point`; True when they include the one that kills."""
        if point != self.point or self.left <= 0 or visits <= 0:
            return False
        self.left -= visits
        return self.left <= 0

    def reach_overlapped(self, ran: threading.Event) -> None:
        """On the commit's thread: the ``overlap`` point, once `ran` says the next batch ran."""
        if self.point == "overlap" and ran.wait(self.OVERLAP_WAIT) and self.due("overlap"):
            time.sleep(self.SLOW_COMMIT)
            os.kill(os.getpid(), signal.SIGKILL)

    async def reach_slowly(self, point: str) -> None:
        if self.due(point):
            await trio.sleep(self.SLOW_COMMIT)
            os.kill(os.getpid(), signal.SIGKILL)


def _prepare_data_dir(data_dir: Path) -> None:
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = data_dir.stat().st_mode
    if mode & 0o022:
        raise DaemonError(f"{data_dir} is writable by other users "
                          f"({stat.filemode(mode)}): run `chmod 700 {data_dir}`")


class Daemon:
    """Opens everything on construction (errors early, as `DaemonError`); `run` serves."""

    def __init__(self, data_dir: Path, config: DaemonConfig, identity: Identity, *,
                 transports: Sequence[Transport] | None = None,
                 clock: Callable[[], float] = time.time, handle_signals: bool = True,
                 node_factory: Callable[..., Node] = Node) -> None:
        self.data_dir = data_dir
        self.config = config
        self.handle_signals = handle_signals
        self._clock = clock
        self._crash = CrashPoint(os.environ.get(CRASH_AT))
        self._stack = ExitStack()
        try:
            self._open(identity, transports, node_factory)
        except BaseException:
            self._stack.close()
            raise
        self._boxes: dict[LinkId, _Outbox] = {}
        self._generation = 0
        self._hub = EventHub()
        self.api = ApiServer(data_dir / config.api.socket, self.call, self._hub,
                             max_clients=config.api.max_clients,
                             max_per_client=config.api.max_per_client,
                             idle_timeout=config.api.idle_timeout)
        try:
            self.api.bind()
        except OSError as exc:
            self._stack.close()
            raise DaemonError(f"cannot create the API socket {self.api.path}: "
                              f"{exc.strerror or exc}") from exc
        self._stack.callback(self.api.close)
        # With `stamp_own`, stamps are minted ahead on a worker thread, not on the core.
        self.stamps = (StampMinter(self.node.identity.public.sign_key,
                                   self.node.config.stamp_bits, self._clock)
                       if self.node.config.stamp_own else None)
        self.service = Service(self.node, self.inbox, self.contacts, ServiceInfo(
            str(data_dir), self.peers, self.transport_stats, self.api.stats,
            extra=self._extra_status),
            name=config.node.name, started=self._clock(), alert_log=self.alert_log,
            marks=self.marks, stamps=self.stamps)
        if self._quarantined is not None:
            self._restore_own(self._quarantined)
        self._inputs: trio.MemorySendChannel[_Input] | None = None
        self._nursery: trio.Nursery | None = None
        self._timer_at = 0  # when the node timer task will next wake
        self._timer_moved = trio.Event()  # set when the node's timer came forward
        self.check_ahead = (CheckAhead(self.node.frame_check(),
                                       after_check=lambda: self._crash.reach("verify"))
                            if _checks_ahead(config.node.check_ahead) else None)
        self.web_certificate: Certificate | None = None  # what the board serves over HTTPS
        self.internal_errors = 0
        self._commit: GroupCommit[Output, _Call] = GroupCommit()
        self._overlapped = threading.Event()  # the next batch ran while the sealed one commits
        self.batches = 0  # group commits that succeeded
        self.batched_inputs = 0  # inputs they carried
        self.run_seconds = 0.0  # the core running batches' inputs through the node
        self.wait_seconds = 0.0  # the core waiting for a COMMIT with nothing else to run
        self.storage_full = 0  # writes refused for want of disk space
        self._failed: StoreError | InboxError | None = None  # the storage failure that stopped us
        self._disk_full = False  # in a "disk full" episode (logged once, ended by ROOM_AGAIN)
        self._clock_behind = False  # in a "clock behind" episode (logged once)

    def _open(self, identity: Identity, transports: Sequence[Transport] | None,
              node_factory: Callable[..., Node]) -> None:
        _prepare_data_dir(self.data_dir)
        lock = DataDirLock(self.data_dir)
        try:
            lock.acquire()
        except AlreadyRunning as exc:
            raise DaemonError(str(exc)) from None
        self._stack.callback(lock.release)
        try:
            trust = load_trust(self.data_dir)
        except TrustFileError as exc:
            raise DaemonError(f"cannot read the pinned roots: {exc}") from exc
        for name, what in ((INBOX_FILE, "the direct messages opened for this node"),
                           (CONTACTS_FILE, "the contact book and the keys it pinned")):
            path = self.data_dir / name
            problem = _empty_file(path) or check_file(path)
            if problem is not None:
                raise DaemonError(
                    f"{path} is damaged ({problem}). It holds {what}, which no peer can send "
                    f"again, so the daemon does not replace it: recover it with "
                    f"`sqlite3 {path} .recover | sqlite3 {path}.recovered` and move that in "
                    f"place, or move the damaged file aside (`mv {path} {path}.damaged`) to "
                    f"start with an empty one ({HUB_DOC})")
        try:
            store = self._open_store()
            self._stack.callback(store.close)
            self._store = store
            self.inbox = Inbox(self.data_dir / INBOX_FILE)
            self._stack.callback(self.inbox.close)
            self.contacts = ContactBook(self.data_dir / CONTACTS_FILE)
            self._stack.callback(self.contacts.close)
            self.alert_log = AlertLog(self.data_dir / ALERTS_FILE)
            self._stack.callback(self.alert_log.close)
            self.marks = Marks(self.data_dir / MARKS_FILE)
            self._stack.callback(self.marks.close)
        except (StoreError, InboxError, ContactError) as exc:
            raise DaemonError(f"cannot open the node's files: {exc}") from exc
        # No seed: nonces and DM keys come from the operating system's randomness.
        self.node = node_factory(identity, store, trust, int(self._clock()),
                                 self.config.node.node_config())
        self.bitchat: BitchatHub | None = None
        if self.config.bitchat is not None:  # docs/bitchat.md
            try:
                self.bitchat = open_bitchat(self.data_dir, self.config.bitchat, self.node,
                                            int(self._clock()), clock=self._clock,
                                            call=self.call)
            except KeyFileError as exc:
                raise DaemonError(f"cannot open the bitchat gateway's key: {exc}") from exc
        if transports is None:
            try:
                udp = UdpTransport(self.config.udp)
            except OSError as exc:
                raise DaemonError(str(exc.strerror or exc)) from exc
            self._stack.callback(udp.close_sockets)
            transports = [udp]
            if self.config.ble is not None:
                # The BLE transport never fails the daemon: without a usable adapter it logs
                # what the operator should fix and waits, while UDP keeps working.
                secret = load_or_create_secret(self.data_dir / SECRET_FILE)
                transports.append(BleTransport(self.config.ble, secret=secret,
                                               clock=self._clock))
        self.transports = list(transports)
        # Urgent dissemination: BLE scans and advertises faster while a fresh alert is held.
        self.radio = RadioSwitch([t for t in self.transports if isinstance(t, BleTransport)])
        self._slot_state: tuple[dict[LinkId, float], bool] = ({}, False)  # last `_tell_slots`
        self.residents: WsTransport | None = None
        if self.config.web.enabled and self.config.web.residents:
            # Browser nodes at the steunpunt: their WebSockets are links like any other.
            self.residents = WsTransport(WsConfig(max_links=self.config.web.max_residents))
            self.transports.append(self.residents)

    def _restore_own(self, moved: Path) -> None:
        """After the damaged store was moved aside: publish our own words again (they were
        only in it) and say loudly what came back."""
        now = int(self._clock())
        recovery, outputs = self.service.restore_own(now, str(moved))
        self._dispatch(outputs, now)
        _log.critical("own_messages_restored", extra={"fields": {
            **recovery, "fix": "none needed: this node's own undelivered direct messages and "
            "posts were published again from the inbox; those counted as not restored had "
            f"expired or were sent before sealed copies were kept ({HUB_DOC})"}})

    def _open_store(self) -> SqliteStore:
        """The message store; a damaged one is moved aside (`_quarantined`) and replaced by an
        empty one."""
        self._quarantined: Path | None = None
        path = self.data_dir / STORE_FILE
        capacity = self.config.node.store_mb * 1024 * 1024
        try:
            return SqliteStore(path, capacity)
        except StoreCorrupt as exc:
            try:
                moved = quarantine(path, int(self._clock()))
            except OSError as err:
                raise DaemonError(f"{exc}; moving it aside failed ({err.strerror or err}): "
                                  f"move {path} and its -wal/-shm files out of the data "
                                  f"directory by hand ({HUB_DOC})") from err
            _log.critical("store_quarantined", extra={"fields": {
                "file": str(path), "moved_to": str(moved), "problem": exc.problem,
                "fix": "none needed: the node starts with an empty store and fetches what its "
                       "peers hold; the damaged file is kept for inspection and can be "
                       f"deleted when no longer wanted ({HUB_DOC})"}})
            self._quarantined = moved
            return SqliteStore(path, capacity)

    @property
    def trust(self) -> TrustStore:
        return self.node.trust

    # --- running -------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Serve until cancelled or signalled; then close every file. Runs once.

        Raises `DaemonError` if storage failed while serving (a damaged file, an I/O error).
        """
        try:
            await self._serve(task_status)
        finally:
            left = _descendants(trio.lowlevel.current_task())
            self._stack.close()
            _log.info("stopped", extra={"fields": {"tasks_left": left,
                                                   "data_dir": str(self.data_dir)}})
        if self._failed is not None:
            fix = ("start the daemon again: it moves the damaged store aside and starts with "
                   "an empty one" if isinstance(self._failed, StoreCorrupt)
                   else "check the disk and the file, then start the daemon again")
            raise DaemonError(f"storage failed, so the daemon stopped rather than accept "
                              f"messages it cannot keep: {self._failed}; {fix} "
                              f"({HUB_DOC})") from self._failed

    async def _serve(self, task_status: trio.TaskStatus[None]) -> None:
        send, receive = trio.open_memory_channel[_Input](INPUT_BUFFER)
        self._inputs = send
        if self.check_ahead is not None:
            self.check_ahead.start()
            self._stack.callback(self.check_ahead.close)
        with ExitStack() as signals:
            receiver = (signals.enter_context(trio.open_signal_receiver(signal.SIGINT,
                                                                        signal.SIGTERM))
                        if self.handle_signals else None)
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if receiver is not None:
                    nursery.start_soon(self._watch_signals, receiver, nursery.cancel_scope)
                for transport in self.transports:
                    events, queued = trio.open_memory_channel[TransportEvent](
                        TRANSPORT_BUFFER)
                    nursery.start_soon(transport.run, events)
                    nursery.start_soon(self._forward, transport, queued)
                nursery.start_soon(self._core, receive)
                nursery.start_soon(self._node_timer)
                nursery.start_soon(self._ticker)
                if self.stamps is not None:
                    nursery.start_soon(self.stamps.run)
                if self.bitchat is not None:
                    nursery.start_soon(self.bitchat.run)
                await nursery.start(self.api.serve)
                _log.info("transports", extra={"fields": _transports_in_use(
                    self.config, self.transports)})
                if self.config.web.enabled:  # the steunpunt board (docs/steunpunt.md)
                    self.web_certificate = await nursery.start(partial(
                        serve_web, self.config.web, self.call, self.residents,
                        clock=self._clock))
                _log.info("ready", extra={"fields": {
                    "node_id": self.node.identity.node_id.hex(),
                    "fingerprint": self.node.identity.fingerprint,
                    "data_dir": str(self.data_dir), "api": str(self.api.path),
                    "udp": ",".join(str(t.local) for t in self.transports
                                    if isinstance(t, UdpTransport)),
                    "peers": ",".join(str(p) for p in self.config.udp.peers),
                    "roots": len(self.node.trust.roots),
                    "stored": self.node.held.usage().count}})
                task_status.started()

    async def _watch_signals(self, receiver: Any, scope: trio.CancelScope) -> None:
        async for signum in receiver:
            _log.info("stopping", extra={"fields": {"signal": signal.Signals(signum).name}})
            scope.cancel()
            return

    async def _forward(self, transport: Transport,
                       queued: trio.MemoryReceiveChannel[TransportEvent]) -> None:
        """Pass a transport's events on to the core, in order: everything the transport has
        queued at one wakeup, without a scheduler round per event while the core's queue has
        room (a frame costs the core's thread two task switches less)."""
        inputs = self._inputs
        assert inputs is not None
        with suppress(trio.EndOfChannel):  # the transport closed its channel: it stopped
            while True:
                event: TransportEvent | None = await queued.receive()
                while event is not None:
                    item = _FromTransport(transport, event, self._submit_check(event))
                    try:
                        inputs.send_nowait(item)
                    except trio.WouldBlock:
                        await inputs.send(item)
                    try:
                        event = queued.receive_nowait()
                    except trio.WouldBlock:
                        event = None

    def _submit_check(self, event: TransportEvent) -> Pending | None:
        if self.check_ahead is None or not isinstance(event, FrameReceived):
            return None
        return self.check_ahead.submit(event.data)

    async def _ticker(self) -> None:
        assert self._inputs is not None
        while True:
            await trio.sleep(self.config.node.tick)
            await self._inputs.send(_Tick())

    async def _node_timer(self) -> None:
        """Call `Node.handle_timer` when `Node.get_timer` says, and not before."""
        assert self._inputs is not None
        while True:
            self._timer_at = self.node.get_timer()
            delay = self._timer_at - self._clock()
            if delay > 0:
                self._timer_moved = trio.Event()
                # Capped, so that a step of the wall clock (NTP coming back) is noticed.
                with trio.move_on_after(min(delay, _TIMER_CAP)):
                    await self._timer_moved.wait()
                continue
            due = _Timer()
            await self._inputs.send(due)
            await due.done.wait()

    async def call(self, request: Request) -> dict[str, Any]:
        """Have the core answer an API request; raises `ApiError`."""
        assert self._inputs is not None
        pending = _Call(request)
        await self._inputs.send(pending)
        await pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    # --- the core ------------------------------------------------------------------------------

    async def _core(self, inputs: trio.MemoryReceiveChannel[_Input]) -> None:
        """Group commit, overlapped (`meshnode.daemon.groupcommit`): take what is queued, run
        it through the node into the open batch, seal the batch and commit it on a worker
        thread; while that COMMIT runs (the transports run too), the next inputs run into the
        next batch. A batch's frames, events and API answers are released only when its own
        COMMIT has returned, batch after batch in order."""
        pending: deque[_Input] = deque([_Start()])
        flight: _Flight | None = None
        try:
            while True:
                # A landed batch goes out first: its release never waits for the next run.
                if flight is not None and flight.done.is_set():
                    if not self._land(flight, pending):
                        return
                    flight = None
                if flight is None and self._commit.stage is Stage.OPEN:
                    flight = await self._launch()
                room = MAX_BATCH - self._commit.open_inputs
                if not pending or room == 0:
                    await self._next_input(inputs, pending, flight)
                    continue
                await _gather(inputs, pending, room, None if flight is None else flight.done)
                if flight is not None and flight.done.is_set():
                    continue  # what was gathered runs into the batch after the landed one
                if not self._run(pending, room):
                    return
        finally:
            if flight is not None:  # a stopping daemon waits for the commit in the air
                with trio.CancelScope(shield=True):
                    await flight.done.wait()

    def _run(self, pending: deque[_Input], room: int) -> bool:
        """Run up to `room` queued inputs into the open batch (opening it); their outputs and
        calls are held. False if storage failed and the daemon is stopping."""
        started = time.monotonic()
        now = int(self._clock())
        outputs: list[Output] = []
        calls: list[_Call] = []
        if not self.node.in_batch:
            self.node.begin_batch()
        count = min(room, len(pending))
        if self._commit.committing:
            self._overlapped.set()  # the next batch runs while the sealed one commits
        for _ in range(count):
            item = pending.popleft()
            try:
                outputs.extend(self._step(item, now, calls))
            except Exception as exc:
                # A full disk: nothing of this input was stored; peers offer it again.
                if not self._contain(exc, type(item).__name__):
                    return False
        self._commit.run(outputs, calls, count)
        self.run_seconds += time.monotonic() - started
        return True

    async def _next_input(self, inputs: trio.MemoryReceiveChannel[_Input],
                          pending: deque[_Input], flight: _Flight | None) -> None:
        """Wait for an input or, while a commit is in the air, for whichever comes first:
        an input (if the open batch has room) or the commit's end. (With no commit in the air
        no batch is open, so there is always room.)"""
        if flight is None:
            pending.append(await inputs.receive())
            return
        started = time.monotonic()
        if self._commit.open_inputs >= MAX_BATCH:
            await flight.done.wait()
        elif not flight.done.is_set():
            with trio.CancelScope() as flight.wake:  # cancelled by the landing (`_landed`)
                pending.append(await inputs.receive())  # a cancelled receive takes none
            flight.wake = None
        self.wait_seconds += time.monotonic() - started

    async def _launch(self) -> _Flight | None:
        """Seal the open batch. One that wrote nothing commits at once (no disk to wait for)
        and is released; otherwise its commit starts on a worker thread: its flight."""
        if not self.node.batch_writes:
            self.node.commit_batch()
            self._commit.seal()
            self._release(self._commit.landed())
            return None
        await self._crash.reach_slowly("batch")
        self.node.seal_batch()
        self._commit.seal()
        self._overlapped.clear()
        flight = _Flight()
        # The thread starts now, not when the scheduler next runs a task: a statement of the
        # next batch may block the core's thread until this COMMIT is through.
        token = trio.lowlevel.current_trio_token()
        trio.lowlevel.start_thread_soon(
            partial(self.node.commit_sealed, self._written),
            lambda result: token.run_sync_soon(self._landed, flight, result))
        return flight

    @staticmethod
    def _landed(flight: _Flight, result: Any) -> None:
        """On the core's thread, once the commit's thread is through (`result`, trio's outcome
        of it): the flight's end."""
        try:
            result.unwrap()
        except StoreError as exc:
            flight.error = exc
        except BaseException as exc:  # a bug: raised by the core when it lands the flight
            flight.crash = exc
        flight.done.set()
        if flight.wake is not None:
            flight.wake.cancel()  # the core waits for an input: the landing comes first

    def _written(self) -> None:
        """On the commit's thread, between the sealed batch's rows and its COMMIT: the crash
        points of that moment (`CrashPoint`)."""
        self._crash.reach("written")
        self._crash.reach_overlapped(self._overlapped)

    def _land(self, flight: _Flight, pending: deque[_Input]) -> bool:
        """The sealed batch's commit is through: release its outputs, or after a full disk
        drop them and the open batch's. False if storage failed and the daemon is stopping."""
        now = int(self._clock())
        if flight.crash is not None:
            raise flight.crash
        if flight.error is not None:
            if not _is_disk_full(flight.error):
                self._fail(flight.error)
                return False
            return self._abort(flight.error, self._commit.failed(), pending, now)
        self.node.land_batch()
        self._crash.reach("commit")
        return self._release(self._commit.landed())

    def _release(self, batch: Batch[Output, _Call]) -> bool:
        """A committed batch: answer its calls, then hand out its events and frames."""
        self.batches += 1
        self.batched_inputs += batch.inputs
        self._crash.reach("posts", sum(isinstance(o, PostReceived) for o in batch.outputs))
        for call in batch.calls:
            call.done.set()
        try:
            self._dispatch(batch.outputs, int(self._clock()))
        except Exception as exc:  # recording events in the inbox, alert log, marks
            if not self._contain(exc, "dispatch"):
                return False
        if self.node.get_timer() < self._timer_at:
            self._timer_moved.set()  # an input brought the node's timer forward
        return True

    def _abort(self, exc: StoreError, lost: list[Batch[Output, _Call]],
               pending: deque[_Input], now: int) -> bool:
        """A commit found the disk full: nothing of the sealed batch, nor of the batch run
        after it, was kept. Their frames and events are dropped (links they closed are
        closed) and the node starts its sessions over, so that peers offer the messages again.
        Their API calls run again first thing in the next batch (one that reads, like
        `status`, must not fail with its neighbours; one that writes is refused there by its
        own write); a call that was already run again is answered `storage_full`."""
        error = self._refuse_for_disk(exc)
        calls = [call for batch in lost for call in batch.calls]
        for call in reversed(calls):
            call.result, call.error = None, None
            if call.retried:
                call.error = error
                call.done.set()
            else:
                call.retried = True
                pending.appendleft(call)
        closes: list[Output] = [out for batch in lost for out in batch.outputs
                                if isinstance(out, Close)]
        try:
            self._dispatch(closes + self.node.abort_batch(now), now)
        except Exception as exc:
            return self._contain(exc, "abort")
        return True

    def _contain(self, exc: Exception, what: str) -> bool:
        """Handle an error out of the node or the service; False if the daemon must stop."""
        if _is_disk_full(exc):  # the store or another of the node's files (inbox, marks, ...)
            self._note_disk_full(exc)
            return True
        if isinstance(exc, (StoreError, InboxError)):
            self._fail(exc)
            return False
        self.internal_errors += 1
        _log.exception("internal_error", extra={"fields": {"input": what}})
        return True

    def _fail(self, exc: StoreError | InboxError) -> None:
        """The disk failed: stop rather than accept messages we cannot keep."""
        _log.critical("storage_failed", extra={"fields": {"error": str(exc)}})
        self._failed = exc
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()

    def _step(self, item: _Input, now: int, calls: list[_Call]) -> list[Output]:
        """Run one input through the node (inside the open batch); its outputs, held."""
        outputs: list[Output] = []
        if isinstance(item, _FromTransport):
            event = item.event
            if isinstance(event, FrameReceived):
                if event.link in self._boxes:
                    self._take_check(item.check)
                    outputs = self.node.receive(event.link, event.data, now)
            elif isinstance(event, LinkUp):
                self._link_up(item.transport, event.link)
                outputs = self.node.link_up(event.link, now)
            else:
                box = self._boxes.pop(event.link, None)
                if box is not None:
                    box.close()
                    outputs = self.node.link_down(event.link, now)
                    self._publish("link_down", {"link": str(event.link), "reason": event.reason})
        elif isinstance(item, _Ready):
            box = self._boxes.get(item.link)
            if box is not None and box.generation == item.generation:
                outputs = self.node.ready(item.link, now)
        elif isinstance(item, _Timer):
            try:
                outputs = self.node.handle_timer(now)
            finally:
                item.done.set()
        elif isinstance(item, _Tick):
            self.radio.update(now)
            self._check_room()
            self._check_clock(now)
            self.service.retry_unrecorded()
            if self.stamps is not None:
                self.stamps.give_due(self.node, now)
        elif isinstance(item, _Start):
            outputs = self._announce_if_needed(now)
        else:
            calls.append(item)
            outputs = self._answer(item, now)
        return outputs

    def _take_check(self, check: Pending | None) -> None:
        """Give the node the worker's result for the frame about to be received, if it is
        ready; if not, `receive` verifies the frame itself (never waits, never skips)."""
        entries = (None if check is None or self.check_ahead is None
                   else self.check_ahead.take(check))
        if entries is not None:
            self.node.take_checked(entries)

    def _link_up(self, transport: Transport, link: LinkId) -> None:
        old = self._boxes.pop(link, None)
        if old is not None:  # a transport that skipped LinkDown: start afresh all the same
            old.close()
            self.node.link_down(link, int(self._clock()))
        self._generation += 1
        box = _Outbox(link, transport, self._generation, self._clock())
        self._boxes[link] = box
        assert self._nursery is not None
        self._nursery.start_soon(self._link_sender, box)
        self._publish("link_up", {"link": str(link)})

    def _answer(self, call: _Call, now: int) -> list[Output]:
        outputs: list[Output] = []
        try:
            call.result, outputs = self.service.handle(call.request, now)
        except ApiError as exc:
            call.error = exc
        except (StoreError, InboxError) as exc:
            if not _is_disk_full(exc):
                raise
            call.error = self._refuse_for_disk(exc)
        except Exception as exc:
            if _is_disk_full(exc):  # another of the node's files (contacts, ...)
                call.error = self._refuse_for_disk(exc)
                return outputs
            self.internal_errors += 1
            _log.exception("internal_error", extra={"fields": {"op": op_name(call.request)}})
            call.error = ApiError(ErrorCode.INTERNAL, "internal error; the daemon's log has "
                                                      "the details")
        return outputs

    def _dispatch(self, outputs: list[Output], now: int) -> None:
        for name, data in self.service.record(outputs, now, wanted=self._wanted):
            self._publish(name, data)
        if self.bitchat is not None:
            self.bitchat.observe(outputs, now)
        for out in outputs:
            if isinstance(out, Send):
                box = self._boxes.get(out.link)
                if box is not None:
                    box.push(out.data)
            elif isinstance(out, AlertReceived):
                self.radio.alert_received(out.verified.alert.sent, now)
            elif isinstance(out, Close):
                box = self._boxes.get(out.link)
                if box is not None:
                    assert self._nursery is not None
                    _log.info("closing_link", extra={"fields": {"link": str(out.link),
                                                                "reason": out.reason}})
                    self._nursery.start_soon(self._close_link, box, out.reason)
        self._tell_slots(now)

    def _tell_slots(self, now: int) -> None:
        """Give the BLE transports the connection slot rule's inputs when they change: which
        links have nothing to carry, since when (`Node.idle_since`), and whether a fresh alert
        is held (`meshnode.transport.slots`)."""
        if not self.radio.transports:
            return
        idle: dict[LinkId, float] = {}
        for link in self.node.links():
            since = self.node.idle_since(link)
            if since is not None:
                idle[link] = float(since)
        state = (idle, self.radio.urgent(now))
        if state == self._slot_state:
            return
        self._slot_state = state
        for transport in self.radio.transports:
            transport.set_idle(idle, state[1])

    def _refuse_for_disk(self, exc: BaseException) -> ApiError:
        self._note_disk_full(exc)
        return ApiError(ErrorCode.STORAGE_FULL, (
            f"the disk holding {self.data_dir} is full, so nothing was stored: free space on it "
            "(or move the data directory to a larger disk) and try again; the daemon carries "
            "on by itself once there is room"))

    def _note_disk_full(self, exc: BaseException) -> None:
        self.storage_full += 1
        if not self._disk_full:
            self._disk_full = True
            _log.error("disk_full", extra={"fields": {
                "error": str(exc), "data_dir": str(self.data_dir),
                "free_bytes": _free_bytes(self.data_dir),
                "fix": "free space on this disk; writes are refused until then, and "
                       "resume by themselves"}})

    def _check_clock(self, now: int) -> None:
        """Log, once per episode, that our clock is behind what verified alerts proved."""
        clock = clock_view(now, self.node.clock_floor)
        if clock["behind"] and not self._clock_behind:
            _log.critical("clock_behind", extra={"fields": {
                "now": now, "floor": clock["floor"], "behind_s": clock["behind"],
                "fix": clock["warning"]}})
        elif not clock["behind"] and self._clock_behind:
            _log.warning("clock_ok", extra={"fields": {"now": now, "floor": clock["floor"]}})
        self._clock_behind = bool(clock["behind"])

    def _check_room(self) -> None:
        if not self._disk_full:
            return
        free = _free_bytes(self.data_dir)
        if free >= ROOM_AGAIN:
            self._disk_full = False
            _log.warning("disk_space_available", extra={"fields": {
                "free_bytes": free, "refused": self.storage_full}})

    def _wanted(self, name: str) -> bool:
        """Whether an API event called `name` has a reader: a subscriber or the log."""
        return self._hub.listens(name) or _log.isEnabledFor(_LOGGED.get(name, _UNLOGGED)[0])

    def _publish(self, name: str, data: dict[str, Any]) -> None:
        self._hub.publish(name, data)
        level, keys = _LOGGED.get(name, _UNLOGGED)
        if _log.isEnabledFor(level):
            _log.log(level, name, extra={"fields": {k: data.get(k) for k in keys}})

    async def _close_link(self, box: _Outbox, reason: str) -> None:
        try:
            await box.transport.close(box.link, reason)
        except Exception:
            self.internal_errors += 1
            _log.exception("close_failed", extra={"fields": {"link": str(box.link)}})

    async def _link_sender(self, box: _Outbox) -> None:
        assert self._inputs is not None
        while True:
            if not box.frames and not box.closed:
                box.wake = trio.Event()
                await box.wake.wait()
            if box.closed:
                return
            while box.frames and box.open():
                frame = box.frames.popleft()
                try:
                    await box.transport.send(box.link, frame)
                except Exception:  # a transport bug costs this frame, not the daemon
                    self.internal_errors += 1
                    _log.exception("send_failed", extra={"fields": {"link": str(box.link)}})
            if isinstance(box.transport, UdpTransport):
                box.transport.flush(box.link)  # the burst is whole: its last datagram now
            if box.open():
                await self._inputs.send(_Ready(box.link, box.generation))

    def _announce_if_needed(self, now: int) -> list[Output]:
        name = self.config.node.name
        if not name:
            return []
        own = self.node.identity.public.sign_key
        for stored in self.node.held.by_kind(int(Kind.ANNOUNCE)):
            card = announce_of(stored)
            if (card is not None and card.sign_key == own and card.name == name
                    and card.expires > now + ANNOUNCE_RENEW):
                return []
        return self.node.announce(name, now).outputs

    # --- introspection ---------------------------------------------------------------------------

    def _extra_status(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.bitchat is not None:
            extra["bitchat"] = self.bitchat.status()
        if self.web_certificate is not None:
            extra["web"] = {"https": self.web_certificate.status(self._clock())}
        return extra

    def peers(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for transport in self.transports:
            if isinstance(transport, UdpTransport):
                out.extend({**_peer_dict(p), "transport": "udp"} for p in transport.peers())
        listed = {p["link"] for p in out}
        for box in self._boxes.values():
            if str(box.link) not in listed:
                out.append({"link": str(box.link), "transport": _transport_kind(box.transport),
                            "state": "up", "up_since": _whole(box.up_at)})
        return out

    def transport_stats(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for transport in self.transports:
            if isinstance(transport, UdpTransport):
                for key, value in transport.stats().items():
                    total[key] = total.get(key, 0) + value
            elif isinstance(transport, WsTransport):  # browser nodes, kept apart
                total.update({f"ws_{k}": v for k, v in transport.stats().items()})
        total["internal_errors"] = self.internal_errors
        total["storage_full"] = self.storage_full
        total["commits"] = self.batches  # group commits, and the inputs they carried
        total["commit_inputs"] = self.batched_inputs
        total["core_run_ms"] = round(1000 * self.run_seconds)  # where the core's time went
        total["commit_wait_ms"] = round(1000 * self.wait_seconds)
        # Statements of a batch that waited for the sealed batch's COMMIT (not overlapped).
        total["sealed_waits"] = self._store.waits
        if self.check_ahead is not None:
            total["checked_ahead"] = self.check_ahead.ahead  # frames the worker checked in time
            total["checked_inline"] = self.check_ahead.inline  # and those the core checked
        return total


async def _gather(inputs: trio.MemoryReceiveChannel[_Input], pending: deque[_Input],
                  room: int, landed: trio.Event | None) -> None:
    """Add what is queued to the batch, letting the other tasks (transports) run a scheduler
    round at a time, until `QUIET_ROUNDS` rounds bring nothing, `COMMIT_WINDOW` has passed,
    `room` inputs are pending or the commit in the air has `landed`."""
    deadline = trio.current_time() + COMMIT_WINDOW
    quiet = 0
    while (quiet < QUIET_ROUNDS and len(pending) < room
           and not (landed is not None and landed.is_set())):
        taken = 0
        while len(pending) < room:
            try:
                pending.append(inputs.receive_nowait())
            except trio.WouldBlock:
                break
            taken += 1
        quiet = 0 if taken else quiet + 1
        if trio.current_time() >= deadline:
            return
        await trio.lowlevel.checkpoint()


def _checks_ahead(setting: str) -> bool:
    """Whether to run the check-ahead worker (`[node] check_ahead`). It only pays when it gets
    a core of its own: on a 2-core machine whose other core is busy it made the hub slower
    (docs/benchmarks.md), so "auto" runs it only where the process may use `AUTO_CORES`."""
    if setting == "auto":
        return len(os.sched_getaffinity(0)) >= AUTO_CORES
    return setting == "on"


def _is_disk_full(exc: BaseException) -> bool:
    """Whether a storage error (store, inbox, contacts) means the disk has no room."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, StoreFull):
            return True
        if isinstance(cause, sqlite3.Error) and (
                getattr(cause, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_FULL:
            return True
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        cause = cause.__cause__
    return False


def _empty_file(path: Path) -> str | None:
    """A 0-byte file where the daemon keeps a database: SQLite would take it as a new, empty
    one, but a file this daemon wrote never has 0 bytes (its header is written when it is
    created), so it was truncated or overwritten and what it held is lost."""
    try:
        empty = path.stat().st_size == 0
    except FileNotFoundError:
        return None
    if empty:
        return "the file is empty (0 bytes): it was truncated or overwritten"
    return None


def _free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return 0


BLE_OFF = ("off: the config has no [transport.ble] section with enabled = true (`meshnode "
           "init` writes one; docs/hardware.md)")


def _transports_in_use(config: DaemonConfig, transports: Sequence[Transport]) -> dict[str, str]:
    """What each transport is doing at start, and why Bluetooth is not, for the start-up log."""
    out = {"udp": "off", "ble": BLE_OFF}
    udp = [str(t.local) for t in transports if isinstance(t, UdpTransport)]
    if udp:
        out["udp"] = "listening on " + ",".join(udp)
    ble = config.ble
    if any(isinstance(t, BleTransport) for t in transports) and ble is not None:
        roles = " and ".join(r for r, on in (("central", ble.central),
                                            ("peripheral", ble.peripheral)) if on)
        out["ble"] = (f"on: adapter {ble.adapter or 'first powered'}, {roles}; what BlueZ or "
                      "the adapter lacks is logged by meshnode.transport.ble")
    elif ble is not None:
        out["ble"] = "off: this daemon was given its transports (a test or the simulator)"
    others = sorted({_transport_kind(t) for t in transports} - {"udp", "ble"})
    if others:
        out["other"] = ",".join(others)
    return out


def _transport_kind(transport: Transport) -> str:
    """`udp`, `ble`, `websocket` (browser nodes) or `memory` (tests and the simulator): what
    the Peers view shows."""
    if isinstance(transport, UdpTransport):
        return "udp"
    if isinstance(transport, WsTransport):
        return "websocket"
    return "ble" if isinstance(transport, BleTransport) else "memory"


def _peer_dict(p: Any) -> dict[str, Any]:
    # Times are whole unix seconds, as everywhere in the API.
    return {"link": p.link, "address": p.address, "state": p.state, "static": p.static,
            "up_since": _whole(p.up_since), "last_heard": _whole(p.last_heard),
            "rtt_ms": p.rtt_ms,
            "datagrams_in": p.datagrams_in, "datagrams_out": p.datagrams_out,
            "resent": p.resent, "in_flight": p.in_flight}


# Which API events the daemon logs, at what level, with which fields (others: `_UNLOGGED`).
_UNLOGGED: tuple[int, tuple[str, ...]] = (logging.DEBUG, ())
_LOGGED: dict[str, tuple[int, tuple[str, ...]]] = {
    "post_received": (logging.DEBUG, ("id", "channel")),
    "dm_received": (logging.INFO, ("id",)),
    "dm_carried": (logging.INFO, ("id", "handovers")),
    "dm_delivered": (logging.INFO, ("id",)),
    "alert_received": (logging.WARNING, ("id", "identifier", "issuer", "severity",
                                         "covers_here")),
    "alert_removed": (logging.INFO, ("id", "reason")),
    "trust_updated": (logging.WARNING, ("id", "what")),
    "key_warning": (logging.WARNING, ("name", "detail", "new_fingerprint")),
    "link_up": (logging.INFO, ("link",)),
    "link_down": (logging.INFO, ("link", "reason")),
    "rejected": (logging.DEBUG, ("link", "kind", "reason")),
}


def _whole(ts: float | None) -> int | None:
    return None if ts is None else int(ts)


def _descendants(task: trio.lowlevel.Task) -> int:
    return sum(1 + _descendants(child) for nursery in task.child_nurseries
               for child in nursery.child_tasks)


async def run_daemon(data_dir: Path, config: DaemonConfig, identity: Identity) -> None:
    """Open the daemon on `data_dir` and serve until SIGINT/SIGTERM."""
    _log.info("starting", extra={"fields": {"pid": os.getpid(), "data_dir": str(data_dir)}})
    daemon = Daemon(data_dir, config, identity)
    await daemon.run()
