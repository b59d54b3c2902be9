"""Range-based set reconciliation (Negentropy style), sans-IO.

Two nodes that meet learn which message ids each one lacks, exchanging bytes that grow with
the size of the difference d rather than with the store size n. The algorithm is Aljoscha
Meyer's range-based set reconciliation as used by Doug Hoyte's Negentropy protocol, encoded in
meshnode's canonical msgpack and hardened for hostile peers.

Items and bounds
----------------
An item is `(timestamp, id)`: an integer timestamp in unix seconds (0..2**63-1) and a 16-byte id,
ordered by timestamp, then id bytes. A *bound* `(timestamp, prefix)` splits the ordered items:
an item is below the bound iff `(item.timestamp, item.id) < (timestamp, prefix)`. Bounds carry
the shortest id prefix that separates two neighbouring items (empty when their timestamps
differ). The bound above everything is `INFINITY`. A session may be limited to the items with
`timestamp >= since`; its universe is then `[(since, b""), INFINITY)`.

Fingerprints
------------
`fingerprint(range) = SHA-256(b"meshnode/rbsr/fp" || S || C)[:12]`, where S is the sum modulo
2**128 of `int.from_bytes(SHA-256(b"meshnode/rbsr/item" || id)[:16], "little")` over the
range's items, written as 16 bytes little-endian, and C is the item count as 8 bytes
little-endian. The sum is additive, so an `ItemSet` keeps prefix sums and answers any range in
O(1) (`SortedItems` keeps them per chunk: O(log(n / 64))). Hashing each id first keeps
fingerprints sound for ids that are not uniformly random.

Why 12 bytes and not 16: a fingerprint collision makes one differing range look equal for one
session. At 2**-96 per comparison, even 10**15 comparisons across a whole deployment leave a
chance near 10**-14. A deliberate collision is cheaper through the additive sum itself
(Wagner's generalised-birthday attack on sums of crafted ids) than through the truncated hash,
so 16 bytes would not buy adversarial strength; the only effect of such an attack is that the
attacker's own crafted items fail to sync. A FINGERPRINT range is about 18 bytes on the wire;
4 bytes fewer saves 10-15 % of a session's bytes for d = 10..100 at n = 10,000 (the bench
counts the fingerprint ranges).

Wire format
-----------
Every message is a canonical msgpack map (`meshnode.codec.pack`):

    1: version (uint, = 1)              only in the initiator's first message
    2: since (uint, >= 1)               only in the first message; absent means 0
    3: ranges (array, non-empty)        absent when there are none
    4: more (uint, = 1)                 responder only: it holds deferred work; absent otherwise

Ranges are contiguous: the first starts at `(since, b"")`, each later one where the previous one
ended, and the bounds are strictly increasing. Whatever follows the last bound is skipped. Each
range is an array whose first element is its mode:

    [0, dt]                          SKIP         nothing to do here
    [1, dt, fp: bin 12]              FINGERPRINT  the sender's fingerprint of the range
    [2, dt, ids: bin 16*k]           ID_LIST      all the sender's ids in the range, in order
    [3, dt, bitmap: bin, ids: bin]   ID_DIFF      responder's answer to an ID_LIST (see below)

optionally followed by one more element, the bound's id prefix (bin, 1..16 bytes, last byte
non-zero), present only when the prefix is not empty. `dt` encodes the bound's timestamp:
0 means INFINITY (then no prefix and no further range); otherwise the timestamp is
`previous + dt - 1`, where `previous` is the timestamp of the previous bound in the same message
(0 for the first). ID_DIFF's bitmap has one bit per id of the initiator's list for that range
(bit i is bit i % 8 of byte i // 8, unused bits zero): set when the responder lacks that id; its
ids are the responder's ids in the range that the initiator's list lacks. ID_DIFF only flows
from responder to initiator; it saves the responder re-sending ids both sides hold.

Protocol
--------
The initiator sends the whole universe split into `branching` FINGERPRINT ranges (or one ID_LIST
when it holds fewer than `idlist_threshold` items). On a FINGERPRINT, each side compares with its
own: equal ranges become SKIP, a different one is split the same way, or sent as an ID_LIST when
it holds fewer than `idlist_threshold` items. The last split above the id lists uses fewer,
cheaper ranges (see Cost). A range that holds the sender's newest item and at least
`idlist_threshold` items created more than `fresh_window` before it (the fade time) is a
*fresh split*: those old items go as one fingerprint and the fresh ones are split alone, because
with fading what two sets differ on is nearly all fresh (docs/protocol.md §10.2).
On an ID_LIST the initiator computes `have_ids` and `need_ids` for that range and skips it;
the responder answers with ID_DIFF (or SKIP when both hold the same ids) or, when its own
ids for that range do not fit in the reply, streams them as ID_LISTs of leading chunks, which
the initiator diffs chunk by chunk. The initiator is done when a reply
leaves it nothing to send and the responder has no deferred work (`receive` returns None). The
responder only answers.

Replies stay under `frame_limit` bytes. A received range whose answer does not fit is deferred:
kept (with its fingerprint) and answered in a later reply, in key order with the new work, at no
cost on the wire. The responder sets `more` while it holds deferred work, so that the initiator
sends (if need be an empty message) to give it a turn. Deferred ranges are bounded by
`max_deferred`; past that, the sender falls back to Negentropy's frameSizeLimit rule: it closes
the reply with one FINGERPRINT over everything from the first range it could not keep to
INFINITY, which the peer splits again (and which supersedes whatever the peer had deferred in
that span). Each reply carries at least one complete unit of work (one split, id list or id
chunk), so the exchange always terminates.

Cost
----
Let n be the items in the window per side, d the ids in the symmetric difference (spread at
random), b = `branching`, T = `idlist_threshold`, F = `frame_limit`, e ≈ 18 bytes one
FINGERPRINT range (12-byte fingerprint, mode, bound and framing) and s = 16 bytes an id.

A differing range of c >= T items is split into k(c) ranges: b while the pieces would still hold
T or more items; the last split, whose pieces fall below T, uses
k = max(ceil(c / (T - 1)), min(b, floor(sqrt(c * s / e)))), which minimises k*e + s*c/k (the
fingerprints now against the ids of the one piece that differs). Splits k_0, k_1, ..., k_{L-1}
give L ≈ ceil(log_b(n / T)) levels, N_j = k_0 * ... * k_{j-1} ranges of c_j = n / N_j items at
level j, and leaves of c_L < T items. With D_j = N_j * (1 - (1 - 1/N_j)**d) the expected number
of level-j ranges holding a difference:

    bytes    ≈ k_0*e + sum(D_j * (k_j*e + 3), j = 1..L-1) + D_L * (s*c_L + 6)
               [+ D_L * (c_L/8 + 7) + s*d/2 for the ID_DIFF answers when L is even]
               + about 7 bytes per message
    messages = L + 1 (L odd) or L + 2 (L even); 2 for identical sets (one round trip);
               and at least 2 * ceil(bytes in the busier direction / F)

While differences are isolated (d well below N_{L-1}), D_j ≈ d and each difference costs
sum(k_j*e, j = 1..L-1) + s*c_L ≈ (L - 2)*b*e + 2*sqrt(s*e*c_{L-1}) bytes: O(d * b * e * log_b n)
plus the constant k_0*e. For n = 10,000 and the defaults (splits 16, 16, 5; leaves of about 8):
about 300 + 500*d bytes in 2 round trips, i.e. about 30 times d * 16 bytes. When d approaches
the number of ranges of a level, that level's fingerprints are shared and several differences
share one leaf's id list, so the cost per difference falls: about 120 bytes (7.5 times 16) at
n = 10,000, d = 1,000, where the bytes rather than the depth set the number of messages.
`estimate_cost(n, d, config)` evaluates the model; bench/bench_reconcile.py measures it (the
model was within 15 % of measurements for n = 20..50,000, b = 4..16, d = 0..1,000).

Measured, n = 10,000, defaults (python bench/bench_reconcile.py):

    d       bytes    bytes / (16 d)   round trips
    0         312          -               1
    10      4,962         31               2
    100    26,033         16               5
    1,000 120,109          7.5            25  (the frame limit, not the depth, sets the count)

These figures (and `estimate_cost`) are for differences spread over the whole set, split by
count (`fresh_window = 0`). With fresh differences and the fresh split, n is the fresh items
alone (docs/benchmarks.md, issue 17 session 10); a difference among the old items costs one
level more.

Smaller b costs fewer bytes for isolated differences (the minimum of b / ln b is at b = 3) but
more round trips; on a BLE link of 20 kB/s and 50 ms per message the defaults were the best
compromise measured (`--sweep`).

CPU per received message is bounded by the message and the deferred work: O((R + W) log n) for
R received ranges and W deferred ones (a bisection per bound), O(b) fingerprints per split,
each O(1) from prefix sums (O(log(n / 64)) in `SortedItems`); an ID_LIST costs O(k + m) for
its k ids and our m ids in the range (the initiator's m is what it owes the peer; the responder
looks at its m ids only when they could fit in the reply, else streams a chunk). A session
receives at most `max_rounds` messages.
An `ItemSet` must not change during a session.

Hostile input
-------------
`Message.decode` and `Reconciler.receive` raise only `WireError` (`ReconcileError` is a
subclass, for well-formed messages that break the protocol: wrong mode for the role, an id-diff
that does not match our ids, a range cutting into deferred work, too many rounds, a message
after the end). A rejected message changes nothing: the reconciler may continue with the next
one. Received messages are bounded in bytes (`max_message`) and ranges (`max_ranges`), hence in
ids; bounds must increase strictly; unknown modes and fields are refused; deferred work is
bounded by `max_deferred`.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import accumulate
from math import ceil, isqrt
from typing import Any, Protocol, runtime_checkable

from meshnode.codec import WireError, check_bin, check_int, pack_ordered, unpack_bounded

__all__ = [
    "CLASS_FLAG",
    "DEFAULT_MAX_MESSAGE",
    "DEFAULT_MAX_RANGES",
    "FINGERPRINT_SIZE",
    "FRESH_WINDOW",
    "GHOST",
    "GIVES_DEAD",
    "GIVES_LIVE",
    "HELD",
    "ID_SIZE",
    "INFINITY",
    "MAX_TIMESTAMP",
    "VERSION",
    "Bound",
    "CostEstimate",
    "Describe",
    "DescribeAll",
    "FingerprintRange",
    "IdDiffRange",
    "IdListRange",
    "Item",
    "ItemSet",
    "KnownRange",
    "Message",
    "Mode",
    "Range",
    "ReconcileConfig",
    "ReconcileError",
    "Reconciler",
    "SkipRange",
    "SortedItems",
    "class_of",
    "estimate_cost",
    "fingerprint_of",
    "item_hash",
    "offer_of",
]

VERSION = 2
ID_SIZE = 16
FINGERPRINT_SIZE = 12
MAX_TIMESTAMP = 2**63 - 1
DEFAULT_MAX_MESSAGE = 16384
DEFAULT_MAX_RANGES = 2048
FRESH_WINDOW = 7_200
"""Seconds before its newest item from which a sender splits its set finely (§10.2, "Opening
and splitting"): the fade time of §10.2 ("Class", `forwarding.FADE_AFTER`), after which every
holder of a flooded message agrees on its item."""

Item = tuple[int, bytes]
"""`(timestamp, id)`; items sort as tuples."""

Bound = tuple[int, bytes]
"""`(timestamp, id_prefix)`; an item lies below a bound iff it compares less as a tuple."""

INFINITY: Bound = (MAX_TIMESTAMP + 1, b"")
"""The bound above every item; only ever encoded as `dt = 0`."""

_MOD = 2**128
_ITEM_DOMAIN = b"meshnode/rbsr/item"
_FP_DOMAIN = b"meshnode/rbsr/fp"
_CLASS_BYTE = (b"\x00", b"\x01")

# What an item's holder can do for the peer, sent per id in id lists (the low two bits of the
# id's flag byte; bit 2 is the item's class).
GHOST = 0  # known, not held: the id is in the set only so that holders of dead copies match
HELD = 1  # held, but no copy can go to this peer
GIVES_DEAD = 2  # a copy can go to this peer, and that copy could not go further
GIVES_LIVE = 3  # a copy can go to this peer, and that copy could go further (class 1)
CLASS_FLAG = 4
_OFFER_MASK = 3


class ReconcileError(WireError):
    """A well-formed message that breaks the protocol (role, state, consistency, round cap)."""


def item_hash(item_id: bytes, cls: int = 1) -> int:
    """The 128-bit value an item of class `cls` (0 or 1) contributes to fingerprint sums."""
    data = _ITEM_DOMAIN + item_id + _CLASS_BYTE[cls]
    return int.from_bytes(hashlib.sha256(data).digest()[:16], "little")


def fingerprint_of(total: int, count: int) -> bytes:
    """Fingerprint of a range whose `item_hash` values sum to `total` (any integer) over `count`."""
    data = _FP_DOMAIN + (total % _MOD).to_bytes(16, "little") + count.to_bytes(8, "little")
    return hashlib.sha256(data).digest()[:FINGERPRINT_SIZE]


# --------------------------------------------------------------------------------------------
# Item sets


@runtime_checkable
class ItemSet(Protocol):
    """A sorted, immutable-for-the-session sequence of items, addressed by index; each item has
    a class (0 or 1) that enters its hash."""

    def __len__(self) -> int: ...

    def items(self, lo: int, hi: int) -> Sequence[Item]:
        """Items with index in `[lo, hi)`, in order."""
        ...

    def classes(self, lo: int, hi: int) -> Sequence[int]:
        """The classes of the items with index in `[lo, hi)`, in order."""
        ...

    def fingerprint(self, lo: int, hi: int) -> bytes:
        """`fingerprint_of` the items with index in `[lo, hi)`."""
        ...

    def bisect(self, bound: Bound, lo: int = 0) -> int:
        """Index of the first item at or above `bound`, searching from `lo`."""
        ...


_CHUNK = 64  # items per chunk of a SortedItems when built; a chunk past twice this is split
_BUCKETS = 64  # the id index's copy-on-write buckets


class _Chunk:
    """A run of consecutive items of a `SortedItems` with their classes, hashes and the
    prefix sums of the hashes. Never changed once built, so versions of a set share it."""

    __slots__ = ("classes", "hashes", "items", "sums")

    def __init__(self, items: list[Item], classes: list[int], hashes: list[int]) -> None:
        self.items = items
        self.classes = classes
        self.hashes = hashes
        self.sums = list(accumulate(hashes, initial=0))


class SortedItems:
    """In-memory `ItemSet`: sorted items and their classes, in chunks of about 64 that keep
    prefix sums of their items' hashes, and an index of ids by timestamp.

    `classes` maps ids to their class (0 or 1); ids it does not name are of class 1.
    Building costs O(n log n) (sort) plus n SHA-256 calls. With c = n / 64 chunks, a range
    fingerprint costs O(log c) (two bisections among the chunks' start indexes), a bisection
    O(log n), `items(lo, hi)` O(log c + hi - lo).

    The object never changes, so a session can keep it while the store moves on. `updated`
    returns a new set that shares every chunk it leaves alone: for k changes it costs
    O(k log n) bisections, one SHA-256 per added item, O(64) per changed chunk and O(c) for
    the chunks' start indexes and sums (at C speed, or about 1/64 of copying the set), plus
    O(n / 64) for the copy-on-write id index. So the cost of keeping the set up to date, and
    of comparing two versions of it (`added_since`), follows the changes, not the size.
    """

    __slots__ = ("_chunks", "_firsts", "_ids", "_len", "_starts", "_totals")

    def __init__(self, items: Iterable[Item] = (),
                 classes: Mapping[bytes, int] | None = None) -> None:
        ordered = sorted({_check_item(item) for item in items})
        ids: list[dict[bytes, int]] = [{} for _ in range(_BUCKETS)]
        for ts, item_id in ordered:
            ids[hash(item_id) % _BUCKETS][item_id] = ts
        if sum(map(len, ids)) != len(ordered):
            raise ValueError("an id appears with two different timestamps")
        known = classes or {}
        cls = [_check_class(known.get(i, 1)) for _, i in ordered]
        hashes = [item_hash(i, c) for (_, i), c in zip(ordered, cls, strict=True)]
        chunks = [_Chunk(ordered[k:k + _CHUNK], cls[k:k + _CHUNK], hashes[k:k + _CHUNK])
                  for k in range(0, len(ordered), _CHUNK)]
        self._assemble(chunks, ids)

    def _assemble(self, chunks: list[_Chunk], ids: list[dict[bytes, int]]) -> None:
        self._chunks = chunks
        self._ids = ids
        self._firsts: list[Item] = [chunk.items[0] for chunk in chunks]
        self._starts: list[int] = list(accumulate((len(c.items) for c in chunks), initial=0))
        self._totals: list[int] = list(accumulate((c.sums[-1] for c in chunks), initial=0))
        self._len: int = self._starts[-1]

    def __len__(self) -> int:
        return self._len

    def __contains__(self, item: object) -> bool:
        """Whether `item` (a `(timestamp, id)` pair) is in the set, whatever its class."""
        if not isinstance(item, tuple) or len(item) != 2 or not isinstance(item[1], bytes):
            return False
        ts: int | None = self._ids[hash(item[1]) % _BUCKETS].get(item[1])
        return ts is not None and ts == item[0]

    # items, classes, fingerprint and bisect run for every range of every contact: each takes
    # its one-chunk case inline rather than through calls.

    def items(self, lo: int, hi: int) -> Sequence[Item]:
        return self._slice(0, lo, hi)

    def classes(self, lo: int, hi: int) -> Sequence[int]:
        return self._slice(1, lo, hi)

    def _slice(self, which: int, lo: int, hi: int) -> list[Any]:
        """Items (`which` 0) or classes (1) with index in `[lo, hi)`."""
        starts = self._starts
        c = bisect_right(starts, lo) - 1
        if 0 <= lo < hi and c < len(self._chunks) and hi <= starts[c + 1]:
            chunk = self._chunks[c]
            start = starts[c]
            return (chunk.items if which == 0 else chunk.classes)[lo - start:hi - start]
        return self._gather(which, lo, hi)

    def _gather(self, which: int, lo: int, hi: int) -> list[Any]:
        """`_slice` across chunks."""
        lo, hi = max(lo, 0), min(hi, self._len)
        out: list[Any] = []
        if lo >= hi:
            return out
        starts, chunks = self._starts, self._chunks
        c = bisect_right(starts, lo) - 1
        while starts[c] < hi:
            chunk = chunks[c]
            seq = chunk.items if which == 0 else chunk.classes
            start = starts[c]
            out.extend(seq[max(lo - start, 0):hi - start])
            c += 1
        return out

    def fingerprint(self, lo: int, hi: int) -> bytes:
        starts, totals, chunks, n = self._starts, self._totals, self._chunks, self._len
        if hi >= n:
            upper = totals[-1]
        else:
            c = bisect_right(starts, hi) - 1
            upper = totals[c] + chunks[c].sums[hi - starts[c]]
        if lo >= n:
            lower = totals[-1]
        else:
            c = bisect_right(starts, lo) - 1
            lower = totals[c] + chunks[c].sums[lo - starts[c]]
        return fingerprint_of(upper - lower, hi - lo)

    def bisect(self, bound: Bound, lo: int = 0) -> int:
        c = bisect_left(self._firsts, bound)  # chunks from c on start at or above `bound`
        i = 0 if c == 0 else self._starts[c - 1] + bisect_left(self._chunks[c - 1].items, bound)
        return i if i > lo else lo

    def added_since(self, older: SortedItems) -> list[Item]:
        """The items of this set that `older` lacks, in order (classes are not compared).
        Chunks the two share are skipped, so for a set `updated` from `older` this costs
        O(c) plus O(64) per changed chunk."""
        shared = {id(chunk) for chunk in older._chunks}
        out: list[Item] = []
        for chunk in self._chunks:
            if id(chunk) in shared:
                continue
            items = chunk.items
            lo = older.bisect(items[0])
            # The older items from this chunk's first to its last (and one more): a set, so
            # that the comparison runs at C speed.
            before = set(older.items(lo, older.bisect(items[-1], lo) + 1))
            out.extend(item for item in items if item not in before)
        return out

    def updated(self, add: Iterable[Item] = (), remove: Iterable[Item] = (),
                classes: Mapping[bytes, int] | None = None) -> SortedItems:
        """A new set with `remove` taken out (absent items are ignored), then `add` inserted
        with the class `classes` gives (1 if not named). To change an item's class, remove it
        and add it again. Raises ValueError (and leaves this set as it was) when an added id
        is in the set under another timestamp."""
        known = classes or {}
        chunks = self._chunks or [_Chunk([], [], [])]
        firsts = self._firsts or [(0, b"")]
        ids = list(self._ids)
        copied: set[int] = set()
        work: dict[int, tuple[list[Item], list[int], list[int]]] = {}

        def edit(c: int) -> tuple[list[Item], list[int], list[int]]:
            if c not in work:
                chunk = chunks[c]
                work[c] = (list(chunk.items), list(chunk.classes), list(chunk.hashes))
            return work[c]

        def index(item_id: bytes) -> dict[bytes, int]:
            """The id index's bucket of `item_id`, copied before its first change."""
            b = hash(item_id) % _BUCKETS
            if b not in copied:
                copied.add(b)
                ids[b] = dict(ids[b])
            return ids[b]

        for item in set(remove):
            if item not in self:
                continue
            c = bisect_right(firsts, item) - 1
            items, cls, hashes = edit(c)
            i = bisect_left(items, item)
            del items[i], cls[i], hashes[i]
            del index(item[1])[item[1]]
        for item in sorted({_check_item(item) for item in add}):
            ts = ids[hash(item[1]) % _BUCKETS].get(item[1])
            if ts == item[0]:
                continue
            if ts is not None:
                raise ValueError("an id appears with two different timestamps")
            index(item[1])[item[1]] = item[0]
            c = max(bisect_right(firsts, item) - 1, 0)
            items, cls, hashes = edit(c)
            i = bisect_left(items, item)
            k = _check_class(known.get(item[1], 1))
            items.insert(i, item)
            cls.insert(i, k)
            hashes.insert(i, item_hash(item[1], k))
        if not work and not copied:
            return self
        new: list[_Chunk] = []
        for c, chunk in enumerate(chunks):
            if c not in work:
                new.append(chunk)
                continue
            items, cls, hashes = work[c]
            pieces = max(1, -(-len(items) // (2 * _CHUNK)))  # each piece within twice _CHUNK
            size = -(-len(items) // pieces) if items else 0
            new.extend(_Chunk(items[k:k + size], cls[k:k + size], hashes[k:k + size])
                       for k in range(0, len(items), size or 1))
        result = SortedItems.__new__(SortedItems)
        result._assemble(new, ids)
        return result

    def reclassed(self, classes: Mapping[bytes, int]) -> SortedItems:
        """A new set in which the ids `classes` names (and this set holds) have that class."""
        changed = []
        for item_id in classes:
            ts = self._ids[hash(item_id) % _BUCKETS].get(item_id)
            if ts is not None:
                changed.append((ts, item_id))
        return self.updated(add=changed, remove=changed, classes=classes)


def _check_class(cls: int) -> int:
    if cls not in (0, 1):
        raise ValueError(f"an item's class is 0 or 1, not {cls!r}")
    return cls


def _check_item(item: Item) -> Item:
    ts, item_id = item
    if type(ts) is not int or not 0 <= ts <= MAX_TIMESTAMP:
        raise ValueError(f"timestamp {ts!r} outside 0..{MAX_TIMESTAMP}")
    if type(item_id) is not bytes or len(item_id) != ID_SIZE:
        raise ValueError(f"an id must be {ID_SIZE} bytes")
    return (ts, item_id)


# --------------------------------------------------------------------------------------------
# Messages


class Mode(IntEnum):
    SKIP = 0
    FINGERPRINT = 1
    ID_LIST = 2
    ID_DIFF = 3
    KNOWN = 4


@dataclass(frozen=True, slots=True)
class SkipRange:
    upper: Bound


@dataclass(frozen=True, slots=True)
class FingerprintRange:
    upper: Bound
    fingerprint: bytes


@dataclass(frozen=True, slots=True)
class IdListRange:
    """All the sender's items in the range: `ids` in order, `flags` one byte per id (bit 2 the
    item's class, bits 0-1 what the sender can give this peer: GHOST, HELD, GIVES_DEAD,
    GIVES_LIVE), `times` the timestamps of the ids flagged GHOST or HELD, in order (so that the
    receiver can record them as ghosts)."""

    upper: Bound
    ids: tuple[bytes, ...]
    flags: bytes = b""
    times: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class IdDiffRange:
    """Answer to an `IdListRange`: `bitmap` marks the listed items the responder lacks; `ids`
    (with `flags` and `times` as in an id list) are the responder's items in the range that
    the list lacks."""

    upper: Bound
    bitmap: bytes
    ids: tuple[bytes, ...]
    flags: bytes = b""
    times: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class KnownRange:
    """Initiator only, after diffing the responder's id list: the initiator's ids in the range
    that the responder lacks and cannot get from it (all flagged GHOST or HELD), for the
    responder to record as ghosts."""

    upper: Bound
    ids: tuple[bytes, ...]
    flags: bytes = b""
    times: tuple[int, ...] = ()


Range = SkipRange | FingerprintRange | IdListRange | IdDiffRange | KnownRange
_Listing = IdListRange | IdDiffRange | KnownRange

_BASE_LEN = {Mode.SKIP: 2, Mode.FINGERPRINT: 3, Mode.ID_LIST: 5, Mode.ID_DIFF: 6, Mode.KNOWN: 5}


def offer_of(flag: int) -> int:
    """GHOST, HELD, GIVES_DEAD or GIVES_LIVE: what the flag's sender can give its peer."""
    return flag & _OFFER_MASK


def class_of(flag: int) -> int:
    """The class of the item a flag describes."""
    return flag >> 2 & 1


def _timed(flag: int) -> bool:
    """Whether an id's timestamp travels with it (the receiver may have to record a ghost)."""
    return flag & _OFFER_MASK <= HELD


# Flag bytes a peer may send: no bit above bit 2, and no GHOST of class 1.
_VALID_FLAGS = frozenset(range((CLASS_FLAG | _OFFER_MASK) + 1)) - {CLASS_FLAG | GHOST}
# The valid flag bytes for which `_timed` holds, for loops over every listed id.
_TIMED = frozenset(f for f in _VALID_FLAGS if _timed(f))


@dataclass(frozen=True, slots=True)
class Message:
    """One protocol message. `opening` marks the initiator's first message (version, since);
    `more` tells the initiator that the responder still holds deferred work."""

    ranges: tuple[Range, ...] = ()
    opening: bool = False
    since: int = 0
    more: bool = False

    def encode(self) -> bytes:
        body: dict[int, object] = {}
        if self.opening:
            body[1] = VERSION
            if self.since:
                body[2] = self.since
        if self.ranges:
            body[3] = _encode_ranges(self.ranges)
        if self.more:
            body[4] = 1
        return pack_ordered(body)  # keys added in ascending order, ranges are plain lists

    @staticmethod
    def decode(
        data: bytes, *, max_message: int = DEFAULT_MAX_MESSAGE, max_ranges: int = DEFAULT_MAX_RANGES
    ) -> Message:
        """Decode and validate untrusted bytes; raises only `WireError`."""
        obj = unpack_bounded(
            data, what="reconcile", max_size=max_message, max_items=max(max_ranges, 8), max_str=0
        )
        if not isinstance(obj, dict):
            raise WireError("reconcile", "expected a map")
        for key in obj:
            if type(key) is not int or key not in (1, 2, 3, 4):
                raise WireError("reconcile", f"unknown field key {key!r}")
        opening = 1 in obj
        if opening and check_int(obj[1], "reconcile.version", lo=0, hi=2**32) != VERSION:
            raise WireError("reconcile.version", f"unsupported version {obj[1]}")
        since = 0
        if 2 in obj:
            if not opening:
                raise WireError("reconcile.since", "only allowed in the opening message")
            since = check_int(obj[2], "reconcile.since", lo=1, hi=MAX_TIMESTAMP)
        ranges: tuple[Range, ...] = ()
        if 3 in obj:
            raw = obj[3]
            if not isinstance(raw, list) or not 1 <= len(raw) <= max_ranges:
                raise WireError("reconcile.ranges", f"expected an array of 1..{max_ranges}")
            ranges = _decode_ranges(raw, (since, b""))
        more = 4 in obj
        if more:
            check_int(obj[4], "reconcile.more", lo=1, hi=1)
        return Message(ranges, opening, since, more)


def _encode_ranges(ranges: Sequence[Range]) -> list[list[object]]:
    out: list[list[object]] = []
    last_ts = 0
    for r in ranges:
        entry, last_ts = _encode_range(r, last_ts)
        out.append(entry)
    return out


def _encode_range(r: Range, last_ts: int) -> tuple[list[object], int]:
    ts, prefix = r.upper
    entry: list[object]
    match r:
        case SkipRange():
            entry = [Mode.SKIP.value, 0]
        case FingerprintRange(fingerprint=fp):
            entry = [Mode.FINGERPRINT.value, 0, fp]
        case IdListRange(ids=ids, flags=flags, times=times):
            entry = [Mode.ID_LIST.value, 0, b"".join(ids), flags, list(times)]
        case IdDiffRange(bitmap=bitmap, ids=ids, flags=flags, times=times):
            entry = [Mode.ID_DIFF.value, 0, bitmap, b"".join(ids), flags, list(times)]
        case KnownRange(ids=ids, flags=flags, times=times):
            entry = [Mode.KNOWN.value, 0, b"".join(ids), flags, list(times)]
    if r.upper != INFINITY:
        entry[1] = ts - last_ts + 1
        last_ts = ts
        if prefix:
            entry.append(prefix)
    return entry, last_ts


def _decode_ranges(raw: list[object], lower: Bound) -> tuple[Range, ...]:
    out: list[Range] = []
    prev = lower
    last_ts = 0
    for n, item in enumerate(raw):
        where = f"reconcile.ranges[{n}]"
        if not isinstance(item, list) or not 2 <= len(item) <= 7:
            raise WireError(where, "expected an array of 2..7 items")
        code = check_int(item[0], f"{where}.mode", lo=0, hi=2**32)
        try:
            mode = Mode(code)
        except ValueError:
            raise WireError(f"{where}.mode", f"unknown mode {code}") from None
        base = _BASE_LEN[mode]
        if len(item) not in (base, base + 1):
            raise WireError(where, f"{mode.name} takes {base} or {base + 1} items")
        dt = check_int(item[1], f"{where}.dt", lo=0, hi=MAX_TIMESTAMP + 1)
        prefix = b""
        if len(item) == base + 1:
            prefix = check_bin(item[base], f"{where}.prefix", lo=1, hi=ID_SIZE)
            if prefix[-1] == 0:
                raise WireError(f"{where}.prefix", "ends with a zero byte (not minimal)")
        if dt == 0:
            if prefix:
                raise WireError(f"{where}.prefix", "the infinite bound has no prefix")
            upper = INFINITY
        else:
            ts = last_ts + dt - 1
            if ts > MAX_TIMESTAMP:
                raise WireError(f"{where}.dt", "timestamp out of range")
            upper = (ts, prefix)
            last_ts = ts
        if upper <= prev:
            raise WireError(f"{where}.bound", "bounds must be strictly increasing")
        out.append(_decode_payload(mode, prev, upper, item, where))
        prev = upper
    return tuple(out)


def _decode_payload(mode: Mode, lower: Bound, upper: Bound, item: list[object],
                    where: str) -> Range:
    if mode is Mode.SKIP:
        return SkipRange(upper)
    if mode is Mode.FINGERPRINT:
        fp = check_bin(item[2], f"{where}.fingerprint", size=FINGERPRINT_SIZE, hi=FINGERPRINT_SIZE)
        return FingerprintRange(upper, fp)
    if mode is Mode.ID_DIFF:
        bitmap = check_bin(item[2], f"{where}.bitmap", hi=2**32)
        ids, flags, times = _entries(item[3:6], lower, upper, where)
        return IdDiffRange(upper, bitmap, ids, flags, times)
    ids, flags, times = _entries(item[2:5], lower, upper, where)
    if mode is Mode.KNOWN:
        if any(f not in _TIMED for f in flags):
            raise WireError(f"{where}.flags", "KNOWN lists only ids flagged GHOST or HELD")
        return KnownRange(upper, ids, flags, times)
    return IdListRange(upper, ids, flags, times)


def _entries(fields: list[object], lower: Bound, upper: Bound,
             where: str) -> tuple[tuple[bytes, ...], bytes, tuple[int, ...]]:
    """Ids, their flags and the timestamps of the GHOST/HELD ones, checked: one flag per id,
    no reserved bit, a ghost of class 0, one timestamp per GHOST/HELD id placing it inside the
    range."""
    ids = _split_ids(fields[0], f"{where}.ids")
    flags = check_bin(fields[1], f"{where}.flags", hi=2**32)
    if len(flags) != len(ids):
        raise WireError(f"{where}.flags", f"{len(flags)} flags for {len(ids)} ids")
    if not _VALID_FLAGS.issuperset(flags):
        bad = next(f for f in flags if f not in _VALID_FLAGS)
        raise WireError(f"{where}.flags", f"invalid flag {bad:#x}")
    raw_times = fields[2]
    timed = [item_id for item_id, f in zip(ids, flags, strict=True) if f in _TIMED]
    if not isinstance(raw_times, list) or len(raw_times) != len(timed):
        raise WireError(f"{where}.times", f"expected an array of {len(timed)} timestamps")
    times = tuple(check_int(t, f"{where}.times", lo=0, hi=MAX_TIMESTAMP) for t in raw_times)
    for ts, item_id in zip(times, timed, strict=True):
        if not lower <= (ts, item_id) < upper:
            raise WireError(f"{where}.times", "a timestamp places its id outside the range")
    return ids, flags, times


def _split_ids(value: object, where: str) -> tuple[bytes, ...]:
    blob = check_bin(value, where, hi=2**32)
    if len(blob) % ID_SIZE:
        raise WireError(where, f"length {len(blob)} is not a multiple of {ID_SIZE}")
    ids = tuple(blob[i : i + ID_SIZE] for i in range(0, len(blob), ID_SIZE))
    if len(set(ids)) != len(ids):
        raise WireError(where, "duplicate id")
    return ids


# Exact msgpack sizes, so replies can be kept under the frame limit while they are built.


def _uint_size(v: int) -> int:
    return 1 if v < 0x80 else 2 if v <= 0xFF else 3 if v <= 0xFFFF else 5 if v <= 0xFFFFFFFF else 9


def _bin_size(n: int) -> int:
    return n + (2 if n <= 0xFF else 3 if n <= 0xFFFF else 5)


def _array_size(n: int) -> int:
    return 1 if n <= 15 else 3 if n <= 0xFFFF else 5


def _listing_size(ids: Sequence[bytes], flags: bytes, times: Sequence[int]) -> int:
    return (_bin_size(ID_SIZE * len(ids)) + _bin_size(len(flags)) + _array_size(len(times))
            + sum(_uint_size(t) for t in times))


def _range_size(r: Range, last_ts: int) -> int:
    ts, prefix = r.upper
    size = 2  # array header and mode
    if r.upper == INFINITY:
        size += 1
    else:
        size += _uint_size(ts - last_ts + 1) + (_bin_size(len(prefix)) if prefix else 0)
    match r:
        case SkipRange():
            pass
        case FingerprintRange():
            size += _bin_size(FINGERPRINT_SIZE)
        case IdListRange(ids=ids, flags=flags, times=times) | KnownRange(
                ids=ids, flags=flags, times=times):
            size += _listing_size(ids, flags, times)
        case IdDiffRange(bitmap=bitmap, ids=ids, flags=flags, times=times):
            size += _bin_size(len(bitmap)) + _listing_size(ids, flags, times)
    return size


_WORST_ENTRY = ID_SIZE + 1 + 9  # an id, its flag and a 9-byte timestamp
_LIST_OVERHEAD = 3 + 3 + 3  # the headers of the ids, the flags and the times
_WORST_BOUND = 9 + _bin_size(ID_SIZE)  # dt of 9 bytes and a full-length prefix
_WORST_SKIP = 2 + _WORST_BOUND
_WORST_FINGERPRINT = 2 + _WORST_BOUND + _bin_size(FINGERPRINT_SIZE)
_TYPICAL_FINGERPRINT_RANGE = 3 + 1 + _bin_size(FINGERPRINT_SIZE)
_HEADER = 1 + 1 + 3 + 2  # map, key 3, array header of up to 65535 ranges, `more`
_OPENING = 2 + 1 + 9  # version and since
_RESERVE = _WORST_SKIP + 2 + 1 + _bin_size(FINGERPRINT_SIZE)  # skip, then the remainder range


# --------------------------------------------------------------------------------------------
# Configuration and the reconciler


@dataclass(frozen=True, slots=True)
class ReconcileConfig:
    """Tuning and limits. Peers need not share a config, but a peer's `frame_limit` must not
    exceed our `max_message` (default 16 KiB).

    `branching` ranges per split; ranges with fewer than `idlist_threshold` items are sent as id
    lists; a split keeps the items older than `fresh_window` seconds before our newest item
    apart, as one fingerprint (0: split by count alone, the rule before issue 17); replies
    stay under `frame_limit` bytes; received messages may hold at most
    `max_message` bytes and `max_ranges` ranges; at most `max_deferred` ranges wait for a later
    reply (beyond that the rest is folded into one fingerprint); a session may receive at most
    `max_rounds` messages.
    """

    branching: int = 16
    idlist_threshold: int = 32
    frame_limit: int = 4096
    max_message: int = DEFAULT_MAX_MESSAGE
    max_ranges: int = DEFAULT_MAX_RANGES
    max_deferred: int = 4096
    max_rounds: int = 256
    fresh_window: int = FRESH_WINDOW

    def __post_init__(self) -> None:
        if not 2 <= self.branching <= 256:
            raise ValueError("branching must be 2..256")
        if not self.branching <= self.idlist_threshold <= 4096:
            raise ValueError("idlist_threshold must be branching..4096")
        if not 0 <= self.fresh_window <= MAX_TIMESTAMP:
            raise ValueError(f"fresh_window must be 0..{MAX_TIMESTAMP}")
        need = _HEADER + _OPENING + _WORST_SKIP + self.max_unit + _RESERVE
        if not need <= self.frame_limit <= self.max_message:
            raise ValueError(f"frame_limit must be {need}..max_message")
        if not 1 <= self.max_ranges <= 65535:
            raise ValueError("max_ranges must be 1..65535")
        if self.max_deferred < 0 or self.max_rounds < 1:
            raise ValueError("max_deferred must be >= 0 and max_rounds positive")

    @staticmethod
    def smallest_frame(branching: int, idlist_threshold: int,
                       fresh_window: int = FRESH_WINDOW) -> int:
        """The smallest `frame_limit` allowed with these split parameters."""
        cfg = ReconcileConfig(branching, idlist_threshold, DEFAULT_MAX_MESSAGE,
                              fresh_window=fresh_window)
        return _HEADER + _OPENING + _WORST_SKIP + cfg.max_unit + _RESERVE

    @property
    def max_unit(self) -> int:
        """Largest single unit of reply (one split or one id list), in bytes: a split may
        start with the fingerprint of the range's old part (`fresh_window`)."""
        split = self.branching * _WORST_FINGERPRINT
        idlist = 2 + _WORST_BOUND + _LIST_OVERHEAD + _WORST_ENTRY * (self.idlist_threshold - 1)
        return max(split, idlist) + (_WORST_FINGERPRINT if self.fresh_window else 0)


class _Writer:
    """Accumulates outgoing ranges in key order within a byte budget, filling gaps with skips."""

    __slots__ = ("_end", "_last_ts", "_limit", "ranges", "size")

    def __init__(self, limit: int, header: int, start: Bound) -> None:
        self._limit = limit
        self.size = header
        self.ranges: list[Range] = []
        self._end = start
        self._last_ts = 0

    def room(self) -> int:
        """Bytes surely available for the next unit, keeping the reserve for a remainder."""
        return self._limit - self.size - _RESERVE - _WORST_SKIP

    def add(self, lower: Bound, units: Sequence[Range], *, force: bool = False) -> bool:
        """Append `units`, which cover `[lower, units[-1].upper)`, if they fit (or `force`)."""
        new: list[Range] = [] if lower == self._end else [SkipRange(lower)]
        new.extend(units)
        cost = 0
        ts = self._last_ts
        for r in new:
            cost += _range_size(r, ts)
            if r.upper != INFINITY:
                ts = r.upper[0]
        if not force and self.size + cost + _RESERVE > self._limit:
            return False
        self.ranges.extend(new)
        self.size += cost
        self._last_ts = ts
        self._end = new[-1].upper
        return True


@dataclass(frozen=True, slots=True)
class _Work:
    """A received range still to be answered (now or in a later reply)."""

    lower: Bound
    range: FingerprintRange | IdListRange | IdDiffRange | KnownRange
    stream: bool = False
    differs: bool = False  # a fingerprint already found different from ours

    @property
    def upper(self) -> Bound:
        return self.range.upper


@dataclass(slots=True)
class _Round:
    """What one received message produced, committed only if it was processed completely."""

    writer: _Writer
    deferred: list[_Work]
    have: set[bytes]
    need: set[bytes]
    peer_flags: dict[bytes, int] = field(default_factory=dict)
    ghosts: dict[bytes, int] = field(default_factory=dict)


Describe = Callable[[bytes, int], int]
"""`describe(id, cls)`: what we can give the peer of our item `id` of class `cls` (GHOST, HELD,
GIVES_DEAD or GIVES_LIVE)."""
DescribeAll = Callable[[Sequence[bytes], Sequence[int]], list[int]]
"""`describe_all(ids, classes)`: `describe` of each item in turn, in one call (so that a store
on disk is read once for a range, not once per item)."""


def _valid_offer(cls: int, offer: int) -> int:
    """`offer` as a flag may carry it: a class-1 item its holder no longer holds (it expired
    during the session) is HELD, never a GHOST of class 1, which the peer refuses."""
    return HELD if cls and offer == GHOST else offer


# The flag byte of an item of class `c` whose holder offers `o`: `_FLAGS[c][o]`.
_FLAGS = tuple(tuple(c << 2 | _valid_offer(c, o) for o in range(4)) for c in (0, 1))


def _by_class(item_id: bytes, cls: int) -> int:
    return GIVES_LIVE if cls else HELD


class Reconciler:
    """One side of a reconciliation session over an `ItemSet` that must not change meanwhile.

    The initiator calls `initiate()`, sends the bytes, and feeds each reply to `receive`, which
    returns the next message or None when done; `have_ids`/`need_ids` then hold the ids of the
    items only it has / only the peer has (an id both hold in different classes is in both),
    `peer_flags` the peer's flag for each id in `need_ids`. The responder only feeds `receive`
    and sends what it returns (on the responder, `receive` never returns None). On both sides
    `take_ghosts()` maps the ids the peer listed as GHOST or HELD, and which we do not hold at
    all, to their timestamps: what we may record as ghosts. `describe` says what we can give
    the peer of each item (default: GIVES_LIVE for class 1, HELD for class 0); `describe_all`,
    when given, replaces it and is asked about all the items of a range in one call.
    """

    def __init__(
        self,
        items: ItemSet,
        *,
        initiator: bool,
        config: ReconcileConfig | None = None,
        since: int = 0,
        describe: Describe = _by_class,
        describe_all: DescribeAll | None = None,
    ) -> None:
        if type(since) is not int or not 0 <= since <= MAX_TIMESTAMP:
            raise ValueError(f"since must be 0..{MAX_TIMESTAMP}")
        if since and not initiator:
            raise ValueError("the responder takes `since` from the initiator")
        self._items = items
        self._initiator = initiator
        self._config = config if config is not None else ReconcileConfig()
        self._since = since
        self._describe_all = describe_all or (
            lambda ids, classes: [describe(i, c) for i, c in zip(ids, classes, strict=True)])
        self._started = False
        self._done = False
        self._rounds = 0
        self._deferred: list[_Work] = []
        self._have: set[bytes] = set()
        self._need: set[bytes] = set()
        self._peer_flags: dict[bytes, int] = {}
        self._ghosts: dict[bytes, int] = {}
        self._fresh: int | None = None  # index of the first fresh item, found on first use

    @property
    def since(self) -> int:
        """Lower timestamp bound of the session (the responder learns it from the first message)."""
        return self._since

    @property
    def rounds(self) -> int:
        """Messages received and accepted so far."""
        return self._rounds

    @property
    def done(self) -> bool:
        """True once the initiator has nothing left to send (never set on the responder)."""
        return self._done

    @property
    def have_ids(self) -> frozenset[bytes]:
        """Ids of items we hold that the peer lacks (initiator only; empty on the responder)."""
        return frozenset(self._have)

    @property
    def need_ids(self) -> frozenset[bytes]:
        """Ids of items the peer holds that we lack (initiator only; empty on the responder)."""
        return frozenset(self._need)

    @property
    def peer_flags(self) -> dict[bytes, int]:
        """The peer's flag byte for every id in `need_ids` (initiator only)."""
        return dict(self._peer_flags)

    def take_ghosts(self) -> dict[bytes, int]:
        """Ids the peer listed as GHOST or HELD that are not in our set, with their timestamps,
        learnt since the last call (both roles)."""
        ghosts, self._ghosts = self._ghosts, {}
        return ghosts

    def initiate(self) -> bytes:
        """The opening message (initiator only, once)."""
        if not self._initiator:
            raise RuntimeError("only the initiator initiates")
        if self._started:
            raise RuntimeError("already initiated")
        lower: Bound = (self._since, b"")
        lo = self._items.bisect(lower)
        writer = _Writer(self._config.frame_limit, _HEADER + _OPENING, lower)
        writer.add(lower, self._split(lo, len(self._items), INFINITY), force=True)
        self._started = True
        return Message(tuple(writer.ranges), opening=True, since=self._since).encode()

    def receive(self, data: bytes) -> bytes | None:
        """Process one message from the peer; return the reply, or None when finished.

        Raises `WireError` (or its subclass `ReconcileError`) for anything malformed or out of
        protocol; the session state is then unchanged.
        """
        if self._initiator and not self._started:
            raise RuntimeError("call initiate() first")
        if self._done:
            raise ReconcileError("reconcile", "message after the session finished")
        if self._rounds >= self._config.max_rounds:
            raise ReconcileError("reconcile", f"more than {self._config.max_rounds} rounds")
        msg = Message.decode(
            data, max_message=self._config.max_message, max_ranges=self._config.max_ranges
        )
        opening = not self._initiator and self._rounds == 0
        if msg.opening != opening:
            rule = "missing the opening fields" if opening else "unexpected opening fields"
            raise ReconcileError("reconcile.version", rule)
        if msg.more and not self._initiator:
            raise ReconcileError("reconcile.more", "only the responder defers work")
        since = msg.since if opening else self._since
        result = self._process(self._incoming(msg.ranges, since), since)
        self._rounds += 1
        self._since = since
        self._have |= result.have
        self._need |= result.need
        self._peer_flags.update(result.peer_flags)
        self._ghosts.update(result.ghosts)
        self._deferred = result.deferred
        ranges = tuple(result.writer.ranges)
        if not self._initiator:
            return Message(ranges, more=bool(result.deferred)).encode()
        if ranges or msg.more:
            return Message(ranges).encode()
        self._done = True
        return None

    # ---------------------------------------------------------------------------------------

    def _incoming(self, ranges: Sequence[Range], since: int) -> list[_Work]:
        """Received ranges to act on, merged in order with our deferred work.

        The peer never sends work inside ranges we deferred, except when it folded its rest
        into one fingerprint; that range then contains them whole and supersedes them.
        """
        lower: Bound = (since, b"")
        if ranges and ranges[0].upper <= lower:
            raise WireError("reconcile.ranges[0].bound", "bounds must be strictly increasing")
        fresh: list[_Work] = []
        for n, r in enumerate(ranges):
            if isinstance(r, IdDiffRange) and not self._initiator:
                raise ReconcileError(f"reconcile.ranges[{n}].mode", "ID_DIFF sent to responder")
            if isinstance(r, KnownRange) and self._initiator:
                raise ReconcileError(f"reconcile.ranges[{n}].mode", "KNOWN sent to initiator")
            if not isinstance(r, SkipRange):
                fresh.append(_Work(lower, r))
            lower = r.upper
        merged: list[_Work] = []
        old = self._deferred
        i = 0
        for w in fresh:
            while i < len(old) and old[i].upper <= w.lower:
                merged.append(old[i])
                i += 1
            while i < len(old) and old[i].lower < w.upper:
                if old[i].lower < w.lower or old[i].upper > w.upper:
                    raise ReconcileError("reconcile.ranges", "a range overlaps deferred work")
                i += 1  # superseded
            merged.append(w)
        merged.extend(old[i:])
        return merged

    def _process(self, work: Sequence[_Work], since: int) -> _Round:
        items = self._items
        out = _Round(_Writer(self._config.frame_limit, _HEADER, (since, b"")), [], set(), set())
        for n, w in enumerate(work):
            lo = items.bisect(w.lower)
            hi = len(items) if w.upper == INFINITY else items.bisect(w.upper, lo)
            match w.range:
                case FingerprintRange(fingerprint=fp):
                    if not w.differs and items.fingerprint(lo, hi) == fp:
                        continue
                    if not self._fits_split(hi - lo, out.writer) or not out.writer.add(
                        w.lower, self._split(lo, hi, w.upper)
                    ):
                        late = _Work(w.lower, w.range, differs=True)
                        if not self._defer(out, late, lo):
                            break
                case IdListRange() as listed if self._initiator:
                    self._diff_list(w.lower, listed, lo, hi, out)
                case IdListRange() as listed:
                    self._note_ghosts(listed, out)
                    rest = self._answer(w, lo, hi, out.writer)
                    if rest is not None and not self._defer(out, rest, items.bisect(rest.lower)):
                        break
                case KnownRange() as known:
                    self._note_ghosts(known, out)
                case IdDiffRange() as diff:
                    self._apply_diff(diff, lo, hi, out, f"reconcile.work[{n}]")
        return out

    def _defer(self, out: _Round, w: _Work, lo: int) -> bool:
        """Keep `w` for a later reply; if too much is waiting, fold everything from `w` on into
        one fingerprint for the peer to split again, and return False (stop)."""
        if len(out.deferred) < self._config.max_deferred:
            out.deferred.append(w)
            return True
        fp = self._items.fingerprint(lo, len(self._items))
        out.writer.add(w.lower, [FingerprintRange(INFINITY, fp)], force=True)
        return False

    def _fits_split(self, count: int, writer: _Writer) -> bool:
        """False when `_split` of `count` items surely does not fit (saves hashing it)."""
        if count < self._config.idlist_threshold:
            return writer.room() >= 3 + _LIST_OVERHEAD + _WORST_ENTRY * count
        return writer.room() >= self._config.branching * (3 + _bin_size(FINGERPRINT_SIZE))

    def _entries(self, lo: int, hi: int) -> tuple[Sequence[Item], list[int]]:
        """Our items in `[lo, hi)` and their flag bytes for this peer."""
        chosen = self._items.items(lo, hi)
        classes = self._items.classes(lo, hi)
        offers = self._describe_all([item_id for _, item_id in chosen], classes)
        # Run once per item listed at every contact, hence a table rather than calls.
        flags = [_FLAGS[c][o] for c, o in zip(classes, offers, strict=True)]
        return chosen, flags

    def _listing(self, chosen: Sequence[Item], flags: Sequence[int],
                 ) -> tuple[tuple[bytes, ...], bytes, tuple[int, ...]]:
        ids = tuple(item_id for _, item_id in chosen)
        times = tuple(ts for (ts, _), f in zip(chosen, flags, strict=True) if f in _TIMED)
        return ids, bytes(flags), times

    def _split(self, lo: int, hi: int, upper: Bound) -> list[Range]:
        """Describe our items in `[lo, hi)` (a range ending at `upper`) for the peer.

        When the range holds our newest item, some fresh items (created within `fresh_window`
        of it) and at least `idlist_threshold` older ones, the older ones go as one
        fingerprint and the fresh ones are split alone: what two sets differ on is nearly all
        fresh (faded items agree, §10.2), so the differences land in small ranges however
        large the old part grows."""
        items = self._items
        count = hi - lo
        cfg = self._config
        if count < cfg.idlist_threshold:
            return [IdListRange(upper, *self._listing(*self._entries(lo, hi)))]
        cut = self._fresh_from(lo, hi)
        if cut is not None:
            bound = _between(*items.items(cut - 1, cut + 1))
            return [FingerprintRange(bound, items.fingerprint(lo, cut)),
                    *self._split(cut, hi, upper)]
        buckets = _buckets(count, cfg.branching, cfg.idlist_threshold)
        per, extra = divmod(count, buckets)
        out: list[Range] = []
        start = lo
        for i in range(buckets):
            end = start + per + (1 if i < extra else 0)
            bound = upper if i == buckets - 1 else _between(*items.items(end - 1, end + 1))
            out.append(FingerprintRange(bound, items.fingerprint(start, end)))
            start = end
        return out

    def _fresh_from(self, lo: int, hi: int) -> int | None:
        """The index of our first fresh item when `[lo, hi)` holds our newest item, fresh
        items and at least `idlist_threshold` old ones; else None."""
        n = len(self._items)
        if self._fresh is None:
            window = self._config.fresh_window
            top = self._items.items(n - 1, n)[0][0] if window and n else None
            self._fresh = n if top is None else self._items.bisect((max(top - window, 0), b""))
        cut = self._fresh
        return cut if hi == n and cut < n and cut - lo >= self._config.idlist_threshold else None

    def _note_ghosts(self, listed: _Listing, out: _Round,
                     ours: Sequence[Item] | None = None) -> None:
        """Record the peer's GHOST/HELD ids we do not hold at all as ghosts to be. `ours`, when
        given, are all our items in the listed range (every timed id lies inside it), which
        saves a search of the whole set per id."""
        pairs = zip(listed.ids, listed.flags, strict=True)
        timed = [item_id for item_id, f in pairs if f in _TIMED]
        if not timed:
            return
        held = None if ours is None else set(ours)
        for item_id, ts in zip(timed, listed.times, strict=True):
            if not (self._holds(ts, item_id) if held is None else (ts, item_id) in held):
                out.ghosts[item_id] = ts

    def _holds(self, ts: int, item_id: bytes) -> bool:
        i = self._items.bisect((ts, item_id))
        return i < len(self._items) and self._items.items(i, i + 1)[0] == (ts, item_id)

    def _diff_list(self, lower: Bound, listed: IdListRange, lo: int, hi: int,
                   out: _Round) -> None:
        """Initiator: diff the responder's id list with our items in the range; tell it, with a
        KNOWN range if it fits, which of our ids it lacks and cannot get from us."""
        theirs = {(i, f >> 2 & 1): f for i, f in zip(listed.ids, listed.flags, strict=True)}
        chosen, flags = self._entries(lo, hi)
        ours = {(item_id, c >> 2 & 1) for (_, item_id), c in zip(chosen, flags, strict=True)}
        out.have.update(i for i, _ in ours.difference(theirs))
        for key, f in theirs.items():
            if key not in ours:
                out.need.add(key[0])
                out.peer_flags[key[0]] = f
        self._note_ghosts(listed, out, chosen)
        their_ids = set(listed.ids)
        unknown = [(item, f) for item, f in zip(chosen, flags, strict=True)
                   if f in _TIMED and item[1] not in their_ids]
        if unknown:
            known = KnownRange(listed.upper, *self._listing([i for i, _ in unknown],
                                                            [f for _, f in unknown]))
            out.writer.add(lower, [known])  # best effort: the next contact retries

    def _apply_diff(self, diff: IdDiffRange, lo: int, hi: int, out: _Round, where: str) -> None:
        count = hi - lo
        if len(diff.bitmap) != (count + 7) // 8:
            raise ReconcileError(f"{where}.bitmap", f"does not match our {count} ids in the range")
        bits = int.from_bytes(diff.bitmap, "little")
        if bits >> count:
            raise ReconcileError(f"{where}.bitmap", "unused bits must be zero")
        chosen, flags = self._entries(lo, hi)
        ours = {(item_id, f >> 2 & 1) for (_, item_id), f in zip(chosen, flags, strict=True)}
        out.have.update(item_id for i, (_, item_id) in enumerate(chosen) if bits >> i & 1)
        for item_id, f in zip(diff.ids, diff.flags, strict=True):
            if (item_id, f >> 2 & 1) not in ours:
                out.need.add(item_id)
                out.peer_flags[item_id] = f
        self._note_ghosts(diff, out, chosen)

    def _answer(self, w: _Work, lo: int, hi: int, writer: _Writer) -> _Work | None:
        """Answer the initiator's id list; return the work left for a later reply, if any."""
        assert isinstance(w.range, IdListRange)
        listed = w.range
        count = hi - lo
        room = writer.room()
        # Only look at our ids when their difference could fit: the work is then bounded by
        # the reply size plus the peer's list, whatever the size of the range on our side.
        if not w.stream and count <= len(listed.ids) + room // _WORST_ENTRY:
            theirs = {(i, f >> 2 & 1) for i, f in zip(listed.ids, listed.flags, strict=True)}
            chosen, flags = self._entries(lo, hi)
            mine = {(item_id, f >> 2 & 1) for (_, item_id), f in zip(chosen, flags, strict=True)}
            keys = zip(listed.ids, (f >> 2 & 1 for f in listed.flags), strict=True)
            bits = sum(1 << n for n, key in enumerate(keys) if key not in mine)
            bitmap = bits.to_bytes((len(listed.ids) + 7) // 8, "little")
            missing = [(item, f) for item, f in zip(chosen, flags, strict=True)
                       if (item[1], f >> 2 & 1) not in theirs]
            if not bits and not missing:
                return None  # same items on both sides: a skip says it
            listing = self._listing([i for i, _ in missing], [f for _, f in missing])
            if writer.add(w.lower, [IdDiffRange(w.upper, bitmap, *listing)]):
                return None
        # Otherwise stream our ids as id lists, which the initiator diffs chunk by chunk.
        chunk = min(count, (room - 2 - _WORST_BOUND - _LIST_OVERHEAD) // _WORST_ENTRY)
        if chunk == count:
            whole = IdListRange(w.upper, *self._listing(*self._entries(lo, hi)))
            return None if writer.add(w.lower, [whole]) else w
        if chunk <= 0:
            return w
        head = self._items.items(lo, lo + chunk + 1)
        bound = _between(head[-2], head[-1])
        part = IdListRange(bound, *self._listing(*self._entries(lo, lo + chunk)))
        writer.add(w.lower, [part], force=True)
        return _Work(bound, IdListRange(w.upper, ()), stream=True)


def _buckets(count: int, branching: int, threshold: int) -> int:
    """How many ranges to split `count` (>= threshold) items into.

    `branching`, except for the last split before id lists (buckets below `threshold` items):
    there a differing bucket costs its ids, about 16 * count / k bytes, and the split costs
    k fingerprint ranges of about 18 bytes, so k near sqrt(count * 16 / 18) is cheapest, as
    long as every bucket stays below the threshold (no extra level, hence no extra round trip).
    """
    fewest = -(-count // (threshold - 1))  # so that every bucket holds < threshold items
    if fewest > branching:
        return branching
    best = isqrt(count * ID_SIZE // _TYPICAL_FINGERPRINT_RANGE)
    return max(fewest, min(branching, best))


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """Expected cost of one session (see the module docstring, "Cost")."""

    up: int  # bytes from initiator to responder
    down: int  # bytes from responder to initiator
    messages: int

    @property
    def round_trips(self) -> int:
        return (self.messages + 1) // 2


def estimate_cost(n: int, d: int, config: ReconcileConfig | None = None) -> CostEstimate:
    """Model of a session between two sets of about `n` items whose symmetric difference holds
    `d` ids spread at random, half on each side. Differences falling into the same range share
    the fingerprints above it, counted with the expected number of occupied ranges."""
    cfg = config if config is not None else ReconcileConfig()
    e, s = _TYPICAL_FINGERPRINT_RANGE, ID_SIZE
    sizes, ks = [float(n)], []
    while sizes[-1] >= cfg.idlist_threshold:
        ks.append(_buckets(int(sizes[-1]), cfg.branching, cfg.idlist_threshold))
        sizes.append(sizes[-1] / ks[-1])
    sent = [0.0, 0.0]  # by the initiator, by the responder
    ranges = 1.0
    for level, k in enumerate(ks):
        splits = 1.0 if level == 0 else _occupied(ranges, d)
        sent[level % 2] += splits * (k * e + 3)
        ranges *= k
    leaves, leaf = (_occupied(ranges, d) if ks else 1.0), sizes[-1]
    sent[len(ks) % 2] += leaves * (6 + s * leaf)
    messages = len(ks) + 1
    if len(ks) % 2 == 0:  # the initiator sent the id lists; the responder answers ID_DIFF
        sent[1] += leaves * (7 + leaf / 8) + s * d / 2
        messages += 1
    if ks and not d:
        messages = 2
    per_frame = cfg.frame_limit - _RESERVE - _WORST_SKIP
    messages = max(messages, 2 * ceil(max(sent) / per_frame))
    header = 7 * ((messages + 1) // 2)
    return CostEstimate(round(sent[0]) + header, round(sent[1]) + header, messages)


def _occupied(ranges: float, d: int) -> float:
    """Expected number of `ranges` holding at least one of `d` randomly placed differences."""
    return ranges * (1 - (1 - 1 / ranges) ** d) if ranges > 1 else min(1.0, float(d))


def _between(prev: Item, cur: Item) -> Bound:
    """The smallest bound above `prev` and at or below `cur` (`prev < cur`)."""
    if prev[0] != cur[0]:
        return (cur[0], b"")
    a, b = prev[1], cur[1]
    i = 0
    while a[i] == b[i]:
        i += 1
    return (cur[0], b[: i + 1])
