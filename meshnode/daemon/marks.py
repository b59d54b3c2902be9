"""Where the daemon's people and peers are up to: channel read marks and the last syncs.

A read mark is the local arrival time (unix seconds, `StoredMessage.received`) up to which a
channel's posts have been read; it only moves forward, so two apps (a terminal and the web UI)
marking the same channel cannot undo each other. A post that arrives in the same second as the
mark counts as read. Sync times are kept per link and overall. Both tables are bounded
(`MAX_CHANNELS`, `MAX_LINKS`; the least recent go first) and survive restarts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from meshnode.daemon.localdb import open_db, transaction, write

__all__ = ["MAX_CHANNELS", "MAX_LINKS", "Marks", "Sync"]

MAX_CHANNELS = 1000
MAX_LINKS = 256

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS read (channel TEXT PRIMARY KEY, upto INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS sync (link TEXT PRIMARY KEY, at INTEGER NOT NULL,
        sent INTEGER NOT NULL, received INTEGER NOT NULL)""",
)


@dataclass(frozen=True, slots=True)
class Sync:
    """A finished sync on `link` at `at`: messages sent and received in it."""

    link: str
    at: int
    sent: int
    received: int


class Marks:
    """Read marks and sync times in one SQLite file. Not thread-safe."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        # Not power-safe: a power cut may move a mark back (a few posts show as unread again)
        # or forget a sync time; an fsync per finished sync would sit on the core's thread.
        self._db = open_db(self.path, _SCHEMA, "the read marks", power_safe=False)

    def read_upto(self) -> dict[str, int]:
        """Every channel's read mark."""
        return dict(self._db.execute("SELECT channel, upto FROM read").fetchall())

    def mark_read(self, channel: str, upto: int) -> int | None:
        """Move `channel`'s mark forward to `upto`; the new mark, or None if it did not move."""
        current = self.read_upto().get(channel, 0)
        if upto <= current:
            return None
        with transaction(self._db, self.path):
            write(self._db, self.path, "INSERT INTO read VALUES (?, ?) ON CONFLICT (channel) "
                  "DO UPDATE SET upto = excluded.upto", (channel, upto))
            write(self._db, self.path, "DELETE FROM read WHERE channel IN (SELECT channel FROM "
                  "read ORDER BY upto DESC, channel LIMIT -1 OFFSET ?)", (MAX_CHANNELS,))
        return upto

    def synced(self, sync: Sync) -> None:
        with transaction(self._db, self.path):
            write(self._db, self.path, "INSERT OR REPLACE INTO sync VALUES (?, ?, ?, ?)",
                  (sync.link, sync.at, sync.sent, sync.received))
            write(self._db, self.path, "DELETE FROM sync WHERE link IN (SELECT link FROM sync "
                  "ORDER BY at DESC, link LIMIT -1 OFFSET ?)", (MAX_LINKS,))

    def syncs(self) -> dict[str, Sync]:
        """The last sync of every link remembered, by link."""
        rows = self._db.execute("SELECT link, at, sent, received FROM sync").fetchall()
        return {row[0]: Sync(*row) for row in rows}

    def last_sync(self) -> int | None:
        """When a sync with any peer last finished; None if never."""
        value = self._db.execute("SELECT max(at) FROM sync").fetchone()[0]
        return None if value is None else int(value)

    def close(self) -> None:
        self._db.close()
