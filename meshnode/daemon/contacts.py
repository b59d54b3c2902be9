"""The contact book: names bound to public keys, and warnings when keys change.

A name is bound to exactly one identity (signing + agreement key) and a key to one name; the
binding never changes silently (docs/design.md §5, requirements 2-3): replacing it takes
`replace=True`, which the user does after comparing fingerprints in person, so it also clears
that name's warnings (the user acted on them); `dismiss_warnings` clears them without
rebinding. `check_announce` compares an identity card seen in the mesh with the book and
records a `KeyWarning` when it claims a contact's name with other keys, or a contact's signing
key with another agreement key.
Stored in one SQLite file in the data directory.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from enum import StrEnum

from meshnode.crypto.identity import PublicIdentity, fingerprint
from meshnode.wire import NAME_MAX

__all__ = ["Contact", "ContactBook", "ContactError", "KeyWarning", "Problem",
           "normalise_fingerprint"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS contacts (
        name TEXT PRIMARY KEY, sign_key BLOB NOT NULL UNIQUE, dh_key BLOB NOT NULL,
        added INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS warnings (
        name TEXT NOT NULL, old_sign BLOB NOT NULL, new_sign BLOB NOT NULL,
        new_dh BLOB NOT NULL, seen INTEGER NOT NULL, detail TEXT NOT NULL,
        PRIMARY KEY (name, new_sign, new_dh))""",
)
MAX_WARNINGS = 1000


class Problem(StrEnum):
    CONFLICT = "conflict"
    NOT_FOUND = "not_found"
    INVALID = "invalid"


class ContactError(Exception):
    """A contact operation refused; `problem` says why, the message what to do."""

    def __init__(self, problem: Problem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    sign_key: bytes
    dh_key: bytes
    added: int

    @property
    def identity(self) -> PublicIdentity:
        return PublicIdentity(self.sign_key, self.dh_key)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.sign_key)


@dataclass(frozen=True, slots=True)
class KeyWarning:
    """Keys seen for `name` that differ from the ones in the book."""

    name: str
    old_sign: bytes
    new_sign: bytes
    new_dh: bytes
    seen: int
    detail: str


def normalise_fingerprint(text: str) -> str:
    """Fingerprints compare without spaces or case: ``abcd efgh`` == ``ABCDEFGH``."""
    return "".join(text.split()).upper()


class ContactBook:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            for statement in _SCHEMA:
                self._db.execute(statement)
        except sqlite3.Error as exc:
            raise ContactError(Problem.INVALID, f"{self.path}: cannot open contacts: {exc}") \
                from exc

    def all(self) -> list[Contact]:
        rows = self._db.execute("SELECT name, sign_key, dh_key, added FROM contacts "
                                "ORDER BY name").fetchall()
        return [Contact(*row) for row in rows]

    def by_name(self, name: str) -> Contact | None:
        row = self._db.execute("SELECT name, sign_key, dh_key, added FROM contacts "
                               "WHERE name = ?", (name,)).fetchone()
        return None if row is None else Contact(*row)

    def by_sign_key(self, sign_key: bytes) -> Contact | None:
        row = self._db.execute("SELECT name, sign_key, dh_key, added FROM contacts "
                               "WHERE sign_key = ?", (sign_key,)).fetchone()
        return None if row is None else Contact(*row)

    def by_fingerprint(self, text: str) -> Contact | None:
        wanted = normalise_fingerprint(text)
        return next((c for c in self.all()
                     if normalise_fingerprint(c.fingerprint) == wanted), None)

    def add(self, name: str, identity: PublicIdentity, now: int, *,
            replace: bool = False) -> Contact:
        """Bind `name` to `identity`. Rebinding a name or a key needs `replace`, which clears the
        name's key-change warnings: the user compared fingerprints and acted on them."""
        name = name.strip()
        if not name or len(name.encode("utf-8")) > NAME_MAX or any(
                c < " " for c in name):
            raise ContactError(Problem.INVALID, f"a contact name is 1..{NAME_MAX} bytes of "
                                                "printable text")
        if len(identity.sign_key) != 32 or len(identity.dh_key) != 32:
            raise ContactError(Problem.INVALID, "keys are 32 bytes each")
        current = self.by_name(name)
        holder = self.by_sign_key(identity.sign_key)
        if current is not None and current.identity == identity:
            return current
        if holder is not None and holder.name != name and not replace:
            raise ContactError(Problem.CONFLICT, f"these keys already belong to contact "
                                                 f"{holder.name!r}; remove it first")
        if current is not None and not replace:
            raise ContactError(Problem.CONFLICT, f"{name!r} is bound to other keys "
                               f"(fingerprint {current.fingerprint}); compare fingerprints in "
                               "person, then add again with replace to rebind the name")
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            if current is not None:
                self._db.execute("DELETE FROM warnings WHERE name = ?", (name,))
                self._db.execute("DELETE FROM contacts WHERE name = ?", (name,))
            if holder is not None and holder.name != name:
                self._db.execute("DELETE FROM contacts WHERE name = ?", (holder.name,))
            self._db.execute("INSERT INTO contacts VALUES (?, ?, ?, ?)",
                             (name, identity.sign_key, identity.dh_key, now))
        contact = self.by_name(name)
        assert contact is not None
        return contact

    def remove(self, name: str) -> bool:
        return self._db.execute("DELETE FROM contacts WHERE name = ?", (name,)).rowcount > 0

    def check_announce(self, name: str, identity: PublicIdentity, now: int) -> KeyWarning | None:
        """Compare an identity card from the mesh with the book; a new mismatch is recorded."""
        holder = self.by_sign_key(identity.sign_key)
        if holder is not None and holder.dh_key != identity.dh_key:
            return self._record(holder.name, holder.sign_key, identity, now,
                                "contact's signing key announced with another agreement key")
        named = self.by_name(name)
        if named is not None and named.sign_key != identity.sign_key:
            return self._record(named.name, named.sign_key, identity, now,
                                "someone announces a contact's name with other keys")
        return None

    def _record(self, name: str, old_sign: bytes, identity: PublicIdentity, now: int,
                detail: str) -> KeyWarning | None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            added = self._warn(name, old_sign, identity, now, detail)
        if not added:
            return None
        return KeyWarning(name, old_sign, identity.sign_key, identity.dh_key, now, detail)

    def _warn(self, name: str, old_sign: bytes, identity: PublicIdentity, now: int,
              detail: str) -> bool:
        added = self._db.execute(
            "INSERT OR IGNORE INTO warnings VALUES (?, ?, ?, ?, ?, ?)",
            (name, old_sign, identity.sign_key, identity.dh_key, now, detail)).rowcount > 0
        self._db.execute("DELETE FROM warnings WHERE rowid IN (SELECT rowid FROM warnings "
                         "ORDER BY seen DESC LIMIT -1 OFFSET ?)", (MAX_WARNINGS,))
        return added

    def dismiss_warnings(self, name: str) -> int:
        """Delete the key-change warnings about `name` (after the user checked the keys in
        person); returns how many there were."""
        return self._db.execute("DELETE FROM warnings WHERE name = ?", (name,)).rowcount

    def warnings(self) -> list[KeyWarning]:
        rows = self._db.execute("SELECT name, old_sign, new_sign, new_dh, seen, detail "
                                "FROM warnings ORDER BY seen, name").fetchall()
        return [KeyWarning(*row) for row in rows]

    def close(self) -> None:
        self._db.close()
