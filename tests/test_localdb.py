"""The daemon's small record files: a transaction keeps all of its writes or none."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from meshnode.daemon.localdb import InboxError, open_db, transaction, write

SCHEMA = ("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)",)


def _rows(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:  # a second connection: what is on disk, committed
        return [row[0] for row in db.execute("SELECT k FROM t ORDER BY k")]


def test_a_transaction_keeps_all_of_its_writes(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    db = open_db(path, SCHEMA, "the test file", power_safe=False)
    with transaction(db, str(path)):
        write(db, str(path), "INSERT INTO t VALUES ('a')")
        write(db, str(path), "INSERT INTO t VALUES ('b')")
    assert _rows(path) == ["a", "b"]


def test_a_failing_write_undoes_the_transactions_earlier_writes(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    db = open_db(path, SCHEMA, "the test file")
    write(db, str(path), "INSERT INTO t VALUES ('kept')")
    with pytest.raises(InboxError, match="write failed"), transaction(db, str(path)):
        write(db, str(path), "INSERT INTO t VALUES ('a')")
        write(db, str(path), "INSERT INTO t VALUES ('kept')")  # a duplicate key
    assert _rows(path) == ["kept"]
    write(db, str(path), "INSERT INTO t VALUES ('b')")  # the connection is usable after
    assert _rows(path) == ["b", "kept"]
