"""Builders shared by the store tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from meshnode.store import MESSAGE_OVERHEAD, MemoryStore, PutResult, SqliteStore, StoredMessage
from meshnode.store.base import MessageStore
from meshnode.store.memory import SharedBytes

KINDS = ("memory", "shared-memory", "sqlite")


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
    if kind == "shared-memory":
        return SharingStore(capacity, seen_capacity)
    return SqliteStore(path, capacity, seen_capacity=seen_capacity)


def twin_copy(msg: StoredMessage) -> StoredMessage:
    """What another node holds of `msg`: equal bytes in a distinct object, received later."""
    return replace(msg, raw=bytes(bytearray(msg.raw)), received=msg.received + 1)


class SharingStore(MemoryStore):
    """A `MemoryStore` sharing bytes with a twin store that is handed a copy of every message
    first (as another simulated node would hold it), so that each put here stores bytes the
    twin already holds: the contract must hold for the store that takes shared bytes."""

    def __init__(self, capacity: int, seen_capacity: int) -> None:
        self.bytes_shared = SharedBytes()
        super().__init__(capacity, seen_capacity=seen_capacity, shared=self.bytes_shared)
        self.twin = MemoryStore(10**9, shared=self.bytes_shared)

    def put(self, msg: StoredMessage, now: int) -> PutResult:
        self._to_twin([msg], now)
        return super().put(msg, now)

    def put_many(self, msgs: Sequence[StoredMessage], now: int) -> list[PutResult]:
        self._to_twin(msgs, now)
        return super().put_many(msgs, now)

    def _to_twin(self, msgs: Sequence[StoredMessage], now: int) -> None:
        for msg in msgs:
            if type(msg) is StoredMessage and type(now) is int and now >= 0:  # else: refused
                self.twin.put(twin_copy(msg), now)


def contents(store: MessageStore) -> list[StoredMessage]:
    """Every stored message, in sync order."""
    found = [store.get(i) for _, i in store.ids_since(0)]
    assert all(m is not None for m in found)
    return [m for m in found if m is not None]
