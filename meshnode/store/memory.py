"""In-memory message store for the simulator and tests.

Compact by design (the simulator holds thousands of stores): messages live in one dict, and each
index is a plain list of the id objects already used as dict keys (8 bytes per entry), kept
sorted with `bisect` and a key function that looks the message up. Inserts and removals are
O(log n) comparisons plus a memmove, which is cheap at the sizes a node stores.

Stores in one process may hold equal message bytes once (`SharedBytes`): a simulated
message's copies differ only in their 5-byte routing tail, so most copies are byte for byte
equal to copies other nodes hold.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from meshnode.store.base import (
    DEFAULT_SEEN_CAPACITY,
    Candidate,
    PutResult,
    StoredMessage,
    StoreError,
    StoreUsage,
    check_bound,
    check_capacity,
    check_channel,
    check_id,
    check_key,
    check_limit,
    check_message,
    check_meta,
    check_uint,
    is_expired,
    plan_eviction,
)

__all__ = ["MemoryStore", "SharedBytes"]


class _SortedIds:
    """Ids kept sorted by `key(id)`; keys must be unique (they all end with the id)."""

    __slots__ = ("_ids", "_key")

    def __init__(self, key: Callable[[bytes], tuple[Any, ...]],
                 ids: Iterable[bytes] = ()) -> None:
        self._key = key
        self._ids: list[bytes] = sorted(ids, key=key)

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, msg_id: bytes) -> None:
        bisect.insort(self._ids, msg_id, key=self._key)

    def remove(self, msg_id: bytes) -> None:
        i = bisect.bisect_left(self._ids, self._key(msg_id), key=self._key)
        del self._ids[i]

    def index(self, key: tuple[Any, ...]) -> int:
        """Position of the first id whose key is >= `key`."""
        return bisect.bisect_left(self._ids, key, key=self._key)

    def slice(self, start: int, stop: int | None = None) -> list[bytes]:
        return self._ids[start:stop]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._ids)


class SharedBytes:
    """Equal message bytes held once by many `MemoryStore`s of one process (the simulator's).

    `share` returns the message to store, with its `raw` replaced by an equal bytes object
    already held for another store if there is one; the store gives it back with `release`
    when it lets the message go (deleted, evicted, expired). Bytes are immutable, so nothing a
    store returns changes: only how many copies of equal bytes the process keeps. An entry is
    forgotten when the last store holding it releases it, so the table never keeps alive
    bytes that every store has let go: it holds at most the distinct encodings the stores
    hold between them, and the stores' capacities bound it.

    Not thread-safe: the stores sharing it must be driven by one thread (the simulator is).
    """

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[bytes, tuple[bytes, int]] = {}  # raw -> (the one held, its holders)

    def __len__(self) -> int:
        return len(self._held)

    def share(self, msg: StoredMessage) -> StoredMessage:
        """`msg`, or an equal message whose `raw` is the one already held; the caller now
        holds it until it calls `release` with that message's `raw`."""
        entry = self._held.get(msg.raw)
        if entry is None:
            self._held[msg.raw] = (msg.raw, 1)
            return msg
        held, holders = entry
        self._held[held] = (held, holders + 1)
        return msg if held is msg.raw else replace(msg, raw=held)

    def release(self, raw: bytes) -> None:
        """One holder of `raw` (as `share` returned it) no longer holds it."""
        held, holders = self._held[raw]
        if holders == 1:
            del self._held[raw]
        else:
            self._held[raw] = (held, holders - 1)


class MemoryStore:
    """`MessageStore` held in process memory; same behaviour as `SqliteStore`, nothing durable.

    `shared`, if given, holds equal message bytes once for every store given the same one.
    Not thread-safe: one caller at a time.
    """

    def __init__(self, capacity_bytes: int, *, seen_capacity: int = DEFAULT_SEEN_CAPACITY,
                 shared: SharedBytes | None = None) -> None:
        check_capacity(capacity_bytes, seen_capacity)
        self._shared = shared
        self._capacity = capacity_bytes
        self._seen_capacity = seen_capacity
        self._msgs: dict[bytes, StoredMessage] = {}
        self._used = 0
        self._kind_counts: dict[int, int] = {}
        self._by_expiry = _SortedIds(self._expiry_key)
        # Two indexes only some readers need are built when first read and kept up to date
        # from then on (`_created_index`, `_evictable_index`): a listing of every kind, and
        # the unpinned messages in eviction order, which only a full store reads. Until then
        # a put does not pay for them (each costs a bisection whose every step calls a key
        # function, and the eviction rank is the dearest key).
        self._by_created: _SortedIds | None = None
        self._evictable: _SortedIds | None = None
        self._kinds: dict[int, _SortedIds] = {}
        self._channels: dict[str, _SortedIds] = {}
        self._tags: dict[bytes, _SortedIds] = {}
        self._refs: dict[bytes, _SortedIds] = {}
        self._issuers: dict[bytes, _SortedIds] = {}
        # Insertion order is the order of the latest mark: the first key is forgotten first
        # (the order is all the memory needs, so no time is kept).
        self._seen: dict[bytes, None] = {}
        self._meta: dict[str, bytes] = {}
        self._closed = False

    # index keys -----------------------------------------------------------------------------

    def _created_key(self, msg_id: bytes) -> tuple[int, bytes]:
        return (self._msgs[msg_id].created, msg_id)

    def _expiry_key(self, msg_id: bytes) -> tuple[int, bytes]:
        return (self._msgs[msg_id].expires, msg_id)

    def _rank_key(self, msg_id: bytes) -> tuple[int, int, int, bytes]:
        return self._msgs[msg_id].rank

    def _seq_key(self, msg_id: bytes) -> tuple[int, bytes]:
        seq = self._msgs[msg_id].seq
        return (seq if seq is not None else -1, msg_id)

    # writes -----------------------------------------------------------------------------------

    @property
    def capacity_bytes(self) -> int:
        return self._capacity

    def put(self, msg: StoredMessage, now: int) -> PutResult:
        self._check_open()
        check_message(msg)
        check_uint("now", now)
        return self._put(msg, now)

    def put_many(self, msgs: Sequence[StoredMessage], now: int) -> list[PutResult]:
        self._check_open()
        check_uint("now", now)
        for msg in msgs:  # validate all first: a bad item must change nothing
            check_message(msg)
        return [self._put(msg, now) for msg in msgs]

    def _put(self, msg: StoredMessage, now: int) -> PutResult:
        if msg.id in self._msgs:
            return PutResult.DUPLICATE
        if is_expired(msg.expires, now):
            return PutResult.REJECTED_EXPIRED
        size = msg.size
        if size > self._capacity:
            return PutResult.REJECTED_FULL
        need = self._used + size - self._capacity
        victims = (
            plan_eviction(msg, need, self._expired_candidates(now), self._live_candidates(now))
            if need > 0
            else []
        )
        if victims is None:
            return PutResult.REJECTED_FULL
        for victim in victims:
            self._remove(victim.id)
            self._mark_seen(victim.id)
        self._insert(msg if self._shared is None else self._shared.share(msg))
        return PutResult.ACCEPTED

    def _candidate(self, msg_id: bytes) -> Candidate:
        m = self._msgs[msg_id]
        return Candidate(m.id, m.kind, m.size, m.rank)

    def _expired_candidates(self, now: int) -> Iterator[Candidate]:
        end = self._by_expiry.index((now + 1, b""))
        expired = [self._candidate(i) for i in self._by_expiry.slice(0, end)]
        expired.sort(key=lambda c: c.rank)
        return iter(expired)

    def _created_index(self) -> _SortedIds:
        if self._by_created is None:
            self._by_created = _SortedIds(self._created_key, self._msgs)
        return self._by_created

    def _evictable_index(self) -> _SortedIds:
        if self._evictable is None:
            self._evictable = _SortedIds(
                self._rank_key, (i for i, m in self._msgs.items() if not m.pinned))
        return self._evictable

    def _live_candidates(self, now: int) -> Iterator[Candidate]:
        for msg_id in self._evictable_index():
            if not is_expired(self._msgs[msg_id].expires, now):
                yield self._candidate(msg_id)

    def _insert(self, msg: StoredMessage) -> None:
        msg_id = msg.id
        self._msgs[msg_id] = msg
        self._used += msg.size
        self._kind_counts[msg.kind] = self._kind_counts.get(msg.kind, 0) + 1
        if self._by_created is not None:
            self._by_created.add(msg_id)
        self._by_expiry.add(msg_id)
        if not msg.pinned and self._evictable is not None:
            self._evictable.add(msg_id)
        for index, key, keyfn in self._secondary(msg):
            bucket = index.get(key)
            if bucket is None:
                bucket = index[key] = _SortedIds(keyfn)
            bucket.add(msg_id)

    def _remove(self, msg_id: bytes) -> StoredMessage:
        msg = self._msgs[msg_id]
        if self._by_created is not None:
            self._by_created.remove(msg_id)
        self._by_expiry.remove(msg_id)
        if not msg.pinned and self._evictable is not None:
            self._evictable.remove(msg_id)
        for index, key, _ in self._secondary(msg):
            bucket = index[key]
            bucket.remove(msg_id)
            if not bucket:
                del index[key]
        del self._msgs[msg_id]
        if self._shared is not None:
            self._shared.release(msg.raw)
        self._used -= msg.size
        left = self._kind_counts[msg.kind] - 1
        if left:
            self._kind_counts[msg.kind] = left
        else:
            del self._kind_counts[msg.kind]
        return msg

    def _secondary(
        self, msg: StoredMessage
    ) -> Iterator[tuple[dict[Any, _SortedIds], object, Callable[[bytes], tuple[Any, ...]]]]:
        yield self._kinds, msg.kind, self._created_key
        if msg.channel is not None:
            yield self._channels, msg.channel, self._created_key
        if msg.tag is not None:
            yield self._tags, msg.tag, self._created_key
        if msg.ref is not None:
            yield self._refs, msg.ref, self._created_key
        if msg.issuer is not None:
            yield self._issuers, msg.issuer, self._seq_key

    def delete(self, msg_id: bytes) -> bool:
        self._check_open()
        if check_id(msg_id) not in self._msgs:
            return False
        self._remove(msg_id)
        return True

    def expire(self, now: int) -> int:
        self._check_open()
        check_uint("now", now)
        end = self._by_expiry.index((now + 1, b""))
        for msg_id in self._by_expiry.slice(0, end):
            self._remove(msg_id)
        return end

    def next_expiry(self) -> int | None:
        self._check_open()
        first = self._by_expiry.slice(0, 1)
        return self._msgs[first[0]].expires if first else None

    # reads ------------------------------------------------------------------------------------

    def get(self, msg_id: bytes) -> StoredMessage | None:
        self._check_open()
        return self._msgs.get(check_id(msg_id))

    def get_many(self, msg_ids: Sequence[bytes]) -> dict[bytes, StoredMessage]:
        self._check_open()
        msgs = self._msgs
        return {i: msgs[i] for i in map(check_id, msg_ids) if i in msgs}

    def has(self, msg_id: bytes) -> bool:
        self._check_open()
        return check_id(msg_id) in self._msgs

    def ids_since(
        self, created: int, *, kind: int | None = None, limit: int | None = None
    ) -> list[tuple[int, bytes]]:
        return self.ids_range((check_uint("created", created), b""), None, kind=kind, limit=limit)

    def ids_range(
        self,
        lower: tuple[int, bytes],
        upper: tuple[int, bytes] | None = None,
        *,
        kind: int | None = None,
        limit: int | None = None,
    ) -> list[tuple[int, bytes]]:
        self._check_open()
        lo = check_bound("lower", lower)
        hi = None if upper is None else check_bound("upper", upper)
        check_limit(limit)
        if kind is None:
            index = self._created_index()
        else:
            found = self._kinds.get(check_uint("kind", kind))
            if found is None:
                return []
            index = found
        start = index.index(lo)
        stop = len(index) if hi is None else max(start, index.index(hi))
        if limit is not None:
            stop = min(stop, start + limit)
        return [(self._msgs[i].created, i) for i in index.slice(start, stop)]

    def _listing(self, index: dict[Any, _SortedIds], key: object) -> list[StoredMessage]:
        bucket = index.get(key)
        return [] if bucket is None else [self._msgs[i] for i in bucket]

    def by_kind(self, kind: int) -> list[StoredMessage]:
        self._check_open()
        return self._listing(self._kinds, check_uint("kind", kind))

    def by_tag(self, tag: bytes) -> list[StoredMessage]:
        self._check_open()
        return self._listing(self._tags, check_key("tag", tag))

    def by_ref(self, ref: bytes) -> list[StoredMessage]:
        self._check_open()
        return self._listing(self._refs, check_key("ref", ref))

    def by_channel(self, channel: str, limit: int) -> list[StoredMessage]:
        self._check_open()
        check_limit(limit)
        bucket = self._channels.get(check_channel(channel))
        if bucket is None or limit == 0:
            return []
        return [self._msgs[i] for i in bucket.slice(max(0, len(bucket) - limit))]

    def alerts_by_issuer(self, issuer: bytes) -> list[StoredMessage]:
        self._check_open()
        return self._listing(self._issuers, check_key("issuer", issuer))

    def max_seq(self, issuer: bytes) -> int | None:
        self._check_open()
        bucket = self._issuers.get(check_key("issuer", issuer))
        if bucket is None:
            return None
        return self._msgs[bucket.slice(-1)[0]].seq

    def issuer_seqs(self) -> dict[bytes, int]:
        self._check_open()
        out: dict[bytes, int] = {}
        for issuer, bucket in self._issuers.items():
            seq = self._msgs[bucket.slice(-1)[0]].seq
            if seq is not None:
                out[issuer] = seq
        return out

    def usage(self) -> StoreUsage:
        self._check_open()
        return StoreUsage(self._used, len(self._msgs), self._capacity, dict(self._kind_counts))

    def count(self) -> int:
        self._check_open()
        return len(self._msgs)

    # seen memory and meta -----------------------------------------------------------------------

    def mark_seen(self, msg_id: bytes, now: int) -> None:
        self._check_open()
        check_id(msg_id)
        check_uint("now", now)  # valid, though only the order of marks is kept
        self._mark_seen(msg_id)

    def _mark_seen(self, msg_id: bytes) -> None:
        self._seen.pop(msg_id, None)
        self._seen[msg_id] = None
        if len(self._seen) > self._seen_capacity:
            del self._seen[next(iter(self._seen))]

    def seen(self, msg_id: bytes) -> bool:
        self._check_open()
        return check_id(msg_id) in self._seen

    def seen_count(self) -> int:
        self._check_open()
        return len(self._seen)

    def get_meta(self, key: str) -> bytes | None:
        self._check_open()
        check_meta(key)
        return self._meta.get(key)

    def set_meta(self, key: str, value: bytes) -> None:
        self._check_open()
        check_meta(key, value)
        self._meta[key] = value

    def delete_meta(self, key: str) -> bool:
        self._check_open()
        check_meta(key)
        return self._meta.pop(key, None) is not None

    def meta_keys(self, prefix: str) -> list[str]:
        self._check_open()
        check_meta(prefix)
        return sorted(k for k in self._meta if k.startswith(prefix))

    def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("store is closed")
