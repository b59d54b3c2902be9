"""SqliteStore specifics: persistence, schema versioning, corrupt files, atomic writes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from meshnode.store import (
    MemoryStore,
    Priority,
    PutResult,
    SchemaVersionError,
    SqliteStore,
    StoreError,
)
from meshnode.store.sqlite import APPLICATION_ID, SCHEMA_VERSION

from .helpers import charged, contents, make_msg, mid

NOW = 50


def _filled(path: Path, capacity: int = 10**6) -> SqliteStore:
    store = SqliteStore(path, capacity, seen_capacity=8)
    store.put(make_msg(1, priority=Priority.ALERT, issuer=b"vr", seq=4, pinned=True), NOW)
    store.put(make_msg(2, channel="buurt", created=7), NOW)
    store.put(make_msg(3, priority=Priority.DM, tag=b"tag"), NOW)
    store.mark_seen(mid(9), NOW)
    store.set_meta("counter", b"\x07")
    return store


def test_everything_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    store = _filled(path)
    before = (contents(store), store.usage(), store.issuer_seqs())
    store.close()
    again = SqliteStore(path, 10**6, seen_capacity=8)
    assert (contents(again), again.usage(), again.issuer_seqs()) == before
    assert again.seen(mid(9)) and again.seen_count() == 1
    assert again.get_meta("counter") == b"\x07"
    assert again.integrity_check() == []
    again.close()


def test_file_is_wal_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    _filled(path).close()
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    finally:
        raw.close()


def test_reopening_with_smaller_seen_capacity_trims_oldest(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    store = SqliteStore(path, 10**6, seen_capacity=8)
    for n in range(6):
        store.mark_seen(mid(n), NOW + n)
    store.close()
    store = SqliteStore(path, 10**6, seen_capacity=2)
    assert store.seen_count() == 2
    assert [store.seen(mid(n)) for n in range(6)] == [False] * 4 + [True, True]
    store.close()


def test_reopening_with_smaller_capacity_keeps_messages_and_evicts_later(
    tmp_path: Path,
) -> None:
    path = tmp_path / "node.db"
    store = SqliteStore(path, charged(300, 300, 300))
    for n in (1, 2, 3):
        store.put(make_msg(n, created=n), NOW)
    store.close()
    store = SqliteStore(path, charged(300))
    assert store.usage().count == 3
    assert store.put(make_msg(4, created=9), NOW) is PutResult.ACCEPTED
    assert [m.id for m in contents(store)] == [mid(4)]
    store.close()


def test_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    _filled(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    raw.close()
    before = path.read_bytes()
    with pytest.raises(SchemaVersionError, match="newer"):
        SqliteStore(path, 10**6)
    assert path.read_bytes() == before


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE contacts (name TEXT)")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="not a meshnode message store"):
        SqliteStore(path, 10**6)


@pytest.mark.parametrize(
    "content",
    [b"this is not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 4000],
)
def test_garbage_file_raises_store_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "node.db"
    path.write_bytes(content)
    with pytest.raises(StoreError, match=str(path)):
        SqliteStore(path, 10**6)
    assert path.read_bytes() == content


def test_damaged_pages_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    store = SqliteStore(path, 10**6)
    store.put_many([make_msg(n, size=900) for n in range(40)], NOW)
    store.close()
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    for offset in range(2 * page, len(data) - page, page):  # keep the header page intact
        data[offset : offset + 64] = b"\xa5" * 64
    path.write_bytes(bytes(data))
    try:
        damaged = SqliteStore(path, 10**6)
    except StoreError:
        return  # refused at open: the outcome we want
    try:
        assert damaged.integrity_check() != []
    finally:
        damaged.close()


def _install_failing_trigger(path: Path, kind: int) -> None:
    raw = sqlite3.connect(path)
    raw.execute(
        "CREATE TRIGGER fail_kind BEFORE INSERT ON messages "
        f"WHEN NEW.kind = {kind} BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    )
    raw.commit()
    raw.close()


def test_failure_mid_put_rolls_back_its_evictions(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    store = SqliteStore(path, charged(300, 300))
    store.put(make_msg(1, created=1), NOW)
    store.put(make_msg(2, created=2), NOW)
    _install_failing_trigger(path, kind=77)
    before = (contents(store), store.usage(), store.seen_count())
    with pytest.raises(StoreError, match="injected failure"):
        store.put(make_msg(3, priority=Priority.DM, kind=77), NOW)  # would evict 1
    assert (contents(store), store.usage(), store.seen_count()) == before
    assert not store.seen(mid(1))
    assert store.integrity_check() == []
    store.close()


def test_failure_mid_put_many_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    store = SqliteStore(path, 10**6)
    store.put(make_msg(1), NOW)
    _install_failing_trigger(path, kind=77)
    before = (contents(store), store.usage())
    batch = [make_msg(2), make_msg(3), make_msg(4, kind=77), make_msg(5)]
    with pytest.raises(StoreError, match="injected failure"):
        store.put_many(batch, NOW)
    assert (contents(store), store.usage()) == before
    store.close()
    reopened = SqliteStore(path, 10**6)
    assert contents(reopened) == before[0]
    reopened.close()


def test_locked_database_raises_store_error_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    store = SqliteStore(path, 10**6, busy_timeout=0.05)
    store.put(make_msg(1), NOW)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="locked"):
            store.put(make_msg(2), NOW)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert [m.id for m in contents(store)] == [mid(1)]
    assert store.put(make_msg(2), NOW) is PutResult.ACCEPTED
    store.close()


def test_integrity_check_notices_tables_changed_behind_its_back(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    store = _filled(path)
    raw = sqlite3.connect(path)
    raw.execute("DELETE FROM messages WHERE id = ?", (mid(2),))
    raw.commit()
    raw.close()
    assert store.integrity_check() == ["in-memory id sets disagree with the tables",
                                       "usage counters disagree with the tables"]
    store.close()


def test_same_contents_as_memory_store_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    batch = [make_msg(n, created=n % 5, priority=1 + n % 5, size=50 + n) for n in range(30)]
    capacity = charged(*[80] * 12)
    memory = MemoryStore(capacity)
    store = SqliteStore(path, capacity)
    assert memory.put_many(batch, NOW) == store.put_many(batch, NOW)
    store.close()
    store = SqliteStore(path, capacity)
    assert contents(store) == contents(memory)
    assert store.usage() == memory.usage()
    store.close()


def test_processes_opening_a_new_file_at_once_all_succeed(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    code = (
        "import sys\n"
        "from meshnode.store import SqliteStore\n"
        "SqliteStore(sys.argv[1], 10**6).close()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], env=env, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    errors = [p.communicate()[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    store = SqliteStore(path, 10**6)
    assert store.integrity_check() == []
    store.close()
