"""Opening and writing the daemon's small record files (inbox, alert log, marks): SQLite,
WAL, durable.

Every failure is an `InboxError` naming the file, so the daemon treats a broken record file as
it treats the inbox: a storage failure it must not carry on past.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence

__all__ = ["InboxError", "open_db", "transaction", "write"]


class InboxError(Exception):
    """A record file of the daemon (the inbox, the alert log, the marks) cannot be opened,
    read or written."""


def open_db(path: str | os.PathLike[str], schema: Sequence[str], what: str, *,
            power_safe: bool = True) -> sqlite3.Connection:
    """Open (creating) the SQLite file at `path` in autocommit mode and apply `schema`.

    Every commit survives the process being killed. With `power_safe` (the inbox: a receipt
    promises the DM is kept) it also survives a power cut, at one fsync per commit; without it
    (WAL, synchronous=NORMAL) a power cut may lose the last commits. Only files whose loss is
    made good from elsewhere may do without: each fsync here runs on the daemon's core thread,
    ahead of the frames its batch releases (an alert's relay waited for two of them)."""
    try:
        db = sqlite3.connect(os.fspath(path), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if power_safe else 'NORMAL'}")
        for statement in schema:
            db.execute(statement)
    except sqlite3.Error as exc:
        raise InboxError(f"{os.fspath(path)}: cannot open {what}: {exc}") from exc
    return db


@contextlib.contextmanager
def transaction(db: sqlite3.Connection, path: str) -> Iterator[None]:
    """Run the `write`s inside as one transaction: all of them are kept, or none."""
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise InboxError(f"{path}: write failed: {exc}") from exc
    try:
        yield
    except BaseException:
        db.rollback()
        raise
    try:
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        db.rollback()
        raise InboxError(f"{path}: write failed: {exc}") from exc


def write(db: sqlite3.Connection, path: str, sql: str, args: tuple[object, ...] = ()) -> int:
    """Run one writing statement; the number of rows changed."""
    try:
        return db.execute(sql, args).rowcount
    except sqlite3.Error as exc:
        raise InboxError(f"{path}: write failed: {exc}") from exc
