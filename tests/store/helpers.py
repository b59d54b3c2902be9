"""Builders shared by the store tests."""

from __future__ import annotations

from pathlib import Path

from meshnode.store import MESSAGE_OVERHEAD, MemoryStore, SqliteStore, StoredMessage
from meshnode.store.base import MessageStore

KINDS = ("memory", "sqlite")


def mid(n: int) -> bytes:
    """A distinct 16-byte id for a small integer."""
    return n.to_bytes(16, "big")


def make_msg(
    n: int,
    *,
    priority: int = 1,
    created: int = 100,
    expires: int = 10_000,
    size: int = 300,
    kind: int | None = None,
    **extra: object,
) -> StoredMessage:
    """A message whose charged size is exactly `size` + MESSAGE_OVERHEAD."""
    return StoredMessage(
        id=mid(n),
        kind=priority if kind is None else kind,
        raw=bytes([n % 256]) * size,
        priority=priority,
        created=created,
        expires=expires,
        received=created,
        **extra,  # type: ignore[arg-type]
    )


def charged(*sizes: int) -> int:
    """Capacity that holds exactly messages with these raw sizes."""
    return sum(sizes) + MESSAGE_OVERHEAD * len(sizes)


def open_store(kind: str, path: Path, capacity: int, seen_capacity: int = 64) -> MessageStore:
    """A fresh store of the given implementation (`path` is the SQLite file)."""
    if kind == "memory":
        return MemoryStore(capacity, seen_capacity=seen_capacity)
    return SqliteStore(path, capacity, seen_capacity=seen_capacity)


def contents(store: MessageStore) -> list[StoredMessage]:
    """Every stored message, in sync order."""
    found = [store.get(i) for _, i in store.ids_since(0)]
    assert all(m is not None for m in found)
    return [m for m in found if m is not None]
