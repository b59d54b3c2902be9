"""Bounded reassembly of bitchat fragments (sans-IO: the caller passes the time).

A fragment set is keyed by (sender, fragment id). Bounds, each refusing with `BitchatError`
and leaving the other sets untouched:

* at most `max_sets` sets in progress (the oldest is dropped to make room);
* at most `max_fragments` fragments per set (the declared total), and `max_bytes` per set;
* at most `max_total_bytes` buffered over all sets (the oldest sets are dropped);
* a set not completed within `timeout` seconds of its first fragment is dropped.

A fragment that contradicts its set (another total or original type, or the same index with
other data) drops the whole set: a sender that cannot keep its story straight loses it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from meshnode.transport.bitchat.codec import BitchatError
from meshnode.transport.bitchat.payloads import Fragment

__all__ = ["Reassembler"]


@dataclass(slots=True)
class _Set:
    total: int
    original_type: int
    started: float
    parts: dict[int, bytes] = field(default_factory=dict)
    size: int = 0


@dataclass(slots=True)
class Reassembler:
    max_sets: int = 64
    max_fragments: int = 256
    max_bytes: int = 65_536
    max_total_bytes: int = 1_048_576
    timeout: float = 30.0
    _sets: OrderedDict[tuple[bytes, bytes], _Set] = field(default_factory=OrderedDict)
    _buffered: int = 0

    @property
    def pending(self) -> int:
        return len(self._sets)

    @property
    def buffered(self) -> int:
        return self._buffered

    def add(self, sender: bytes, frag: Fragment, now: float) -> tuple[int, bytes] | None:
        """Take one fragment; the (original type, packet bytes) once its set is complete."""
        self.expire(now)
        if frag.total > self.max_fragments:
            raise BitchatError("fragment", f"total {frag.total} above {self.max_fragments}")
        key = (sender, frag.fragment_id)
        entry = self._sets.get(key)
        if entry is None:
            entry = self._start(key, frag, now)
        elif entry.total != frag.total or entry.original_type != frag.original_type:
            self._drop(key)
            raise BitchatError("fragment", "total or type differs from the set's first fragment")
        known = entry.parts.get(frag.index)
        if known is not None:
            if known != frag.data:
                self._drop(key)
                raise BitchatError("fragment", f"index {frag.index} sent twice, differently")
            return None
        if entry.size + len(frag.data) > self.max_bytes:
            self._drop(key)
            raise BitchatError("fragment", f"set larger than {self.max_bytes} bytes")
        while self._buffered + len(frag.data) > self.max_total_bytes:
            oldest = next(iter(self._sets))
            self._drop(oldest)
            if oldest == key:
                raise BitchatError("fragment", "no room for this set")
        entry.parts[frag.index] = frag.data
        entry.size += len(frag.data)
        self._buffered += len(frag.data)
        if len(entry.parts) < entry.total:
            return None
        self._drop(key)
        return entry.original_type, b"".join(entry.parts[i] for i in range(entry.total))

    def expire(self, now: float) -> None:
        """Drop sets older than `timeout`."""
        for key in [k for k, s in self._sets.items() if now - s.started > self.timeout]:
            self._drop(key)

    def _start(self, key: tuple[bytes, bytes], frag: Fragment, now: float) -> _Set:
        while len(self._sets) >= self.max_sets:
            self._drop(next(iter(self._sets)))
        entry = _Set(frag.total, frag.original_type, now)
        self._sets[key] = entry
        return entry

    def _drop(self, key: tuple[bytes, bytes]) -> None:
        entry = self._sets.pop(key, None)
        if entry is not None:
            self._buffered -= entry.size
