"""Durable message store on SQLite, for the daemon.

Durability contract: once `put` (or `put_many`, `delete`, `expire`, `mark_seen`, `set_meta`)
returns, the change survives a crash of the process *and* a power failure. Hence WAL with
`synchronous=FULL`: WAL with NORMAL survives a process crash but may lose the last commits on
power loss, and a neighbourhood hub runs exactly where power fails. Each write, including the
evictions it causes, is one transaction: it happens completely or not at all.

Group commit: between `begin_batch` and `commit_batch` every write joins one transaction
(each write in a savepoint of its own, so a failed write still changes nothing), and the
durability promise moves to `commit_batch`: nothing written in the batch survives a crash
before it returns, everything does after. Reads in a batch see its writes. `commit_batch` may
run on a worker thread while the caller's thread leaves the store alone (the fsync is the slow
part, and the GIL is released meanwhile). If a commit fails, or SQLite abandons the
transaction itself (a full disk), the whole batch is rolled back and `commit_batch` raises.

Write-behind within a batch: a `put` that needs no eviction (the common case on a hub taking
a flood) runs no SQL on the caller's thread. Its row waits in the batch's pending map, which
`get` (and the in-memory id sets behind `has`) answers from, and the pending rows are written
with one `executemany` just before the next statement that must see them (any other write of
the messages in the batch, or a query of them; seen marks and meta leave them pending) or, at
the latest, by `write_batch` or `commit_batch` before the COMMIT, on the commit's thread. A
pending row that cannot be written (a full disk) voids the whole batch: a batch is durable
whole or not at all, so nothing a caller released only after the COMMIT is lost.

Overlap: a batch may be sealed (`seal_batch`) and committed on a worker thread
(`commit_sealed`) while the caller already runs the next batch. The sealed batch's rows pend
until its thread writes them, so the next batch's reads see them (`get`, the id sets, the
totals, which the next batch starts from). SQLite allows one writer and the connection one
thread, so any statement the next batch needs waits, on the caller's thread, until the sealed
batch's COMMIT returned (`waits` counts those); then the sealed batch is landed (its totals
adopted) and the statement runs in the next batch's own transaction, never in the sealed one's.
If the sealed batch's commit fails, the next batch is void too (it was built on the sealed
one's writes): `rollback_batch` discards both. `land_batch` lands a sealed batch whose commit
returned without waiting for a statement.

Counters (bytes used, counts per kind, seen entries) and the sets of stored and seen ids are
computed from the tables at open and then maintained in memory, so that the membership tests
every incoming message needs cost no SQL; they are adopted only after a commit succeeded.

Every `sqlite3` failure surfaces as `StoreError`; two are told apart because the daemon acts
on them: `StoreFull` (the disk has no room: the write changed nothing, retry once there is room)
and `StoreCorrupt` (the file is damaged: SQLite reports it malformed or not a database, or the
quick check run at every open finds a fault). `quarantine` moves a damaged file aside, never
deleting it. Not thread-safe: callers serialise access (the connection may be used from worker
threads, one at a time).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from meshnode.store.base import (
    DEFAULT_SEEN_CAPACITY,
    Candidate,
    PutResult,
    SchemaVersionError,
    StoredMessage,
    StoreError,
    StoreUsage,
    check_bound,
    check_capacity,
    check_channel,
    check_id,
    check_key,
    check_limit,
    check_message,
    check_meta,
    check_uint,
    eviction_rank,
    is_expired,
    message_size,
    plan_eviction,
)

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "SqliteStore",
    "StoreCorrupt",
    "StoreFull",
    "check_file",
    "quarantine",
]

APPLICATION_ID = 0x6D657368  # "mesh": marks the file as a meshnode store
SCHEMA_VERSION = 1

_SCHEMA = (
    """CREATE TABLE messages (
        id BLOB NOT NULL UNIQUE,
        kind INTEGER NOT NULL,
        raw BLOB NOT NULL,
        raw_len INTEGER NOT NULL,
        priority INTEGER NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL,
        received INTEGER NOT NULL,
        channel TEXT,
        tag BLOB,
        issuer BLOB,
        seq INTEGER,
        ref BLOB,
        pinned INTEGER NOT NULL
    )""",
    "CREATE INDEX messages_sync ON messages (created, id)",
    "CREATE INDEX messages_kind ON messages (kind, created, id)",
    "CREATE INDEX messages_channel ON messages (channel, created, id) WHERE channel IS NOT NULL",
    "CREATE INDEX messages_tag ON messages (tag, created, id) WHERE tag IS NOT NULL",
    "CREATE INDEX messages_ref ON messages (ref, created, id) WHERE ref IS NOT NULL",
    "CREATE INDEX messages_issuer ON messages (issuer, seq, id) WHERE issuer IS NOT NULL",
    "CREATE INDEX messages_expires ON messages (expires)",
    # Mirrors base.eviction_rank (priority, created, -size, id); covers the eviction scan.
    """CREATE INDEX messages_evict ON messages
        (priority, created, raw_len DESC, id, expires, kind, pinned) WHERE pinned = 0""",
    """CREATE TABLE seen (
        id BLOB PRIMARY KEY,
        marked INTEGER NOT NULL,
        serial INTEGER NOT NULL UNIQUE
    ) WITHOUT ROWID""",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
)

_CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_QUICK_CHECK_LINES = 5  # problems quoted in a StoreCorrupt message


class StoreFull(StoreError):
    """The disk holding the file has no room (or its quota is spent); nothing was written."""


class StoreCorrupt(StoreError):
    """The file is damaged; `path` names it and `problem` says what SQLite found."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path} is damaged: {problem}")
        self.path = path
        self.problem = problem


def _classify(path: str, what: str, e: sqlite3.Error) -> StoreError:
    """The typed `StoreError` for a failed SQLite call."""
    code = getattr(e, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
    if code == sqlite3.SQLITE_FULL:
        return StoreFull(f"{path}: {what} failed: the disk is full; nothing was written")
    if code in _CORRUPT_CODES:
        return StoreCorrupt(path, str(e))
    if type(e) is sqlite3.DatabaseError:
        return StoreError(f"{path}: {what} failed: {e} (corrupt file or not a meshnode store?)")
    return StoreError(f"{path}: {what} failed: {e}")


def _quick_check(db: sqlite3.Connection, path: str) -> None:
    """Raise `StoreCorrupt` unless SQLite's quick check passes (b-tree pages, records)."""
    rows = db.execute(f"PRAGMA quick_check({_QUICK_CHECK_LINES})").fetchall()
    problems = [str(row[0]) for row in rows if row[0] != "ok"]
    if problems:
        raise StoreCorrupt(path, "; ".join(problems))


def check_file(path: str | os.PathLike[str]) -> str | None:
    """What is wrong with the SQLite file at `path` (None: sound, or absent).

    For files the daemon keeps besides the store (inbox, contacts): a damaged file is found
    before it is used. Errors other than damage (permissions, a full disk) are left for the
    file's own open to report, so they return None.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        return None
    try:
        db = sqlite3.connect(name, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        _quick_check(db, name)
    except StoreCorrupt as e:
        return e.problem
    except UnicodeDecodeError as e:
        return f"text that is not UTF-8: {e.reason}"
    except sqlite3.Error as e:
        if getattr(e, "sqlite_errorcode", 0) & 0xFF in _CORRUPT_CODES:
            return str(e)
    finally:
        db.close()
    return None


def quarantine(path: str | os.PathLike[str], now: int) -> Path:
    """Move a damaged database aside, with its `-wal` and `-shm`; return its new path.

    The new name is ``PATH.corrupt-YYYYMMDDTHHMMSSZ`` (from `now`, with ``.N`` added if taken);
    its journal files follow it, so SQLite tools open the set as it was. Nothing is deleted.
    Raises `OSError` if the file cannot be moved.
    """
    src = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    dest = src.with_name(f"{src.name}.corrupt-{stamp}")
    n = 0
    while any(Path(f"{dest}{s}").exists() for s in ("", "-wal", "-shm")):
        n += 1
        dest = src.with_name(f"{src.name}.corrupt-{stamp}.{n}")
    # Journal files first: a crash in between leaves the main file where the next start
    # finds it again, never a main file beside a stranger's WAL.
    for suffix in ("-wal", "-shm"):
        journal = Path(f"{src}{suffix}")
        if journal.exists():
            journal.rename(f"{dest}{suffix}")
    src.rename(dest)
    return dest


_IDS_PER_QUERY = 500  # ids bound in one `get_many` query (SQLite's limit is 32,766, or 999)
_COLUMNS = (
    "id, kind, raw, priority, created, expires, received, channel, tag, issuer, seq, ref, pinned"
)
_EVICT_ORDER = "ORDER BY priority, created, raw_len DESC, id"
_CANDIDATE = "id, kind, raw_len, priority, created"
# Writes that touch no row of `messages`: in a batch, the pending rows stay pending past them
# (a flood of posts over their authors' quota marks each one seen).
_OTHER_TABLES = frozenset({"mark_seen", "set_meta", "delete_meta"})
_INSERT = f"INSERT INTO messages ({_COLUMNS}, raw_len) VALUES ({', '.join('?' * 14)})"

_Row = tuple[
    bytes,
    int,
    bytes,
    int,
    int,
    int,
    int,
    str | None,
    bytes | None,
    bytes | None,
    int | None,
    bytes | None,
    int,
]


_IdChange = tuple[set[bytes], bytes, bool]  # (the set, the id, True: added / False: removed)


@dataclass(slots=True)
class _Batch:
    """An open group commit: the totals as its transaction leaves them."""

    totals: _Totals
    began: bool = False  # BEGIN has run (lazily, at the first write)
    lost: StoreError | None = None  # SQLite abandoned the transaction: the batch is void
    # Puts not yet written (write-behind), by id, in the order they were made.
    pending: dict[bytes, StoredMessage] = field(default_factory=dict)
    undo: list[_IdChange] = field(default_factory=list)  # its id-set changes, oldest first
    # Once sealed: set by the commit's thread when its COMMIT (or ROLLBACK) is through.
    started: bool = False  # `commit_sealed` was called for it
    done: threading.Event = field(default_factory=threading.Event)
    error: StoreError | None = None  # why its commit failed (then nothing of it is kept)


@dataclass(slots=True)
class _Totals:
    """In-memory mirror of aggregate state; a copy is edited inside a transaction."""

    used: int = 0
    count: int = 0
    by_kind: dict[int, int] = field(default_factory=dict)
    seen_count: int = 0
    seen_serial: int = 0

    def copy(self) -> _Totals:
        return replace(self, by_kind=dict(self.by_kind))

    def change(self, kind: int, count: int, size: int) -> None:
        """Account for `count` messages of `kind` totalling `size` bytes (negative: removed)."""
        self.used += size
        self.count += count
        left = self.by_kind.get(kind, 0) + count
        if left:
            self.by_kind[kind] = left
        else:
            self.by_kind.pop(kind, None)


class SqliteStore:
    """`MessageStore` in one SQLite file (WAL, synchronous=FULL).

    Opening creates the file if needed and runs SQLite's quick check on an existing one. Raises
    `SchemaVersionError` for a file written by a newer schema, `StoreCorrupt` for a damaged
    file, `StoreFull` when the disk has no room, and `StoreError` for one that is not a
    meshnode store.
    Reopening with a smaller capacity keeps every message; later puts evict as needed.
    `busy_timeout` is how many seconds a write waits for another process holding the lock.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        capacity_bytes: int,
        *,
        seen_capacity: int = DEFAULT_SEEN_CAPACITY,
        busy_timeout: float = 10.0,
    ) -> None:
        check_capacity(capacity_bytes, seen_capacity)
        self._path = os.fspath(path)
        self._capacity = capacity_bytes
        self._busy_timeout = busy_timeout
        self._seen_capacity = seen_capacity
        self._batch: _Batch | None = None  # the open batch
        self._sealed: _Batch | None = None  # a batch whose commit has not landed yet
        self.waits = 0  # statements that waited for a sealed batch's COMMIT (see above)
        self._ids: set[bytes] = set()  # ids of stored messages
        self._seen_ids: set[bytes] = set()  # ids in the seen memory
        self._undo: list[_IdChange] = []  # id-set changes not yet committed, oldest first
        self._closed = False
        try:
            self._conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
            )
        except sqlite3.Error as e:
            raise _classify(self._path, "open", e) from e
        try:
            self._open()
        except BaseException:
            self._conn.close()
            raise

    @property
    def _db(self) -> sqlite3.Connection:
        """The connection, for a statement on the caller's thread: first the sealed batch's
        commit lands (waiting for its thread if need be), so that the statement never joins
        its transaction. The commit's thread uses `_conn` itself."""
        if self._sealed is not None:
            self._land(self._sealed)
        return self._conn

    def _wal(self) -> object:
        """Switch to WAL. SQLite answers "locked" at once, without its busy handler, while
        another process opening the same new file holds a lock, so wait here as the busy
        timeout promises."""
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                return self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def _open(self) -> None:
        with self._errors("open"):
            # Read the header before writing anything, so a newer or foreign file is untouched;
            # in one read transaction, or another process creating the schema meanwhile could
            # show us its application id without its version.
            self._db.execute("BEGIN")
            try:
                version = self._scalar("PRAGMA user_version")
                app_id = self._scalar("PRAGMA application_id")
                tables = self._scalar("SELECT count(*) FROM sqlite_master")
            finally:
                self._db.execute("COMMIT")
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self._path}: schema version {version} is newer than this meshnode "
                f"supports ({SCHEMA_VERSION}); upgrade meshnode"
            )
        fresh = version == 0 and app_id == 0 and tables == 0
        if not fresh and (app_id != APPLICATION_ID or version != SCHEMA_VERSION):
            raise StoreError(
                f"{self._path}: not a meshnode message store "
                f"(application_id={app_id:#x}, user_version={version})"
            )
        with self._errors("open"):
            mode = self._wal()
            if str(mode).lower() != "wal":
                raise StoreError(f"{self._path}: WAL journal mode unavailable (got {mode!r})")
            self._db.execute("PRAGMA synchronous=FULL")
            if not fresh:
                _quick_check(self._db, self._path)
            if fresh:
                with self._transaction():
                    # Another process may have created the schema since we looked.
                    if self._scalar("SELECT count(*) FROM sqlite_master") == 0:
                        for statement in _SCHEMA:
                            self._db.execute(statement)
                        self._db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                    created = (
                        self._scalar("PRAGMA application_id"),
                        self._scalar("PRAGMA user_version"),
                    )
                if created != (APPLICATION_ID, SCHEMA_VERSION):
                    raise StoreError(f"{self._path}: not a meshnode message store")
            self._totals = self._load_totals()
            self._ids = {row[0] for row in self._db.execute("SELECT id FROM messages")}
            self._seen_ids = {row[0] for row in self._db.execute("SELECT id FROM seen")}
            if self._totals.seen_count > self._seen_capacity:
                with self._transaction():
                    totals = self._totals.copy()
                    self._trim_seen(totals)
                self._totals = totals
                self._undo.clear()

    def _load_totals(self) -> _Totals:
        totals = _Totals()
        for kind, count, raw in self._db.execute(
            "SELECT kind, count(*), sum(raw_len) FROM messages GROUP BY kind"
        ):
            totals.by_kind[kind] = count
            totals.count += count
            totals.used += raw + count * message_size(0)
        totals.seen_count, totals.seen_serial = self._db.execute(
            "SELECT count(*), coalesce(max(serial), 0) FROM seen"
        ).fetchone()
        return totals

    # plumbing ---------------------------------------------------------------------------------

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as e:
            raise _classify(self._path, what, e) from e
        except UnicodeDecodeError as e:
            # A damaged text cell (the schema's, or a channel name) that SQLite hands over.
            raise StoreCorrupt(self._path, f"text that is not UTF-8 ({what}): {e.reason}") from e

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            # SQLite may already have rolled back by itself (e.g. on a full disk).
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    @contextmanager
    def _write(self, what: str, *, one_statement: bool = False) -> Iterator[_Totals]:
        """A transaction (in a batch: a savepoint) with a working copy of the totals, adopted
        only once it succeeded; the id sets are put back if it fails. `one_statement`: the
        write runs at most one SQL statement that changes the file, which SQLite applies
        whole or not at all, so a batch needs no savepoint around it."""
        if self._batch is not None:
            with self._batch_write(what, self._batch, one_statement) as totals:
                yield totals
            return
        if self._sealed is not None:
            self._land(self._sealed)  # the totals below start from the sealed batch's
        with self._errors(what):
            totals = self._totals.copy()
            try:
                with self._transaction():
                    yield totals
            except BaseException:
                self._revert(0)
                raise
            self._undo.clear()
            self._totals = totals

    @contextmanager
    def _batch_write(self, what: str, batch: _Batch, one_statement: bool) -> Iterator[_Totals]:
        if batch.lost is not None:
            raise batch.lost  # never write outside the batch's transaction (autocommit)
        if what not in _OTHER_TABLES:
            self._flush(batch)  # the write may evict, delete or re-put a pending row
        mark = len(self._undo)
        totals = batch.totals.copy()
        with self._errors(what):
            if not batch.began:
                self._db.execute("BEGIN IMMEDIATE")
                batch.began = True
            if not one_statement:
                self._db.execute("SAVEPOINT write")
        try:
            with self._errors(what):
                yield totals
                if not one_statement:
                    self._db.execute("RELEASE write")
        except StoreError as exc:
            if not self._db.in_transaction:
                # SQLite rolled the whole transaction back (a full disk): the batch is void
                self._void(batch, exc)
            elif one_statement:
                self._revert(mark)  # SQLite undid the failed statement by itself
            else:
                self._undo_savepoint(mark)
            raise
        except BaseException:
            if one_statement:  # no savepoint to go back to: the whole batch goes
                self._void(batch, StoreError(f"{self._path}: {what} was interrupted"))
            else:
                self._undo_savepoint(mark)
            raise
        batch.totals = totals

    def _void(self, batch: _Batch, exc: StoreError) -> None:
        """Abandon the batch: nothing it wrote is kept, and its commit raises `exc`."""
        batch.lost = exc
        batch.pending.clear()
        self._revert(0)
        # A batch that never began has nothing on the connection, which a sealed batch's
        # thread may be using; one that began runs after the sealed batch landed.
        if batch.began and self._conn.in_transaction:
            with self._errors("rollback"):
                self._conn.execute("ROLLBACK")

    def _flush(self, batch: _Batch) -> None:
        """Write the batch's pending puts, in the order they were made, with one
        `executemany`. Rows of one statement may be kept in part when it fails, so a failure
        voids the whole batch (its commit raises) and is raised here too."""
        if not batch.pending:
            return
        rows = [_insert_row(msg) for msg in batch.pending.values()]
        try:
            with self._errors("put"):
                if not batch.began:
                    self._db.execute("BEGIN IMMEDIATE")
                    batch.began = True
                self._db.executemany(_INSERT, rows)
        except StoreError as exc:
            self._void(batch, exc)
            raise
        except BaseException:
            self._void(batch, StoreError(f"{self._path}: writing a batch was interrupted"))
            raise
        batch.pending.clear()

    def _sync_reads(self) -> None:
        """Before a query whose answer pending puts could change: write them."""
        batch = self._batch
        if batch is not None and batch.pending:
            self._flush(batch)

    def _undo_savepoint(self, mark: int) -> None:
        self._revert(mark)
        with self._errors("rollback"):
            self._db.execute("ROLLBACK TO write")
            self._db.execute("RELEASE write")

    def _add(self, ids: set[bytes], msg_id: bytes) -> None:
        if msg_id not in ids:
            ids.add(msg_id)
            self._undo.append((ids, msg_id, True))

    def _discard(self, ids: set[bytes], msg_id: bytes) -> None:
        if msg_id in ids:
            ids.remove(msg_id)
            self._undo.append((ids, msg_id, False))

    def _revert(self, mark: int) -> None:
        """Put the id sets back as they were when `_undo` had `mark` entries."""
        while len(self._undo) > mark:
            ids, msg_id, added = self._undo.pop()
            if added:
                ids.discard(msg_id)
            else:
                ids.add(msg_id)

    # group commit -------------------------------------------------------------------------------

    def begin_batch(self) -> None:
        """Start a group commit (see the module docstring); raises `StoreError` if one is
        open. Nothing touches the file until the first write. A sealed batch may still be
        committing: the new one starts from its totals."""
        self._check_open()
        if self._batch is not None:
            raise StoreError(f"{self._path}: a batch is already open")
        sealed = self._sealed
        base = self._totals if sealed is None else sealed.totals
        self._batch = _Batch(base.copy())
        self._undo = self._batch.undo

    def seal_batch(self) -> None:
        """Close the open batch to further writes; `commit_sealed` (on any one thread) commits
        it next, and the caller may open the next batch meanwhile. Raises `StoreError` if no
        batch is open or a sealed one has not landed."""
        batch = self._batch
        if batch is None:
            raise StoreError(f"{self._path}: no batch is open")
        if self._sealed is not None:
            raise StoreError(f"{self._path}: the sealed batch before has not landed")
        self._sealed, self._batch = batch, None
        self._undo = []

    def commit_sealed(self, written: Callable[[], None] | None = None) -> bool:
        """On the commit's thread: write the sealed batch's pending rows and COMMIT, the
        only use of the connection until it returns; True if there was anything to commit.
        `written` runs between the rows and the COMMIT (a test's crash point). Raises
        `StoreError` if nothing of the batch could be kept (then `rollback_batch`). Touches
        nothing the caller's thread uses meanwhile but the connection."""
        batch = self._sealed
        if batch is None:
            raise StoreError(f"{self._path}: no batch is sealed")
        batch.started = True
        try:
            if batch.lost is not None:
                raise batch.lost
            if not batch.began and not batch.pending:
                return False
            with self._errors("commit"):
                try:
                    if not batch.began:
                        self._conn.execute("BEGIN IMMEDIATE")
                    if batch.pending:
                        self._conn.executemany(_INSERT, map(_insert_row, batch.pending.values()))
                    if written is not None:
                        written()
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            return True
        except StoreError as exc:
            batch.error = exc
            raise
        except BaseException:
            batch.error = StoreError(f"{self._path}: a commit was interrupted")
            raise
        finally:
            batch.done.set()

    def land_batch(self) -> None:
        """After `commit_sealed` returned: adopt the sealed batch's totals (its rows are
        durable). Nothing to do if it landed already; raises its `StoreError` if its commit
        failed."""
        if self._sealed is not None:
            self._land(self._sealed)

    def _land(self, sealed: _Batch) -> None:
        """Wait for the sealed batch's commit (counted in `waits` if it was still running),
        then adopt it; if it failed, the open batch is void too and the error is raised."""
        if not sealed.done.is_set():
            self.waits += 1
            sealed.done.wait()
        if sealed.error is not None:
            if self._batch is not None and self._batch.lost is None:
                self._batch.lost = sealed.error
            raise sealed.error
        self._sealed = None
        self._totals = sealed.totals

    @property
    def batch_writes(self) -> bool:
        """Whether the open batch has written anything (its commit has work to do)."""
        batch = self._batch
        return batch is not None and (batch.began or batch.lost is not None
                                      or bool(batch.pending))

    def write_batch(self) -> None:
        """Write the open batch's pending rows into its transaction now, without committing
        (call it on the thread that commits next: `commit_batch` then has only the COMMIT
        left). Nothing is durable before `commit_batch` returns. Raises `StoreError` if no
        batch is open or the rows cannot be written (the batch is then void, as for
        `commit_batch`)."""
        batch = self._batch
        if batch is None:
            raise StoreError(f"{self._path}: no batch is open")
        if batch.lost is not None:
            raise batch.lost
        self._flush(batch)

    def commit_batch(self) -> bool:
        """Make the open batch's writes durable at once (`seal_batch`, `commit_sealed` and
        `land_batch` in one); True if there were any. Raises `StoreError` (and rolls the
        whole batch back) if they cannot be made durable."""
        if self._batch is None:
            raise StoreError(f"{self._path}: no batch is open")
        self.seal_batch()
        try:
            wrote = self.commit_sealed()
        except BaseException:
            self.rollback_batch()
            raise
        self.land_batch()
        return wrote

    def rollback_batch(self) -> None:
        """Discard the open batch's writes and, after its failed commit, the sealed batch's
        (none is durable). A sealed batch whose commit is still running is waited for; one
        that committed has landed and stays."""
        sealed = self._sealed
        if sealed is not None:
            sealed.done.wait()
            if sealed.error is None:
                self._land(sealed)
        batch, self._batch = self._batch, None
        if batch is not None:
            self._revert(0)
        if self._sealed is not None:
            self._undo = self._sealed.undo
            self._revert(0)
            self._sealed = None
        self._undo = []
        if self._conn.in_transaction:
            with self._errors("rollback"):
                self._conn.execute("ROLLBACK")

    def _scalar(self, sql: str, args: tuple[object, ...] = ()) -> int:
        value = self._db.execute(sql, args).fetchone()[0]
        if type(value) is not int:
            raise StoreError(f"{self._path}: unexpected value {value!r} for {sql!r}")
        return value

    # writes -----------------------------------------------------------------------------------

    @property
    def capacity_bytes(self) -> int:
        return self._capacity

    def put(self, msg: StoredMessage, now: int) -> PutResult:
        check_message(msg)
        check_uint("now", now)
        # Without evictions a put is one INSERT (or nothing): no savepoint needed around it,
        # and in a batch it is written behind (see the module docstring).
        one = self._current().used + msg.size <= self._capacity
        batch = self._batch
        if one and batch is not None and batch.lost is None:
            return self._put_behind(msg, now, batch)
        with self._write("put", one_statement=one) as totals:
            return self._put(msg, now, totals)

    def _put_behind(self, msg: StoredMessage, now: int, batch: _Batch) -> PutResult:
        """A put that fits without evicting, in a batch: held in the batch's pending map (no
        SQL here); `_flush` writes it. The same outcomes as `_put`."""
        self._check_open()
        refused = self._refused(msg, now)
        if refused is not None:
            return refused
        batch.pending[msg.id] = msg
        self._add(self._ids, msg.id)
        batch.totals.change(msg.kind, 1, msg.size)
        return PutResult.ACCEPTED

    def put_many(self, msgs: Sequence[StoredMessage], now: int) -> list[PutResult]:
        check_uint("now", now)
        for msg in msgs:  # validate all first: a bad item must change nothing
            check_message(msg)
        with self._write("put_many") as totals:
            return [self._put(msg, now, totals) for msg in msgs]

    def _refused(self, msg: StoredMessage, now: int) -> PutResult | None:
        """What a put answers before any SQL, written or behind: a duplicate, or expired."""
        if msg.id in self._ids:
            return PutResult.DUPLICATE
        if is_expired(msg.expires, now):
            return PutResult.REJECTED_EXPIRED
        return None

    def _put(self, msg: StoredMessage, now: int, totals: _Totals) -> PutResult:
        refused = self._refused(msg, now)
        if refused is not None:
            return refused
        size = msg.size
        if size > self._capacity:
            return PutResult.REJECTED_FULL
        need = totals.used + size - self._capacity
        victims: list[Candidate] | None = []
        if need > 0:
            expired = _candidates(
                self._db,
                f"SELECT {_CANDIDATE} FROM messages WHERE expires <= ? {_EVICT_ORDER}",
                now,
            )
            live = _candidates(
                self._db,
                f"SELECT {_CANDIDATE} FROM messages INDEXED BY messages_evict "
                f"WHERE pinned = 0 AND expires > ? {_EVICT_ORDER}",
                now,
            )
            try:
                victims = plan_eviction(msg, need, expired, live)
            finally:  # finish both statements before the writes below
                expired.close()
                live.close()
        if victims is None:
            return PutResult.REJECTED_FULL
        for victim in victims:
            self._db.execute("DELETE FROM messages WHERE id = ?", (victim.id,))
            self._discard(self._ids, victim.id)
            totals.change(victim.kind, -1, -victim.size)
            self._mark_seen(victim.id, now, totals)
        self._db.execute(_INSERT, _insert_row(msg))
        self._add(self._ids, msg.id)
        totals.change(msg.kind, 1, size)
        return PutResult.ACCEPTED

    def delete(self, msg_id: bytes) -> bool:
        check_id(msg_id)
        if msg_id not in self._ids:
            self._check_open()
            return False
        with self._write("delete") as totals:
            row = self._db.execute(
                "SELECT kind, raw_len FROM messages WHERE id = ?", (msg_id,)
            ).fetchone()
            if row is None:
                return False
            self._db.execute("DELETE FROM messages WHERE id = ?", (msg_id,))
            self._discard(self._ids, msg_id)
            totals.change(row[0], -1, -message_size(row[1]))
            return True

    def expire(self, now: int) -> int:
        check_uint("now", now)
        removed = 0
        with self._write("expire") as totals:
            gone = self._db.execute(
                "DELETE FROM messages WHERE expires <= ? RETURNING id, kind, raw_len", (now,)
            ).fetchall()
            for msg_id, kind, raw_len in gone:
                totals.change(kind, -1, -message_size(raw_len))
                self._discard(self._ids, msg_id)
            removed = len(gone)
        return removed

    # reads ------------------------------------------------------------------------------------

    def _messages(self, where: str, args: tuple[object, ...]) -> list[StoredMessage]:
        self._sync_reads()
        return self._select(where, args)

    def _select(self, where: str, args: tuple[object, ...]) -> list[StoredMessage]:
        """The stored rows matching `where`, leaving the batch's pending rows pending."""
        with self._errors("query"):
            rows: list[_Row] = self._db.execute(
                f"SELECT {_COLUMNS} FROM messages {where}", args
            ).fetchall()
        return [_message(row) for row in rows]

    def get(self, msg_id: bytes) -> StoredMessage | None:
        check_id(msg_id)
        return self.get_many((msg_id,)).get(msg_id)

    def get_many(self, msg_ids: Sequence[bytes]) -> dict[bytes, StoredMessage]:
        # A pending row answers from the batch; the others cannot be changed by pending rows,
        # so those stay pending.
        self._check_open()
        batch, sealed = self._batch, self._sealed
        pending = batch.pending if batch is not None else {}
        before = sealed.pending if sealed is not None else {}  # kept until it lands
        found: dict[bytes, StoredMessage] = {}
        wanted: list[bytes] = []
        for msg_id in msg_ids:
            check_id(msg_id)
            held = pending.get(msg_id) or before.get(msg_id)
            if held is not None:
                found[msg_id] = held
            elif msg_id in self._ids:  # the in-memory ids: no query for what is not stored
                wanted.append(msg_id)
        for start in range(0, len(wanted), _IDS_PER_QUERY):
            chunk = wanted[start:start + _IDS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            found.update((m.id, m) for m in self._select(f"WHERE id IN ({marks})", tuple(chunk)))
        return found

    def has(self, msg_id: bytes) -> bool:
        check_id(msg_id)
        self._check_open()
        return msg_id in self._ids

    def ids_since(
        self, created: int, *, kind: int | None = None, limit: int | None = None
    ) -> list[tuple[int, bytes]]:
        return self.ids_range((check_uint("created", created), b""), None, kind=kind, limit=limit)

    def ids_range(
        self,
        lower: tuple[int, bytes],
        upper: tuple[int, bytes] | None = None,
        *,
        kind: int | None = None,
        limit: int | None = None,
    ) -> list[tuple[int, bytes]]:
        clauses = ["(created, id) >= (?, ?)"]
        args: list[object] = list(check_bound("lower", lower))
        if upper is not None:
            clauses.append("(created, id) < (?, ?)")
            args.extend(check_bound("upper", upper))
        if kind is not None:
            clauses.append("kind = ?")
            args.append(check_uint("kind", kind))
        check_limit(limit)
        args.append(-1 if limit is None else limit)
        sql = (
            f"SELECT created, id FROM messages WHERE {' AND '.join(clauses)} "
            "ORDER BY created, id LIMIT ?"
        )
        self._sync_reads()
        with self._errors("query"):
            return [(c, i) for c, i in self._db.execute(sql, args)]

    def by_kind(self, kind: int) -> list[StoredMessage]:
        return self._messages("WHERE kind = ? ORDER BY created, id", (check_uint("kind", kind),))

    def by_tag(self, tag: bytes) -> list[StoredMessage]:
        return self._messages("WHERE tag = ? ORDER BY created, id", (check_key("tag", tag),))

    def by_ref(self, ref: bytes) -> list[StoredMessage]:
        return self._messages("WHERE ref = ? ORDER BY created, id", (check_key("ref", ref),))

    def by_channel(self, channel: str, limit: int) -> list[StoredMessage]:
        check_limit(limit)
        return self._messages(
            "WHERE rowid IN (SELECT rowid FROM messages WHERE channel = ? "
            "ORDER BY created DESC, id DESC LIMIT ?) ORDER BY created, id",
            (check_channel(channel), limit),
        )

    def alerts_by_issuer(self, issuer: bytes) -> list[StoredMessage]:
        return self._messages("WHERE issuer = ? ORDER BY seq, id", (check_key("issuer", issuer),))

    def next_expiry(self) -> int | None:
        with self._errors("query"):
            value = self._db.execute("SELECT min(expires) FROM messages").fetchone()[0]
        stored = value if type(value) is int else None
        batch = self._batch
        if batch is None or not batch.pending:
            return stored
        # The driver asks after every call: the pending rows are counted, not written.
        held = min(msg.expires for msg in batch.pending.values())
        return held if stored is None else min(stored, held)

    def max_seq(self, issuer: bytes) -> int | None:
        check_key("issuer", issuer)
        self._sync_reads()
        with self._errors("query"):
            value = self._db.execute(
                "SELECT max(seq) FROM messages WHERE issuer = ?", (issuer,)
            ).fetchone()[0]
        return value if type(value) is int else None

    def issuer_seqs(self) -> dict[bytes, int]:
        self._sync_reads()
        with self._errors("query"):
            return dict(
                self._db.execute(
                    "SELECT issuer, max(seq) FROM messages WHERE issuer IS NOT NULL GROUP BY issuer"
                )
            )

    def _current(self) -> _Totals:
        """The totals as the connection sees them (an open or a sealed batch's included)."""
        if self._batch is not None:
            return self._batch.totals
        return self._totals if self._sealed is None else self._sealed.totals

    def usage(self) -> StoreUsage:
        self._check_open()
        t = self._current()
        return StoreUsage(t.used, t.count, self._capacity, dict(t.by_kind))

    def count(self) -> int:
        self._check_open()
        return self._current().count

    # seen memory and meta -----------------------------------------------------------------------

    def mark_seen(self, msg_id: bytes, now: int) -> None:
        check_id(msg_id)
        check_uint("now", now)
        with self._write("mark_seen") as totals:
            self._mark_seen(msg_id, now, totals)

    def _mark_seen(self, msg_id: bytes, now: int, totals: _Totals) -> None:
        known = msg_id in self._seen_ids
        totals.seen_serial += 1
        self._db.execute(
            "INSERT INTO seen (id, marked, serial) VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET marked = excluded.marked, serial = excluded.serial",
            (msg_id, now, totals.seen_serial),
        )
        if not known:
            self._add(self._seen_ids, msg_id)
            totals.seen_count += 1
        self._trim_seen(totals)

    def _trim_seen(self, totals: _Totals) -> None:
        excess = totals.seen_count - self._seen_capacity
        if excess > 0:
            for (msg_id,) in self._db.execute(
                "DELETE FROM seen WHERE serial IN "
                "(SELECT serial FROM seen ORDER BY serial LIMIT ?) RETURNING id",
                (excess,),
            ).fetchall():
                self._discard(self._seen_ids, msg_id)
            totals.seen_count -= excess

    def seen(self, msg_id: bytes) -> bool:
        check_id(msg_id)
        self._check_open()
        return msg_id in self._seen_ids

    def seen_count(self) -> int:
        self._check_open()
        return self._current().seen_count

    def get_meta(self, key: str) -> bytes | None:
        check_meta(key)
        with self._errors("query"):
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_meta(self, key: str, value: bytes) -> None:
        check_meta(key, value)
        with self._write("set_meta"):
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def delete_meta(self, key: str) -> bool:
        check_meta(key)
        with self._write("delete_meta"):
            return self._db.execute("DELETE FROM meta WHERE key = ?", (key,)).rowcount > 0

    def meta_keys(self, prefix: str) -> list[str]:
        check_meta(prefix)
        with self._errors("query"):
            # A range on the primary key rather than LIKE, which would treat % and _ as wildcards.
            rows = self._db.execute("SELECT key FROM meta WHERE key >= ? AND key < ? ORDER BY key",
                                    (prefix, prefix + "\U0010ffff")).fetchall()
        return [str(row[0]) for row in rows]

    # maintenance ------------------------------------------------------------------------------

    def integrity_check(self) -> list[str]:
        """Problems found by SQLite's integrity check and our own invariants; [] means sound."""
        self._sync_reads()
        with self._errors("integrity_check"):
            problems = [
                str(row[0]) for row in self._db.execute("PRAGMA integrity_check") if row[0] != "ok"
            ]
            bad_len = self._scalar("SELECT count(*) FROM messages WHERE raw_len != length(raw)")
            fresh = self._load_totals()
            ids = {row[0] for row in self._db.execute("SELECT id FROM messages")}
            seen = {row[0] for row in self._db.execute("SELECT id FROM seen")}
        if (ids, seen) != (self._ids, self._seen_ids):
            problems.append("in-memory id sets disagree with the tables")
        if bad_len:
            problems.append(f"{bad_len} message(s) with a wrong raw_len")
        mine = self._totals
        if (fresh.used, fresh.count, fresh.by_kind, fresh.seen_count) != (
            mine.used,
            mine.count,
            mine.by_kind,
            mine.seen_count,
        ):
            problems.append("usage counters disagree with the tables")
        return problems

    def close(self) -> None:
        """Close the database (checkpointing the WAL); later calls raise `StoreError`. A
        sealed batch's commit is waited for (and kept if it succeeded); one never started is
        dropped, as by a crash."""
        if self._sealed is not None and self._sealed.started:
            self._sealed.done.wait()
        self._closed = True
        with self._errors("close"):
            self._conn.close()

    def _check_open(self) -> None:
        # A flag, not a call into the connection: the membership tests of every incoming
        # message come through here, and a context manager per test was a measurable share.
        if self._closed:
            raise StoreError(f"{self._path}: query failed: the store is closed")


def _candidates(db: sqlite3.Connection, sql: str, now: int) -> Generator[Candidate, None, None]:
    """Stream eviction candidates; the query only runs if the planner asks for one."""
    cursor = db.execute(sql, (now,))
    try:
        for msg_id, kind, raw_len, priority, created in cursor:
            size = message_size(raw_len)
            yield Candidate(msg_id, kind, size, eviction_rank(priority, created, size, msg_id))
    finally:
        cursor.close()


def _insert_row(msg: StoredMessage) -> tuple[object, ...]:
    """The values of `_INSERT` for `msg`."""
    return (msg.id, msg.kind, msg.raw, msg.priority, msg.created, msg.expires, msg.received,
            msg.channel, msg.tag, msg.issuer, msg.seq, msg.ref, int(msg.pinned), len(msg.raw))


def _message(row: _Row) -> StoredMessage:
    (msg_id, kind, raw, priority, created, expires, received, channel, tag, issuer, seq, ref,
     pinned) = row  # fmt: skip
    return StoredMessage(
        id=msg_id,
        kind=kind,
        raw=raw,
        priority=priority,
        created=created,
        expires=expires,
        received=received,
        channel=channel,
        tag=tag,
        issuer=issuer,
        seq=seq,
        ref=ref,
        pinned=bool(pinned),
    )
