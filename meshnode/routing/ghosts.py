"""Ghosts: ids a node knows exist but cannot obtain from the peers that hold them (§10.2).

A holder whose copy can go no further (no hops left, a spray-and-wait copy in its wait phase)
lists it in reconciliation as class 0. A peer that lacks it records a *ghost*: the same
`(created, id)` item, of class 0, in its own reconciled set. From then on the two sets agree on
that id and no contact spends airtime on it, while a holder that can really give a copy
(class 1) still differs from the ghost and is asked. A ghost is replaced by the real message
when that arrives, and expires `GHOST_LIFETIME` after the message's creation (the longest
lifetime of a post, DM or receipt).

Ghosts live in the store's meta table (key ``ghost/<hex id>``, value the creation and expiry
times as two 8-byte big-endian integers), so a restart keeps them and `SqliteStore` persists
them within the node's group commit like any other write. At most `limit` are kept; beyond
that new ones are refused: a peer flooding us with made-up ghosts costs us only the saving on
later ids, never a delivery (a ghost never hides a copy that can be given).
"""

from __future__ import annotations

from meshnode.store.base import MessageStore
from meshnode.wire import DAY

__all__ = ["DEFAULT_GHOST_LIMIT", "GHOST_LIFETIME", "GhostBook"]

GHOST_LIFETIME = 14 * DAY
DEFAULT_GHOST_LIMIT = 16_384
_PREFIX = "ghost/"


class GhostBook:
    """The ghosts of one node, mirrored in its store (see the module docstring)."""

    def __init__(self, store: MessageStore, limit: int = DEFAULT_GHOST_LIMIT) -> None:
        self._store = store
        self._limit = limit
        self._ghosts: dict[bytes, tuple[int, int]] = {}  # id -> (created, expires)
        self.reload()

    def reload(self) -> None:
        """Read the ghosts from the store again (after a rolled-back batch)."""
        self._ghosts.clear()
        for key in self._store.meta_keys(_PREFIX):
            value = self._store.get_meta(key)
            try:
                ghost_id = bytes.fromhex(key[len(_PREFIX):])
            except ValueError:
                continue
            if value is None or len(value) != 16 or len(ghost_id) != 16:
                continue
            created, expires = int.from_bytes(value[:8], "big"), int.from_bytes(value[8:], "big")
            self._ghosts[ghost_id] = (created, expires)

    def __len__(self) -> int:
        return len(self._ghosts)

    def __contains__(self, ghost_id: bytes) -> bool:
        return ghost_id in self._ghosts

    def items(self) -> list[tuple[int, bytes]]:
        """Every ghost as a reconciliation item `(created, id)`."""
        return [(created, ghost_id) for ghost_id, (created, _) in self._ghosts.items()]

    def add(self, ghost_id: bytes, created: int, now: int) -> bool:
        """Record a ghost; False if it is already known, already expired, or the book is full."""
        expires = created + GHOST_LIFETIME
        if ghost_id in self._ghosts or expires <= now or len(self._ghosts) >= self._limit:
            return False
        self._ghosts[ghost_id] = (created, expires)
        self._store.set_meta(_PREFIX + ghost_id.hex(),
                             created.to_bytes(8, "big") + expires.to_bytes(8, "big"))
        return True

    def discard(self, ghost_id: bytes) -> tuple[int, bytes] | None:
        """Forget a ghost (the real message arrived); its item, or None if there was none."""
        entry = self._ghosts.pop(ghost_id, None)
        if entry is None:
            return None
        self._store.delete_meta(_PREFIX + ghost_id.hex())
        return (entry[0], ghost_id)

    def expire(self, now: int) -> bool:
        """Forget the ghosts whose message has expired; True if any was."""
        gone = [g for g, (_, expires) in self._ghosts.items() if expires <= now]
        for ghost_id in gone:
            self.discard(ghost_id)
        return bool(gone)
