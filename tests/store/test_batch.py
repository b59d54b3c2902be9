"""Group commit in the SQLite store: a batch's writes are visible to the store's own reads at
once, durable together at `commit_batch` and never before, atomic as a whole, and each write in
it is still atomic on its own."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from meshnode.store import PutResult, SqliteStore
from meshnode.store.base import StoreError
from meshnode.store.sqlite import StoreFull
from tests.faults.helpers import small_fs

from .helpers import charged, contents, make_msg, mid

NOW = 200


def _ids_on_disk(path: Path) -> set[bytes]:
    """What another connection sees: only committed rows."""
    other = sqlite3.connect(path)
    try:
        return {row[0] for row in other.execute("SELECT id FROM messages")}
    finally:
        other.close()


def test_batched_writes_are_readable_at_once_and_on_disk_only_after_the_commit(
        tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    store = SqliteStore(path, 1 << 20)
    store.put(make_msg(1), NOW)
    store.begin_batch()
    assert not store.batch_writes
    assert store.put(make_msg(2), NOW) is PutResult.ACCEPTED
    assert store.put(make_msg(2), NOW) is PutResult.DUPLICATE  # the batch's own write counts
    store.mark_seen(mid(9), NOW)
    assert store.delete(mid(1))
    assert store.batch_writes
    assert store.has(mid(2)) and not store.has(mid(1)) and store.seen(mid(9))
    assert store.usage().count == 1
    assert _ids_on_disk(path) == {mid(1)}  # nothing of the batch is durable yet
    assert store.commit_batch() is True
    assert _ids_on_disk(path) == {mid(2)}
    assert store.integrity_check() == []
    store.close()


def test_a_rolled_back_batch_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hub.db", charged(300, 300), seen_capacity=4)
    store.put(make_msg(1), NOW)
    store.put(make_msg(2), NOW)
    before = (contents(store), store.usage(), store.seen_count())
    store.begin_batch()
    store.put(make_msg(3, priority=2), NOW)  # evicts a lower-priority message to fit
    for n in range(10, 16):  # overflows the seen memory, which trims itself
        store.mark_seen(mid(n), NOW)
    store.rollback_batch()
    assert (contents(store), store.usage(), store.seen_count()) == before
    assert store.count() == 2
    assert not store.has(mid(3)) and store.has(mid(1)) and store.has(mid(2))
    assert not any(store.seen(mid(n)) for n in range(10, 16))
    assert store.integrity_check() == []
    store.close()


def test_a_batch_that_wrote_nothing_commits_without_touching_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    store = SqliteStore(path, 1 << 20)
    store.begin_batch()
    assert store.get(mid(1)) is None
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the write lock is free: the batch took nothing
    other.execute("ROLLBACK")
    other.close()
    assert store.commit_batch() is False
    store.close()


def test_batches_do_not_nest_and_a_commit_needs_a_batch(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hub.db", 1 << 20)
    with pytest.raises(StoreError, match="no batch"):
        store.commit_batch()
    store.begin_batch()
    with pytest.raises(StoreError, match="already open"):
        store.begin_batch()
    store.rollback_batch()
    store.close()


def test_the_commit_may_run_on_a_worker_thread(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    store = SqliteStore(path, 1 << 20)
    store.begin_batch()
    for n in range(50):
        store.put(make_msg(n), NOW)
    result: list[bool] = []
    worker = threading.Thread(target=lambda: result.append(store.commit_batch()))
    worker.start()
    worker.join(30)
    assert result == [True]
    assert _ids_on_disk(path) == {mid(n) for n in range(50)}
    store.put(make_msg(99), NOW)  # back on this thread, outside a batch
    assert store.integrity_check() == []
    store.close()


def test_a_full_disk_in_a_batch_keeps_exactly_what_was_committed(tmp_path: Path) -> None:
    """Writes fill the disk part-way through batches: a batch either commits as a whole or
    changes nothing, and a reopened store holds exactly the committed batches (tmpfs; root)."""
    with small_fs(tmp_path / "small", "2m") as mnt:
        path = mnt / "hub.db"
        store = SqliteStore(path, 1 << 30)
        committed: set[bytes] = set()
        refused = 0
        n = 0
        for _ in range(200):
            batch: set[bytes] = set()
            store.begin_batch()
            try:
                for _ in range(20):
                    n += 1
                    if store.put(make_msg(n, size=4000), NOW) is PutResult.ACCEPTED:
                        batch.add(mid(n))
                store.commit_batch()
            except StoreFull:
                store.rollback_batch()
                refused += 1
                break
            committed |= batch
        assert refused == 1, "the disk never filled"
        assert {i for _, i in store.ids_since(0)} == committed
        assert store.usage().count == len(committed)
        store.close()
        reopened = SqliteStore(path, 1 << 30)
        assert {i for _, i in reopened.ids_since(0)} == committed
        assert reopened.integrity_check() == []
        reopened.close()


def _refuse_inserts_of_size(path: Path, size: int) -> None:
    """Make SQLite itself refuse one INSERT (a trigger raising ABORT undoes that statement
    and keeps the transaction), as a constraint or an I/O error on one statement would."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.raw_len = {size}"
                      " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
    finally:
        other.close()


def test_a_put_that_sqlite_refuses_when_the_batch_is_written_voids_the_whole_batch(
        tmp_path: Path) -> None:
    """Puts without evictions are written behind, all at once: when SQLite refuses one of the
    rows, the commit raises and nothing of the batch is kept, neither on disk nor in the
    store's own reads, so a driver that releases outputs only after the COMMIT loses nothing it
    promised. The next batch works as before."""
    path = tmp_path / "hub.db"
    store = SqliteStore(path, 1 << 20)
    store.put(make_msg(1), NOW)
    store.close()
    _refuse_inserts_of_size(path, 777)
    store = SqliteStore(path, 1 << 20)
    before = store.usage()
    store.begin_batch()
    for n, size in ((2, 300), (3, 777), (4, 300)):
        assert store.put(make_msg(n, size=size), NOW) is PutResult.ACCEPTED
    with pytest.raises(StoreError, match="refused by the test"):
        store.commit_batch()
    store.rollback_batch()
    assert _ids_on_disk(path) == {mid(1)}
    assert store.usage() == before
    assert not any(store.has(mid(n)) for n in (2, 3, 4))
    assert store.get(mid(2)) is None
    store.begin_batch()
    assert store.put(make_msg(2), NOW) is PutResult.ACCEPTED
    assert store.commit_batch() is True
    assert _ids_on_disk(path) == {mid(1), mid(2)}
    assert store.integrity_check() == []
    store.close()


def _batch_with_a_refused_row(tmp_path: Path) -> tuple[Path, SqliteStore]:
    """A store (and its file) whose SQLite refuses rows of 777 bytes, with a batch open that
    holds one such row, pending."""
    path = tmp_path / "hub.db"
    SqliteStore(path, 1 << 20).close()
    _refuse_inserts_of_size(path, 777)
    store = SqliteStore(path, 1 << 20)
    store.begin_batch()
    assert store.put(make_msg(2, size=777), NOW) is PutResult.ACCEPTED
    return path, store


def test_a_refused_pending_row_met_by_a_later_write_voids_the_batch_at_once(
        tmp_path: Path) -> None:
    """A write that must see the pending rows (here a delete) writes them first; when SQLite
    refuses one, that write raises, the batch is void and every later write in it is refused
    rather than run outside its transaction."""
    path, store = _batch_with_a_refused_row(tmp_path)
    assert store.put(make_msg(3), NOW) is PutResult.ACCEPTED
    with pytest.raises(StoreError, match="refused by the test"):
        store.delete(mid(3))
    assert not store.has(mid(2)) and not store.has(mid(3))
    with pytest.raises(StoreError, match="refused by the test"):
        store.mark_seen(mid(5), NOW)
    with pytest.raises(StoreError, match="refused by the test"):
        store.commit_batch()
    store.rollback_batch()
    assert _ids_on_disk(path) == set() and store.usage().count == 0 and not store.seen(mid(5))
    store.close()


def test_puts_in_a_batch_touch_the_file_only_at_the_commit(tmp_path: Path) -> None:
    """Write-behind: a batch of puts that need no eviction runs no SQL before its commit (the
    write lock stays free for another connection), and the commit writes them all."""
    path = tmp_path / "hub.db"
    store = SqliteStore(path, 1 << 20)
    store.begin_batch()
    for n in range(1, 21):
        assert store.put(make_msg(n), NOW) is PutResult.ACCEPTED
    assert store.batch_writes
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # would time out if the batch had begun writing
    other.execute("ROLLBACK")
    other.close()
    assert store.commit_batch() is True
    assert _ids_on_disk(path) == {mid(n) for n in range(1, 21)}
    store.close()


def test_every_read_in_a_batch_sees_the_rows_written_behind(tmp_path: Path) -> None:
    """`get`, `get_many`, `has`, the queries, `next_expiry` and the usage all answer as if the
    pending puts were written, and a delete or an eviction may take a pending row."""
    path = tmp_path / "hub.db"
    store = SqliteStore(path, charged(300, 300, 300))
    store.put(make_msg(1, created=50, priority=3), NOW)
    store.begin_batch()
    late = make_msg(2, created=60, expires=NOW + 5)
    assert store.put(late, NOW) is PutResult.ACCEPTED
    assert store.get(mid(2)) == late and store.has(mid(2))
    assert store.get(mid(1)) is not None and store.get(mid(7)) is None
    assert store.get_many([mid(7), mid(2), mid(1)]) == {mid(2): late, mid(1): store.get(mid(1))}
    assert store.next_expiry() == NOW + 5
    assert store.usage().count == store.count() == 2
    assert [i for _, i in store.ids_since(0)] == [mid(1), mid(2)]
    assert store.put(make_msg(3, created=70), NOW) is PutResult.ACCEPTED
    assert [m.id for m in store.by_kind(late.kind)] == [mid(2), mid(3)]
    assert store.delete(mid(3)) and not store.has(mid(3))
    assert store.put(make_msg(3, created=70), NOW) is PutResult.ACCEPTED
    # Full now: a message of priority 2 evicts the oldest of priority 1, a pending row.
    assert store.put(make_msg(4, created=80, priority=2), NOW) is PutResult.ACCEPTED
    assert not store.has(mid(2)) and store.seen(mid(2)) and store.get(mid(2)) is None
    assert store.count() == 3
    assert store.commit_batch() is True
    assert _ids_on_disk(path) == {mid(1), mid(3), mid(4)}
    assert store.integrity_check() == []
    store.close()


def test_written_batch_rows_are_durable_only_once_the_commit_returns(tmp_path: Path) -> None:
    """`write_batch` puts the pending rows into the open transaction (the commit's thread
    does it before the COMMIT): another connection still sees none of them, and a store
    closed without the commit (as by a crash) keeps none."""
    path = tmp_path / "hub.db"
    store = SqliteStore(path, 1 << 20)
    store.put(make_msg(1), NOW)
    store.begin_batch()
    for n in (2, 3):
        store.put(make_msg(n), NOW)
    store.write_batch()
    assert store.get(mid(2)) is not None
    assert _ids_on_disk(path) == {mid(1)}
    store.close()  # the transaction dies with the connection, as with the process
    reopened = SqliteStore(path, 1 << 20)
    assert {i for _, i in reopened.ids_since(0)} == {mid(1)}
    reopened.begin_batch()
    reopened.put(make_msg(4), NOW)
    reopened.write_batch()
    assert reopened.commit_batch() is True
    assert _ids_on_disk(path) == {mid(1), mid(4)}
    with pytest.raises(StoreError, match="no batch"):
        reopened.write_batch()
    reopened.close()


def test_seen_marks_and_meta_in_a_batch_fall_with_a_refused_pending_row(
        tmp_path: Path) -> None:
    """Seen marks and meta writes leave the pending rows pending; when SQLite then refuses one
    of them at the commit, the marks and meta of that batch go too: a batch is kept whole or
    not at all."""
    path, store = _batch_with_a_refused_row(tmp_path)
    store.mark_seen(mid(9), NOW)
    store.set_meta("note", b"x")
    assert store.put(make_msg(3), NOW) is PutResult.ACCEPTED
    assert store.get(mid(2)) is not None and store.seen(mid(9))
    assert store.get_meta("note") == b"x"
    with pytest.raises(StoreError, match="refused by the test"):
        store.commit_batch()
    store.rollback_batch()
    assert not store.seen(mid(9)) and store.get_meta("note") is None
    assert store.usage().count == 0 and _ids_on_disk(path) == set()
    assert store.integrity_check() == []
    store.close()


# --- overlap: the next batch runs while the sealed one commits --------------------------------


def _commit_sealed_on_a_thread(store: SqliteStore, hold: threading.Event,
                               ) -> tuple[threading.Thread, list[object]]:
    """`commit_sealed` on a worker thread that, with the rows written, waits for `hold`
    before its COMMIT; what it returned or raised, once it is through."""
    outcome: list[object] = []

    def commit() -> None:
        try:
            outcome.append(store.commit_sealed(written=lambda: hold.wait(30)))
        except StoreError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=commit)
    worker.start()
    return worker, outcome


def _release_when(condition: Callable[[], bool], hold: threading.Event) -> threading.Thread:
    """A thread that sets `hold` once `condition` holds (polled, with a deadline), so that the
    main thread may block inside the store meanwhile."""
    def watch() -> None:
        deadline = time.monotonic() + 30
        while not condition() and time.monotonic() < deadline:
            hold.wait(0.001)  # a poll with a deadline: nothing else sets `hold`
        hold.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    return watcher


def test_the_next_batch_reads_the_sealed_rows_before_their_commit_and_keeps_its_own_apart(
        tmp_path: Path) -> None:
    """While batch k's COMMIT waits on its thread, batch k+1 runs: it sees k's rows (`get`,
    `has`, duplicates, the usage) from memory, its own puts run no SQL, and once k landed
    only k is durable; k+1 is durable at its own commit."""
    path = tmp_path / "hub.db"
    store = SqliteStore(path, 1 << 20)
    store.begin_batch()
    for n in (1, 2):
        store.put(make_msg(n), NOW)
    store.seal_batch()
    hold = threading.Event()
    worker, outcome = _commit_sealed_on_a_thread(store, hold)
    store.begin_batch()
    assert store.get(mid(1)) == make_msg(1) and store.has(mid(2))
    assert store.put(make_msg(2), NOW) is PutResult.DUPLICATE
    assert store.put(make_msg(3), NOW) is PutResult.ACCEPTED
    assert store.usage().count == 3 and store.waits == 0  # all from memory, none waited
    assert _ids_on_disk(path) == set()
    hold.set()
    worker.join(30)
    assert outcome == [True]
    store.land_batch()
    assert _ids_on_disk(path) == {mid(1), mid(2)}  # k, not k+1
    store.seal_batch()
    assert store.commit_sealed() is True
    store.land_batch()
    assert _ids_on_disk(path) == {mid(1), mid(2), mid(3)}
    assert store.integrity_check() == []
    store.close()


def test_a_statement_of_the_next_batch_waits_for_the_sealed_commit_and_never_joins_it(
        tmp_path: Path) -> None:
    """A write the next batch cannot defer (a seen mark) waits on the caller's thread until
    the sealed COMMIT returned, then runs in the next batch's own transaction: rolling the
    next batch back takes the mark and leaves the sealed rows durable."""
    path = tmp_path / "hub.db"
    store = SqliteStore(path, 1 << 20)
    store.begin_batch()
    store.put(make_msg(1), NOW)
    store.seal_batch()
    hold = threading.Event()
    worker, outcome = _commit_sealed_on_a_thread(store, hold)
    store.begin_batch()
    watcher = _release_when(lambda: store.waits == 1, hold)
    store.mark_seen(mid(9), NOW)  # blocks until the watcher lets the COMMIT go
    watcher.join(30)
    worker.join(30)
    assert outcome == [True] and store.waits == 1 and store.seen(mid(9))
    store.rollback_batch()
    assert _ids_on_disk(path) == {mid(1)} and not store.seen(mid(9))
    reopened_marks = sqlite3.connect(path).execute("SELECT count(*) FROM seen").fetchone()[0]
    assert reopened_marks == 0
    assert store.integrity_check() == []
    store.close()


def test_a_failed_sealed_commit_voids_the_next_batch_and_a_rollback_forgets_both(
        tmp_path: Path) -> None:
    """SQLite refuses a row of batch k on the commit's thread: nothing of k is kept, batch
    k+1 (built on k's writes) is refused from then on, and `rollback_batch` leaves the store
    as it was before k."""
    path, store = _batch_with_a_refused_row(tmp_path)
    store.seal_batch()
    hold = threading.Event()
    hold.set()
    worker, outcome = _commit_sealed_on_a_thread(store, hold)
    store.begin_batch()
    assert store.put(make_msg(3), NOW) is PutResult.ACCEPTED  # from memory, before k failed
    worker.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], StoreError)
    with pytest.raises(StoreError, match="refused by the test"):
        store.mark_seen(mid(5), NOW)
    with pytest.raises(StoreError, match="refused by the test"):
        store.land_batch()
    store.rollback_batch()
    assert not store.has(mid(2)) and not store.has(mid(3)) and not store.seen(mid(5))
    assert store.usage().count == 0 and _ids_on_disk(path) == set()
    assert store.integrity_check() == []
    store.begin_batch()  # the store carries on
    store.put(make_msg(4), NOW)
    assert store.commit_batch() is True and _ids_on_disk(path) == {mid(4)}
    store.close()


def test_one_batch_at_most_is_sealed(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hub.db", 1 << 20)
    store.begin_batch()
    store.put(make_msg(1), NOW)
    store.seal_batch()
    store.begin_batch()
    with pytest.raises(StoreError, match="has not landed"):
        store.seal_batch()
    with pytest.raises(StoreError, match="a batch is already open"):
        store.begin_batch()
    assert store.commit_sealed() is True
    store.land_batch()
    store.seal_batch()
    assert store.commit_sealed() is False  # the second batch wrote nothing
    store.land_batch()
    with pytest.raises(StoreError, match="no batch is sealed"):
        store.commit_sealed()
    store.close()


def test_a_store_closed_with_a_sealed_batch_never_committed_keeps_none_of_it(
        tmp_path: Path) -> None:
    """A batch sealed just as the process stops, its commit never started: closing does not
    wait for it, and nothing of it is on disk (as after a crash)."""
    path = tmp_path / "hub.db"
    store = SqliteStore(path, 1 << 20)
    store.begin_batch()
    store.put(make_msg(1), NOW)
    store.seal_batch()
    store.close()
    assert _ids_on_disk(path) == set()
