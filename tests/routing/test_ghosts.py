"""GhostBook (docs/protocol.md §10.2, "Ghosts"): bounded, expiring, persisted in the store."""

from __future__ import annotations

from pathlib import Path

from meshnode.routing.ghosts import GHOST_LIFETIME, GhostBook
from meshnode.store.sqlite import SqliteStore

NOW = 1_790_000_000


def gid(n: int) -> bytes:
    return n.to_bytes(16, "big")


def test_a_flood_of_ghosts_stops_at_the_limit_and_changes_nothing_beyond(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "g.db", 1 << 20)
    book = GhostBook(store, limit=3)
    assert [book.add(gid(n), NOW, NOW) for n in range(5)] == [True, True, True, False, False]
    assert len(book) == 3 and gid(4) not in book
    assert len(store.meta_keys("ghost/")) == 3
    store.close()


def test_ghosts_expire_with_the_longest_message_lifetime_and_reload(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    store = SqliteStore(path, 1 << 20)
    book = GhostBook(store)
    assert book.add(gid(1), NOW, NOW) and book.add(gid(2), NOW + 100, NOW)
    assert not book.add(gid(3), NOW - GHOST_LIFETIME, NOW)  # its message has expired already
    assert not book.add(gid(1), NOW, NOW)  # known already
    store.close()
    store = SqliteStore(path, 1 << 20)
    again = GhostBook(store)
    assert sorted(again.items()) == [(NOW, gid(1)), (NOW + 100, gid(2))]
    assert again.expire(NOW + GHOST_LIFETIME) and again.items() == [(NOW + 100, gid(2))]
    assert again.discard(gid(2)) == (NOW + 100, gid(2)) and again.discard(gid(2)) is None
    assert len(again) == 0 and store.meta_keys("ghost/") == []
    store.close()
