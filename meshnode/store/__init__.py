"""Bounded message store: one interface (`MessageStore`), a durable and an in-memory store."""

from meshnode.store.base import (
    MESSAGE_OVERHEAD,
    InvalidInput,
    MessageStore,
    Priority,
    PutResult,
    SchemaVersionError,
    StoredMessage,
    StoreError,
    StoreUsage,
)
from meshnode.store.memory import MemoryStore
from meshnode.store.sqlite import SqliteStore

__all__ = [
    "MESSAGE_OVERHEAD",
    "InvalidInput",
    "MemoryStore",
    "MessageStore",
    "Priority",
    "PutResult",
    "SchemaVersionError",
    "SqliteStore",
    "StoreError",
    "StoreUsage",
    "StoredMessage",
]
