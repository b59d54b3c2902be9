"""Opening and writing the daemon's small record files (inbox, alert log, marks): SQLite,
WAL, durable.

Every failure is an `InboxError` naming the file, so the daemon treats a broken record file as
it treats the inbox: a storage failure it must not carry on past.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence

__all__ = ["InboxError", "open_db", "write"]


class InboxError(Exception):
    """A record file of the daemon (the inbox, the alert log, the marks) cannot be opened,
    read or written."""


def open_db(path: str | os.PathLike[str], schema: Sequence[str], what: str) -> sqlite3.Connection:
    """Open (creating) the SQLite file at `path` in autocommit mode and apply `schema`."""
    try:
        db = sqlite3.connect(os.fspath(path), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        for statement in schema:
            db.execute(statement)
    except sqlite3.Error as exc:
        raise InboxError(f"{os.fspath(path)}: cannot open {what}: {exc}") from exc
    return db


def write(db: sqlite3.Connection, path: str, sql: str, args: tuple[object, ...] = ()) -> int:
    """Run one writing statement; the number of rows changed."""
    try:
        return db.execute(sql, args).rowcount
    except sqlite3.Error as exc:
        raise InboxError(f"{path}: write failed: {exc}") from exc
