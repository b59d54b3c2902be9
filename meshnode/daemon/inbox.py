"""The daemon's record of direct messages: those opened for us and those we sent.

`Node` opens a DM addressed to us, hands the plaintext over once (`DmReceived`) and keeps only
the receipt, so the daemon writes the DM here at once, durably (SQLite WAL, synchronous=FULL),
before anything else happens. Sent DMs are kept with their delivery state (relay handovers,
receipt). Both lists are bounded: beyond `max_messages` each, the oldest are dropped.

The node's own words are also kept here in sealed, signed form (the wire bytes of each DM we
sent and each post we made), because the message store that otherwise holds them may be lost:
a damaged store is moved aside and replaced by an empty one. `to_restore` lists what the
daemon then publishes again: undelivered DMs and posts, oldest first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from meshnode.daemon.localdb import InboxError, open_db, write

__all__ = ["Inbox", "InboxError", "ReceivedDm", "SentDm"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS received (
        id BLOB PRIMARY KEY, sender_sign BLOB NOT NULL, sender_dh BLOB NOT NULL,
        text TEXT NOT NULL, created INTEGER NOT NULL, received INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS received_time ON received (received, id)",
    """CREATE TABLE IF NOT EXISTS sent (
        id BLOB PRIMARY KEY, recipient_sign BLOB NOT NULL, recipient_dh BLOB NOT NULL,
        text TEXT NOT NULL, created INTEGER NOT NULL, handovers INTEGER NOT NULL DEFAULT 0,
        delivered INTEGER)""",
    "CREATE INDEX IF NOT EXISTS sent_time ON sent (created, id)",
    """CREATE TABLE IF NOT EXISTS own_posts (
        id BLOB PRIMARY KEY, raw BLOB NOT NULL, created INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS own_posts_time ON own_posts (created, id)",
)
_SENT_RAW = "ALTER TABLE sent ADD COLUMN raw BLOB"  # inboxes from before sealed copies were kept


@dataclass(frozen=True, slots=True)
class ReceivedDm:
    id: bytes
    sender_sign: bytes
    sender_dh: bytes
    text: str
    created: int
    received: int


@dataclass(frozen=True, slots=True)
class SentDm:
    id: bytes
    recipient_sign: bytes
    recipient_dh: bytes
    text: str
    created: int
    handovers: int = 0
    delivered: int | None = None


class Inbox:
    """Received and sent DMs in one SQLite file. Not thread-safe: one task uses it."""

    def __init__(self, path: str | os.PathLike[str], *, max_messages: int = 10_000) -> None:
        self.path = os.fspath(path)
        self.max_messages = max_messages
        self._db = open_db(self.path, _SCHEMA, "the inbox")
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(sent)")}
        if "raw" not in columns:
            self._write(_SENT_RAW, ())

    def _write(self, sql: str, args: tuple[object, ...]) -> int:
        return write(self._db, self.path, sql, args)

    def _trim(self, table: str, time_column: str) -> None:
        """Keep the newest `max_messages` rows of `table`."""
        self._write(f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "
                    f"ORDER BY {time_column} DESC, id DESC LIMIT -1 OFFSET ?)",
                    (self.max_messages,))

    def add_received(self, dm: ReceivedDm) -> bool:
        """Record a DM opened for us; False if it was already there."""
        added = self._write("INSERT OR IGNORE INTO received VALUES (?, ?, ?, ?, ?, ?)",
                            (dm.id, dm.sender_sign, dm.sender_dh, dm.text, dm.created,
                             dm.received)) > 0
        self._trim("received", "received")
        return added

    def received(self, *, since: int = 0, limit: int = 50) -> list[ReceivedDm]:
        """The newest `limit` DMs received at or after `since`, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM (SELECT id, sender_sign, sender_dh, text, created, received "
            "FROM received WHERE received >= ? ORDER BY received DESC, id DESC LIMIT ?) "
            "ORDER BY received, id", (since, limit)).fetchall()
        return [ReceivedDm(*row) for row in rows]

    def add_sent(self, dm: SentDm, sealed: bytes | None = None) -> None:
        """Record a DM we sent; `sealed` is its wire form, kept so it can be sent again."""
        self._write("INSERT OR IGNORE INTO sent (id, recipient_sign, recipient_dh, text, created,"
                    " raw) VALUES (?, ?, ?, ?, ?, ?)",
                    (dm.id, dm.recipient_sign, dm.recipient_dh, dm.text, dm.created, sealed))
        self._trim("sent", "created")

    def add_own_post(self, post_id: bytes, raw: bytes, created: int) -> None:
        """Keep the wire form of a post we made, so it can be published again."""
        self._write("INSERT OR IGNORE INTO own_posts VALUES (?, ?, ?)", (post_id, raw, created))
        self._trim("own_posts", "created")

    def to_restore(self) -> tuple[list[bytes], list[bytes]]:
        """(sealed DMs not yet delivered, own posts): wire forms, oldest first."""
        dms = self._db.execute("SELECT raw FROM sent WHERE delivered IS NULL AND raw IS NOT NULL"
                               " ORDER BY created, id").fetchall()
        posts = self._db.execute("SELECT raw FROM own_posts ORDER BY created, id").fetchall()
        return [bytes(r[0]) for r in dms], [bytes(r[0]) for r in posts]

    def carried(self, dm_id: bytes, handovers: int) -> None:
        self._write("UPDATE sent SET handovers = max(handovers, ?) WHERE id = ?",
                    (handovers, dm_id))

    def delivered(self, dm_id: bytes, now: int) -> bool:
        """Mark a sent DM delivered (its receipt arrived); False if unknown or already marked."""
        return self._write("UPDATE sent SET delivered = ? WHERE id = ? AND delivered IS NULL",
                           (now, dm_id)) > 0

    def sent(self, *, limit: int = 50) -> list[SentDm]:
        rows = self._db.execute(
            "SELECT * FROM (SELECT id, recipient_sign, recipient_dh, text, created, handovers, "
            "delivered FROM sent ORDER BY created DESC, id DESC LIMIT ?) ORDER BY created, id",
            (limit,)).fetchall()
        return [SentDm(*row) for row in rows]

    def counts(self) -> tuple[int, int]:
        """(received, sent) held."""
        row = self._db.execute(
            "SELECT (SELECT count(*) FROM received), (SELECT count(*) FROM sent)").fetchone()
        return int(row[0]), int(row[1])

    def close(self) -> None:
        self._db.close()
