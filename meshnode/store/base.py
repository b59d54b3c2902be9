"""Message store interface, record types and the one eviction ordering both stores share.

The store holds messages the node has already validated. It never parses `raw`: the caller
supplies the indexed metadata. Capacity is counted in bytes as `len(raw) + MESSAGE_OVERHEAD`
per message (see `message_size`).

Eviction, when a new message does not fit (`plan_eviction`):

1. expired messages (`expires <= now`), whatever their priority or pin;
2. then live, unpinned messages in ascending `eviction_rank`: lowest priority first, then oldest
   (`created`), then largest, then lowest id (a deterministic tie-break).

A message may only evict messages whose rank is strictly below its own, so a message never
evicts one of higher priority (nor a newer one of the same priority). Pinned messages (valid
alerts) are only removed by `expire` or `delete` (cancel/supersede), never to make room. If the
message cannot fit after evicting everything allowed, the put is refused and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Protocol, runtime_checkable

__all__ = [
    "DEFAULT_SEEN_CAPACITY",
    "ID_SIZE",
    "MAX_CHANNEL_BYTES",
    "MAX_INT",
    "MAX_KEY_BYTES",
    "MESSAGE_OVERHEAD",
    "BatchStore",
    "Candidate",
    "EvictionRank",
    "InvalidInput",
    "MessageStore",
    "Priority",
    "PutResult",
    "SchemaVersionError",
    "StoreError",
    "StoreUsage",
    "StoreView",
    "StoredMessage",
    "check_bound",
    "check_capacity",
    "check_channel",
    "check_id",
    "check_key",
    "check_limit",
    "check_message",
    "check_meta",
    "check_uint",
    "eviction_rank",
    "is_expired",
    "message_size",
    "plan_eviction",
]

ID_SIZE = 16
"""Length of a message id in bytes."""

MESSAGE_OVERHEAD = 256
"""Bytes charged per message on top of `len(raw)`.

It stands for what a message costs besides its raw bytes: the id (in the table and in every
index), the fixed metadata, and the bounded optional metadata (up to 3 × `MAX_KEY_BYTES` +
`MAX_CHANNEL_BYTES`, usually far less). It is a fixed charge so that accounting is exact and the
same in both implementations; the real footprint of each is measured in bench/bench_store.py.
"""

MAX_KEY_BYTES = 64
"""Largest `tag`, `issuer` or `ref`."""

MAX_CHANNEL_BYTES = 64
"""Largest channel name, in UTF-8 bytes."""

MAX_INT = 2**63 - 1
"""Largest integer field (SQLite stores signed 64-bit integers)."""

DEFAULT_SEEN_CAPACITY = 8192
"""Default number of ids the seen memory keeps."""


class StoreError(Exception):
    """The store cannot do what was asked: unreadable, corrupt or incompatible file, I/O failure."""


class SchemaVersionError(StoreError):
    """The database was written by a newer meshnode with a schema this version does not know."""


class InvalidInput(StoreError, ValueError):
    """An argument (message field, id, key) has the wrong type or is out of range."""


class Priority(IntEnum):
    """Storage priority: higher is more important, kept longer and synced earlier."""

    POST = 1
    DM = 2
    RECEIPT = 3
    ALERT = 4
    CERT = 5  # certificates and revocations


class PutResult(Enum):
    """Outcome of `MessageStore.put`."""

    ACCEPTED = "accepted"  # stored (durably, for the SQLite store) together with its evictions
    DUPLICATE = "duplicate"  # a message with this id is already stored; nothing changed
    REJECTED_FULL = "rejected_full"  # does not fit even after every allowed eviction; no change
    REJECTED_EXPIRED = "rejected_expired"  # already expired at `now`; nothing changed


def _fail(field: str, rule: str) -> InvalidInput:
    return InvalidInput(f"{field}: {rule}")


def _check_opt_key(name: str, value: object) -> None:
    if value is None:
        return
    if type(value) is not bytes:
        raise _fail(name, "must be bytes or None")
    if not 1 <= len(value) <= MAX_KEY_BYTES:
        raise _fail(name, f"must be 1..{MAX_KEY_BYTES} bytes")


def check_id(msg_id: object) -> bytes:
    """Return `msg_id` if it is a well-formed message id, else raise `InvalidInput`."""
    if type(msg_id) is not bytes or len(msg_id) != ID_SIZE:
        raise _fail("id", f"must be {ID_SIZE} bytes")
    return msg_id


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A validated message: its raw bytes plus the metadata the store indexes.

    Construction checks every field's type and range (raising `InvalidInput`), so both stores
    hold exactly the same values. `issuer` and `seq` are given together (alerts) or not at all.
    """

    id: bytes
    kind: int
    raw: bytes
    priority: int
    created: int
    expires: int
    received: int
    channel: str | None = None
    tag: bytes | None = None
    issuer: bytes | None = None
    seq: int | None = None
    ref: bytes | None = None
    pinned: bool = False

    def __post_init__(self) -> None:
        check_id(self.id)
        # Every received message is built here on the hub's core thread: plain ints (the
        # usual case) take one type test each, not an isinstance and a second lookup.
        for name, value in (("kind", self.kind), ("priority", self.priority),
                            ("created", self.created), ("expires", self.expires),
                            ("received", self.received)):
            if type(value) is not int and isinstance(value, IntEnum):
                value = int(value)  # e.g. Priority.ALERT: store the plain int
                object.__setattr__(self, name, value)
            check_uint(name, value)
        if type(self.raw) is not bytes or not self.raw:
            raise _fail("raw", "must be non-empty bytes")
        if self.channel is not None:
            if type(self.channel) is not str:
                raise _fail("channel", "must be str or None")
            try:
                encoded = self.channel.encode("utf-8")
            except UnicodeEncodeError:
                raise _fail("channel", "must be valid Unicode (no lone surrogates)") from None
            if not 1 <= len(encoded) <= MAX_CHANNEL_BYTES:
                raise _fail("channel", f"must be 1..{MAX_CHANNEL_BYTES} UTF-8 bytes")
        for name in ("tag", "issuer", "ref"):
            _check_opt_key(name, getattr(self, name))
        if (self.issuer is None) != (self.seq is None):
            raise _fail("seq", "issuer and seq go together")
        if self.seq is not None:
            check_uint("seq", self.seq)
        if type(self.pinned) is not bool:
            raise _fail("pinned", "must be a bool")

    @property
    def size(self) -> int:
        """Bytes charged against the capacity."""
        return message_size(len(self.raw))

    @property
    def rank(self) -> EvictionRank:
        """This message's place in the eviction order (lower is evicted first)."""
        return eviction_rank(self.priority, self.created, self.size, self.id)


@dataclass(frozen=True, slots=True)
class StoreUsage:
    """Current occupancy. `used_bytes` counts `message_size` of every stored message."""

    used_bytes: int
    count: int
    capacity_bytes: int
    by_kind: Mapping[int, int]


EvictionRank = tuple[int, int, int, bytes]


def message_size(raw_len: int) -> int:
    """Bytes charged for a message whose raw encoding is `raw_len` bytes long."""
    return raw_len + MESSAGE_OVERHEAD


def eviction_rank(priority: int, created: int, size: int, msg_id: bytes) -> EvictionRank:
    """The eviction ordering: ascending rank = evicted first.

    Lowest priority first, then oldest `created`, then largest size, then lowest id. The SQLite
    store's ORDER BY (priority, created, size DESC, id) mirrors this tuple; `plan_eviction`
    checks that the candidates it is given really arrive in this order.
    """
    return (priority, created, -size, msg_id)


def is_expired(expires: int, now: int) -> bool:
    """A message is expired from its `expires` second on."""
    return expires <= now


@dataclass(frozen=True, slots=True)
class Candidate:
    """What eviction planning needs to know about a stored message."""

    id: bytes
    kind: int
    size: int
    rank: EvictionRank


def plan_eviction(
    incoming: StoredMessage,
    need: int,
    expired: Iterable[Candidate],
    live_unpinned: Iterable[Candidate],
) -> list[Candidate] | None:
    """Choose the messages to evict so that `need` more bytes become free, or None if impossible.

    `expired` yields every expired message and `live_unpinned` every unexpired unpinned message,
    each in ascending `eviction_rank` (consumed lazily, so a store can stream them). Expired
    messages go first; then live ones while their rank is below the incoming message's.
    Raises `StoreError` if a sequence is out of order (an implementation bug).
    """
    chosen: list[Candidate] = []
    freed = 0
    if freed >= need:
        return chosen
    for group, bound in ((expired, None), (live_unpinned, incoming.rank)):
        previous: EvictionRank | None = None
        for candidate in group:
            if previous is not None and candidate.rank <= previous:
                raise StoreError("eviction candidates out of order")
            previous = candidate.rank
            if bound is not None and candidate.rank >= bound:
                break
            chosen.append(candidate)
            freed += candidate.size
            if freed >= need:
                return chosen
    return None


class StoreView(Protocol):
    """What the application may read of a node's store (`Node.held`): the daemon's service and
    its views read through this and never write behind the node's back."""

    @property
    def capacity_bytes(self) -> int:
        """The byte budget given at construction."""
        ...

    def get(self, msg_id: bytes) -> StoredMessage | None:
        """The stored message with this id, or None."""
        ...

    def get_many(self, msg_ids: Sequence[bytes]) -> dict[bytes, StoredMessage]:
        """The stored messages among `msg_ids`, by id (an id not stored is absent): what `get`
        returns for each, read in one go (a store on disk answers with one query per few
        hundred ids instead of one per id)."""
        ...

    def has(self, msg_id: bytes) -> bool:
        """Whether a message with this id is stored."""
        ...

    def ids_since(
        self, created: int, *, kind: int | None = None, limit: int | None = None
    ) -> list[tuple[int, bytes]]:
        """(created, id) of messages created at or after `created`, ascending by (created, id).

        Optionally restricted to one kind and to the first `limit` entries.
        """
        ...

    def by_kind(self, kind: int) -> list[StoredMessage]:
        """Messages of one kind, ascending by (created, id)."""
        ...

    def by_tag(self, tag: bytes) -> list[StoredMessage]:
        """Messages with this recipient tag, ascending by (created, id)."""
        ...

    def by_ref(self, ref: bytes) -> list[StoredMessage]:
        """Messages referring to `ref` (receipts for a DM, superseding alerts)."""
        ...

    def by_channel(self, channel: str, limit: int) -> list[StoredMessage]:
        """The `limit` newest messages of a channel, ascending by (created, id)."""
        ...

    def usage(self) -> StoreUsage:
        """Current occupancy."""
        ...

    def count(self) -> int:
        """How many messages are stored: `usage().count`, without building the rest (asked
        around every put of a received message)."""
        ...

    def seen(self, msg_id: bytes) -> bool:
        """Whether the id is in the seen memory (not whether it is stored)."""
        ...

    def get_meta(self, key: str) -> bytes | None:
        """Node state value for `key`, or None."""
        ...


class MessageStore(StoreView, Protocol):
    """Bounded message store. Time is always passed in; the store never reads the clock.

    Listing methods return snapshots (lists), so the caller may modify the store while using
    them. Every write is atomic: it happens completely or not at all.
    """

    def put(self, msg: StoredMessage, now: int) -> PutResult:
        """Store `msg`, evicting as the module doc describes.

        Outcomes are decided in this order: DUPLICATE (id already stored), REJECTED_EXPIRED
        (`msg.expires <= now`), REJECTED_FULL (larger than the capacity, or no allowed eviction
        frees enough), else ACCEPTED. Anything but ACCEPTED changes nothing.

        Ids evicted to make room are remembered in the seen memory (marked at `now`) so a peer
        cannot make us fetch them again right away. `put` itself does not consult the seen
        memory: callers check `seen()` before they validate.
        """
        ...

    def put_many(self, msgs: Sequence[StoredMessage], now: int) -> list[PutResult]:
        """`put` each message in order, as one atomic write (one commit for the SQLite store)."""
        ...

    def delete(self, msg_id: bytes) -> bool:
        """Remove a message (receipt purge, cancelled alert); True if it was stored.

        Does not mark the id as seen: callers that want it kept out call `mark_seen`.
        """
        ...

    def expire(self, now: int) -> int:
        """Remove every expired message (pinned too); return how many were removed."""
        ...

    def next_expiry(self) -> int | None:
        """The earliest `expires` of any held message (None when empty): until then
        `expire` has nothing to do."""
        ...

    def ids_range(
        self,
        lower: tuple[int, bytes],
        upper: tuple[int, bytes] | None = None,
        *,
        kind: int | None = None,
        limit: int | None = None,
    ) -> list[tuple[int, bytes]]:
        """(created, id) pairs with lower <= (created, id) < upper, ascending (range sync)."""
        ...

    def alerts_by_issuer(self, issuer: bytes) -> list[StoredMessage]:
        """Messages of one issuer, ascending by (seq, id)."""
        ...

    def max_seq(self, issuer: bytes) -> int | None:
        """Highest stored sequence number of an issuer, or None."""
        ...

    def issuer_seqs(self) -> dict[bytes, int]:
        """Highest stored sequence number per issuer (the per-issuer sequence vector)."""
        ...

    def mark_seen(self, msg_id: bytes, now: int) -> None:
        """Remember an id; the least recently marked ids are forgotten beyond the bound."""
        ...

    def seen_count(self) -> int:
        """Number of ids in the seen memory (never above its bound)."""
        ...

    def set_meta(self, key: str, value: bytes) -> None:
        """Store node state; durable on return for the SQLite store."""
        ...

    def delete_meta(self, key: str) -> bool:
        """Remove a node state value; True if there was one. Durable on return."""
        ...

    def meta_keys(self, prefix: str) -> list[str]:
        """The node state keys starting with `prefix` (non-empty), in sorted order."""
        ...

    def close(self) -> None:
        """Release resources; the store must not be used afterwards."""
        ...


@runtime_checkable
class BatchStore(Protocol):
    """A store that can group writes into one commit (the SQLite store). Between
    `begin_batch` and `commit_batch` writes are visible to reads but not yet durable;
    `commit_batch` makes them durable together (True if there were any) or, failing, rolls
    them all back and raises `StoreError`; `rollback_batch` discards them.

    Overlapped: `seal_batch` closes the open batch, `commit_sealed` (on a worker thread)
    commits it while the caller runs the next batch, and `land_batch` adopts it once that
    returned. A sealed batch whose commit fails voids the batch opened after it: then
    `rollback_batch` discards both."""

    def begin_batch(self) -> None: ...

    def commit_batch(self) -> bool: ...

    def seal_batch(self) -> None: ...

    def commit_sealed(self, written: Callable[[], None] | None = None) -> bool: ...

    def land_batch(self) -> None: ...

    def rollback_batch(self) -> None: ...

    @property
    def batch_writes(self) -> bool:
        """Whether the open batch wrote anything (its commit has work to do)."""
        ...


def check_meta(key: object, value: object = b"") -> None:
    """Raise `InvalidInput` unless `key` is a non-empty str and `value` is bytes."""
    if type(key) is not str or not key:
        raise _fail("meta key", "must be a non-empty str")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail("meta key", "must be valid Unicode") from None
    if type(value) is not bytes:
        raise _fail("meta value", "must be bytes")


def check_limit(limit: object) -> None:
    """Raise `InvalidInput` unless `limit` is None or an int in 0..MAX_INT."""
    if limit is not None:
        check_uint("limit", limit)


def check_key(name: str, value: object) -> bytes:
    """Return a query key (`tag`, `issuer`, `ref`) if well-formed, else raise `InvalidInput`."""
    if type(value) is not bytes:
        raise _fail(name, "must be bytes")
    return value


def check_uint(name: str, value: object) -> int:
    """Return `value` if it is an int in 0..MAX_INT (times, kinds), else raise `InvalidInput`."""
    if type(value) is not int or not 0 <= value <= MAX_INT:
        raise _fail(name, f"must be an int in 0..{MAX_INT}")
    return value


def check_channel(channel: object) -> str:
    """Return a channel name to query by if it is a valid str, else raise `InvalidInput`."""
    if type(channel) is not str:
        raise _fail("channel", "must be a str")
    try:
        channel.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail("channel", "must be valid Unicode (no lone surrogates)") from None
    return channel


def check_message(msg: object) -> StoredMessage:
    """Return `msg` if it is a `StoredMessage` (validated on construction), else raise."""
    if type(msg) is not StoredMessage:
        raise _fail("msg", "must be a StoredMessage")
    return msg


def check_capacity(capacity_bytes: object, seen_capacity: object) -> None:
    """Raise `InvalidInput` unless both bounds are ints > 0."""
    if type(capacity_bytes) is not int or capacity_bytes <= 0:
        raise _fail("capacity_bytes", "must be an int > 0")
    if type(seen_capacity) is not int or seen_capacity <= 0:
        raise _fail("seen_capacity", "must be an int > 0")


def check_bound(name: str, bound: object) -> tuple[int, bytes]:
    """Validate a (created, id) sync bound; the id part may be any bytes (b"" = lowest)."""
    if type(bound) is not tuple or len(bound) != 2 or type(bound[1]) is not bytes:
        raise _fail(name, "must be a (int, bytes) tuple")
    return (check_uint(name, bound[0]), bound[1])
