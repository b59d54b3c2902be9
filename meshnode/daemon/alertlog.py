"""The daemon's alert history: every verified alert it received, and the alerts it refused.

The node keeps only the alerts in force (an Update or Cancel deletes what it replaces, a
revocation what its certificate signed), so the history people look back on lives here: each
verified alert as the API showed it when it arrived (`record`), marked when it was superseded
or withdrawn (`remove`). Alerts that failed verification are kept by reason (`reject`), with
how often and when they were last seen, so an app opened later can still say "NOT VERIFIED".
Both tables are bounded (`MAX_ALERTS`, `MAX_REJECTED`; the oldest go first).

`threads` groups entries the way CAP does: an Update or Cancel joins the alert it references.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meshnode.daemon.localdb import open_db, transaction, write

__all__ = ["MAX_ALERTS", "MAX_REASON", "MAX_REJECTED", "AlertLog", "LoggedAlert",
           "RejectedAlert", "threads"]

MAX_ALERTS = 500
MAX_REJECTED = 50
MAX_REASON = 200  # characters of a refusal reason kept

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS history (
        id BLOB PRIMARY KEY, received INTEGER NOT NULL, view TEXT NOT NULL,
        removed INTEGER, removed_reason TEXT)""",
    "CREATE INDEX IF NOT EXISTS history_time ON history (received, id)",
    """CREATE TABLE IF NOT EXISTS rejected (
        reason TEXT PRIMARY KEY, link TEXT, first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL, count INTEGER NOT NULL)""",
)


@dataclass(frozen=True, slots=True)
class LoggedAlert:
    """A verified alert as shown when it arrived; `removed` is when it was superseded or
    withdrawn (and `removed_reason` why), else None."""

    id: bytes
    received: int
    view: Mapping[str, Any]
    removed: int | None = None
    removed_reason: str | None = None


@dataclass(frozen=True, slots=True)
class RejectedAlert:
    """Alerts refused for one `reason`: how many, when first and last, from which link last."""

    reason: str
    link: str | None
    first_seen: int
    last_seen: int
    count: int


class AlertLog:
    """Alert history and refused alerts in one SQLite file. Not thread-safe."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        # Not power-safe: every verified alert is also in the message store, and the history
        # falls back to the store for alerts it lacks; a refusal is a count. An fsync here
        # would delay the relay of every alert (and a flood of forged ones would cost one each).
        self._db = open_db(self.path, _SCHEMA, "the alert log", power_safe=False)

    def record(self, view: Mapping[str, Any], received: int) -> bool:
        """Keep a verified alert's API view (its `id` is hex); False if already kept."""
        with transaction(self._db, self.path):
            added = write(self._db, self.path,
                          "INSERT OR IGNORE INTO history (id, received, view) VALUES (?, ?, ?)",
                          (bytes.fromhex(str(view["id"])), received,
                           json.dumps(dict(view), ensure_ascii=False, allow_nan=False))) > 0
            write(self._db, self.path, "DELETE FROM history WHERE id IN (SELECT id FROM "
                  "history ORDER BY received DESC, id DESC LIMIT -1 OFFSET ?)", (MAX_ALERTS,))
        return added

    def remove(self, msg_id: bytes, reason: str, now: int) -> bool:
        """Mark a kept alert superseded or withdrawn; False if unknown or already marked."""
        return write(self._db, self.path, "UPDATE history SET removed = ?, removed_reason = ? "
                     "WHERE id = ? AND removed IS NULL",
                     (now, reason[:MAX_REASON], msg_id)) > 0

    def entries(self, limit: int = MAX_ALERTS) -> list[LoggedAlert]:
        """The newest `limit` kept alerts, oldest first (rows that no longer parse skipped)."""
        rows = self._db.execute(
            "SELECT * FROM (SELECT id, received, view, removed, removed_reason FROM history "
            "ORDER BY received DESC, id DESC LIMIT ?) ORDER BY received, id",
            (limit,)).fetchall()
        out = []
        for msg_id, received, view, removed, removed_reason in rows:
            try:
                parsed = json.loads(view)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                out.append(LoggedAlert(msg_id, received, parsed, removed, removed_reason))
        return out

    def reject(self, reason: str, link: str | None, now: int) -> None:
        """Count an alert refused for `reason` (from `link`, None for local input)."""
        reason = reason[:MAX_REASON]
        with transaction(self._db, self.path):
            write(self._db, self.path,
                  "INSERT INTO rejected VALUES (?, ?, ?, ?, 1) ON CONFLICT (reason) DO UPDATE "
                  "SET link = excluded.link, last_seen = max(last_seen, excluded.last_seen), "
                  "count = count + 1", (reason, link, now, now))
            write(self._db, self.path, "DELETE FROM rejected WHERE reason IN (SELECT reason "
                  "FROM rejected ORDER BY last_seen DESC, reason LIMIT -1 OFFSET ?)",
                  (MAX_REJECTED,))

    def forget_rejected(self, mentioning: str) -> int:
        """Drop the refusals whose reason mentions `mentioning` (a root's id once it is pinned:
        those alerts verify now, and must not stay flagged as NOT VERIFIED); how many."""
        return write(self._db, self.path, "DELETE FROM rejected WHERE instr(reason, ?) > 0",
                     (mentioning,))

    def rejected(self, limit: int = MAX_REJECTED) -> list[RejectedAlert]:
        """Refusals, the most recently seen first."""
        rows = self._db.execute("SELECT reason, link, first_seen, last_seen, count FROM rejected "
                                "ORDER BY last_seen DESC, reason LIMIT ?", (limit,)).fetchall()
        return [RejectedAlert(*row) for row in rows]

    def close(self) -> None:
        self._db.close()


def _key(alert: Mapping[str, Any]) -> tuple[str, str]:
    return str(alert.get("sender")), str(alert.get("identifier"))


def threads(alerts: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Alert views grouped by CAP references: an Update or Cancel joins the thread of the alert
    it names. Entries oldest first (by `sent`, then `seq`); the thread updated last first."""
    out: list[list[Mapping[str, Any]]] = []
    by_key: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for alert in sorted(alerts, key=lambda a: (_int(a.get("sent")), _int(a.get("seq")))):
        thread = None
        for ref in alert.get("references") or []:
            if isinstance(ref, Mapping):
                thread = by_key.get((str(ref.get("sender")), str(ref.get("identifier"))))
                if thread is not None:
                    break
        if thread is None:
            thread = by_key.get(_key(alert))
        if thread is None:
            thread = []
            out.append(thread)
        thread.append(alert)
        by_key[_key(alert)] = thread
    out.sort(key=lambda t: (_int(t[-1].get("sent")), _int(t[-1].get("seq"))), reverse=True)
    return out


def _int(value: object) -> int:
    return value if type(value) is int else 0
