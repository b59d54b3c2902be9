"""Link framing: whole node frames to link-sized fragments and back (sans-IO).

Shared by every transport whose link carries small units: BLE (a GATT write or notification
holds ATT MTU − 3 bytes), UDP (one datagram, e.g. 1,200 bytes) and the in-memory network. No
sockets, no clock: the time is passed in as seconds. Use one `Fragmenter` and one
`Reassembler` per link and direction; a new connection starts both afresh.

Fragment format, version 0 (all integers big-endian)::

    byte 0      flags   bits 7-6  version, must be 00
                        bit 5     FIRST: fragment 0 of its frame
                        bit 4     LAST: the final fragment of its frame
                        bits 3-0  high 4 bits of `total` (FIRST only) or of `index` (otherwise)
    bytes 1-2   seq     frame sequence number, uint16, +1 per frame on the link, wraps
    then, by kind:
      FIRST+LAST  (the whole frame in one fragment)
                  bits 3-0 must be 0; no more header; the frame is the payload (may be empty)
      FIRST only  bytes 3-4  low 16 bits of `total`, the frame length (20 bits: < 1 MiB);
                  payload: 1 .. total-1 bytes
      otherwise   byte 3     low 8 bits of `index`, the fragment number (12 bits: 1..4095);
                  payload: at least 1 byte
    payload     the rest of the fragment

The header is 3 bytes for a frame that fits one fragment, 5 for the first fragment of a longer
frame and 4 for each later one. A sender fills every fragment up to the MTU, so a frame is
sliced in order: fragment 0 carries `mtu − 5` bytes, the others `mtu − 4`, the last the rest.
A receiver does not rely on that: it takes fragments of any size in any order and checks
that they add up to exactly `total`, with the LAST fragment closing the sequence.

No checksum. Every link we run on already has one (BLE: a 24-bit CRC per link-layer packet and
acknowledged, in-order GATT delivery; UDP: the 16-bit UDP checksum on top of Wi-Fi's or
Ethernet's CRC-32), so a CRC here would catch next to nothing that gets through, while costing
up to 20 % of a 20-byte BLE fragment. It would not help against a hostile peer either, who
computes it as easily as we do: messages carry their own signatures, and the node validates
every frame it is handed. The one failure the link cannot see is ours: fragments of two frames
with the same `seq` mixed together. That needs a reused `seq`, which the reassembler rules out
(a partial frame is dropped once the link has moved more than `SEQ_WINDOW` frames past it, far
less than the 65,536 it takes to wrap), plus the length checks above.

Reassembly is bounded in count (`max_pending_frames`), memory (`max_pending_bytes`: payload
held, plus `FRAGMENT_COST` per fragment held out of order) and time (`timeout` seconds from a
frame's first fragment seen). Duplicates are dropped, also after their frame completed: the
last `CLOSED_MEMORY` finished seqs are remembered for `timeout` seconds. A sender that may
restart on a long-lived link (UDP) should therefore start at a random `first_seq`. On an
`ordered` link (BLE, memory), a gap means the frame is lost, so it is dropped at once.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from meshnode.codec import WireError
from meshnode.routing.frames import MAX_FRAME

__all__ = [
    "CLOSED_MEMORY",
    "DEFAULT_MAX_FRAME",
    "FORMAT_MAX_FRAME",
    "FRAGMENT_COST",
    "MAX_FRAGMENTS",
    "MIN_MTU",
    "SEQ_WINDOW",
    "Fragmenter",
    "FramingError",
    "Reassembler",
    "ReassemblyStats",
    "fragment_count",
    "wire_size",
]

VERSION = 0
FIRST = 0x20
LAST = 0x10
_VERSION_MASK = 0xC0
_HIGH_BITS = 0x0F

HEADER_SINGLE = 3
HEADER_FIRST = 5
HEADER_NEXT = 4

MIN_MTU = 20  # the smallest BLE ATT payload: default ATT MTU 23 minus 3
# The largest sync frame (docs/protocol.md §10): a link need not carry anything larger, and
# BLE's INFO characteristic announces this value.
DEFAULT_MAX_FRAME = MAX_FRAME
FORMAT_MAX_FRAME = (1 << 20) - 1
MAX_FRAGMENTS = 1 << 12
SEQ_WINDOW = 1024
CLOSED_MEMORY = 64
FRAGMENT_COST = 64  # approximate bookkeeping bytes per fragment held out of order


class FramingError(WireError):
    """A fragment is malformed, or contradicts the other fragments of its frame."""


def fragment_count(size: int, mtu: int) -> int:
    """How many fragments a frame of `size` bytes takes at `mtu`."""
    if size <= mtu - HEADER_SINGLE:
        return 1
    rest = size - (mtu - HEADER_FIRST)
    step = mtu - HEADER_NEXT
    return 1 + (rest + step - 1) // step


def wire_size(size: int, mtu: int) -> int:
    """Bytes on the link, headers included, for one frame of `size` bytes at `mtu`."""
    n = fragment_count(size, mtu)
    if n == 1:
        return size + HEADER_SINGLE
    return size + HEADER_FIRST + (n - 1) * HEADER_NEXT


class Fragmenter:
    """Slices frames into fragments of at most `mtu` bytes, numbering frames from `first_seq`."""

    def __init__(self, mtu: int, *, max_frame: int = DEFAULT_MAX_FRAME, first_seq: int = 0) -> None:
        if mtu < MIN_MTU:
            raise ValueError(f"mtu {mtu} is below the minimum of {MIN_MTU}")
        if not 0 <= max_frame <= FORMAT_MAX_FRAME:
            raise ValueError(f"max_frame {max_frame} outside 0..{FORMAT_MAX_FRAME}")
        if fragment_count(max_frame, mtu) > MAX_FRAGMENTS:
            raise ValueError(f"a {max_frame}-byte frame needs more than {MAX_FRAGMENTS} "
                             f"fragments at mtu {mtu}")
        if not 0 <= first_seq <= 0xFFFF:
            raise ValueError(f"first_seq {first_seq} outside 0..65535")
        self.mtu = mtu
        self.max_frame = max_frame
        self._seq = first_seq

    def fragments(self, frame: bytes) -> list[bytes]:
        """The fragments of `frame`, in order; each call uses the next sequence number."""
        size = len(frame)
        if size > self.max_frame:
            raise ValueError(f"frame of {size} bytes exceeds max_frame {self.max_frame}")
        seq = self._seq.to_bytes(2, "big")
        self._seq = (self._seq + 1) & 0xFFFF
        mtu = self.mtu
        if size <= mtu - HEADER_SINGLE:
            return [bytes((FIRST | LAST,)) + seq + frame]
        pos = mtu - HEADER_FIRST
        out = [bytes((FIRST | size >> 16,)) + seq + (size & 0xFFFF).to_bytes(2, "big")
               + frame[:pos]]
        step = mtu - HEADER_NEXT
        index = 1
        while pos < size:
            end = pos + step
            flags = LAST if end >= size else 0
            out.append(bytes((flags | index >> 8,)) + seq + bytes((index & 0xFF,))
                       + frame[pos:end])
            pos = end
            index += 1
        return out


@dataclass(frozen=True, slots=True)
class ReassemblyStats:
    """Counters of one `Reassembler`.

    `fragments_dropped`: duplicates, stragglers of finished or dropped frames, and the
    fragment that revealed a gap on an ordered link. `frames_dropped`: partial frames given up
    to make room, for falling behind the sequence window, or for a gap on an ordered link.
    """

    frames_ok: int = 0
    fragments_dropped: int = 0
    frames_dropped: int = 0
    frames_timed_out: int = 0
    malformed: int = 0


@dataclass(frozen=True, slots=True)
class _Fragment:
    seq: int
    index: int
    first: bool
    last: bool
    total: int | None
    payload: bytes


def _parse(data: object, max_frame: int) -> _Fragment:
    """One fragment, checked on its own: nothing here depends on reassembly state."""
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)  # bleak hands notifications over as bytearray
    if not isinstance(data, bytes):
        raise FramingError("fragment", "expected bytes")
    if len(data) < HEADER_SINGLE:
        raise FramingError("fragment", f"{len(data)} bytes, shorter than the header")
    flags = data[0]
    if flags & _VERSION_MASK != VERSION:
        raise FramingError("fragment.version", f"unknown framing version {flags >> 6}")
    first = bool(flags & FIRST)
    last = bool(flags & LAST)
    high = flags & _HIGH_BITS
    seq = int.from_bytes(data[1:3], "big")
    if first and last:
        if high:
            raise FramingError("fragment.flags", "length bits set on a single-fragment frame")
        payload = data[HEADER_SINGLE:]
        if len(payload) > max_frame:
            raise FramingError("fragment.total", f"frame of {len(payload)} bytes exceeds "
                                                 f"the limit of {max_frame}")
        return _Fragment(seq, 0, True, True, len(payload), payload)
    if first:
        if len(data) < HEADER_FIRST:
            raise FramingError("fragment", "first fragment shorter than its header")
        total = high << 16 | int.from_bytes(data[3:5], "big")
        if total > max_frame:
            raise FramingError("fragment.total", f"declares {total} bytes, limit {max_frame}")
        payload = data[HEADER_FIRST:]
        if not payload:
            raise FramingError("fragment.payload", "empty")
        if len(payload) >= total:
            raise FramingError("fragment.total", f"declares {total} bytes but is not the "
                                                 f"last fragment and carries {len(payload)}")
        return _Fragment(seq, 0, True, False, total, payload)
    if len(data) < HEADER_NEXT:
        raise FramingError("fragment", "fragment shorter than its header")
    index = high << 8 | data[3]
    if index == 0:
        raise FramingError("fragment.index", "index 0 without the FIRST flag")
    if index >= max_frame:
        raise FramingError("fragment.index", f"index {index} impossible for frames "
                                             f"of at most {max_frame} bytes")
    payload = data[HEADER_NEXT:]
    if not payload:
        raise FramingError("fragment.payload", "empty")
    return _Fragment(seq, index, False, last, None, payload)


@dataclass(slots=True)
class _Partial:
    """A frame being reassembled: an in-order prefix plus fragments that arrived early."""

    started: float
    total: int | None = None
    last: int | None = None
    prefix: bytearray = field(default_factory=bytearray)
    next: int = 0
    held: dict[int, bytes] = field(default_factory=dict)
    held_bytes: int = 0

    def received(self) -> int:
        return len(self.prefix) + self.held_bytes

    def cost(self) -> int:
        return len(self.prefix) + self.held_bytes + FRAGMENT_COST * len(self.held)


def _distance(a: int, b: int) -> int:
    d = (a - b) & 0xFFFF
    return min(d, 0x10000 - d)


class Reassembler:
    """Turns the fragments of one link back into frames, within fixed bounds.

    `feed` returns the frames a fragment completed (zero or one). A malformed fragment raises
    `FramingError` and changes nothing but the `malformed` counter; a fragment that contradicts
    its own frame raises `FramingError` and discards that frame only.
    """

    def __init__(
        self,
        *,
        max_frame: int = DEFAULT_MAX_FRAME,
        max_pending_frames: int = 16,
        max_pending_bytes: int = 128 * 1024,
        timeout: float = 30.0,
        ordered: bool = False,
    ) -> None:
        if not 0 <= max_frame <= FORMAT_MAX_FRAME:
            raise ValueError(f"max_frame {max_frame} outside 0..{FORMAT_MAX_FRAME}")
        if max_pending_frames < 1:
            raise ValueError("max_pending_frames must be at least 1")
        if max_pending_bytes < max_frame:
            raise ValueError("max_pending_bytes must hold at least one max_frame")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        self.max_frame = max_frame
        self.max_pending_frames = max_pending_frames
        self.max_pending_bytes = max_pending_bytes
        self.timeout = timeout
        self.ordered = ordered
        self._pending: dict[int, _Partial] = {}  # in order of first fragment seen
        self._closed: OrderedDict[int, float] = OrderedDict()  # finished seq -> when
        self._cost = 0
        self._frames_ok = 0
        self._fragments_dropped = 0
        self._frames_dropped = 0
        self._frames_timed_out = 0
        self._malformed = 0

    @property
    def stats(self) -> ReassemblyStats:
        return ReassemblyStats(self._frames_ok, self._fragments_dropped, self._frames_dropped,
                               self._frames_timed_out, self._malformed)

    @property
    def pending_frames(self) -> int:
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        """What the partial frames are charged against `max_pending_bytes`."""
        return self._cost

    def feed(self, fragment: bytes | bytearray, now: float) -> list[bytes]:
        """Take one fragment received at `now`; return the frame it completed, if any."""
        try:
            frag = _parse(fragment, self.max_frame)
        except FramingError:
            self._malformed += 1
            raise
        self.expire(now)
        seq = frag.seq
        if seq in self._closed:
            self._fragments_dropped += 1
            return []
        partial = self._pending.get(seq)
        if partial is None:
            self._new_seq(seq, now)
            if frag.last and frag.first:
                self._close(seq, now)
                self._frames_ok += 1
                return [frag.payload]
            if self.ordered and not frag.first:
                self._close(seq, now)  # its start was lost: the rest cannot complete
                self._fragments_dropped += 1
                return []
            while len(self._pending) >= self.max_pending_frames:
                self._drop(next(iter(self._pending)), now)
                self._frames_dropped += 1
            partial = self._pending[seq] = _Partial(now)
        elif self.ordered and frag.index > partial.next:
            self._drop(seq, now)  # a fragment went missing on a link that keeps order
            self._frames_dropped += 1
            self._fragments_dropped += 1
            return []
        if frag.index < partial.next or frag.index in partial.held:
            self._fragments_dropped += 1
            return []
        try:
            self._check(partial, frag)
        except FramingError:
            self._drop(seq, now)
            self._malformed += 1
            raise
        return self._add(seq, partial, frag, now)

    def expire(self, now: float) -> None:
        """Drop partial frames older than `timeout`, and forget finished seqs as old."""
        cutoff = now - self.timeout
        while self._pending:
            seq, partial = next(iter(self._pending.items()))
            if partial.started >= cutoff:
                break
            self._drop(seq, now)
            self._frames_timed_out += 1
        while self._closed:
            seq, when = next(iter(self._closed.items()))
            if when >= cutoff:
                break
            del self._closed[seq]

    def _new_seq(self, seq: int, now: float) -> None:
        """A frame starts: partial frames the link has moved past are dead."""
        if self.ordered:
            stale = list(self._pending)
        else:
            stale = [s for s in self._pending if _distance(s, seq) > SEQ_WINDOW]
            for s in [s for s in self._closed if _distance(s, seq) > SEQ_WINDOW]:
                del self._closed[s]
        for s in stale:
            self._drop(s, now)
            self._frames_dropped += 1

    def _check(self, partial: _Partial, frag: _Fragment) -> None:
        """Refuse a fragment that contradicts what its frame's other fragments said."""
        size = len(frag.payload)
        if frag.first:
            assert frag.total is not None
            if partial.received() + size > frag.total:
                raise FramingError("fragment.total", f"fragments carry more than the declared "
                                                     f"{frag.total} bytes")
            if partial.last is not None and partial.last >= frag.total:
                raise FramingError("fragment.index", "more fragments than bytes")
        else:
            limit = self.max_frame if partial.total is None else partial.total
            if partial.received() + size > limit:
                raise FramingError("fragment.total", f"fragments carry more than {limit} bytes")
            if partial.total is not None and frag.index >= partial.total:
                raise FramingError("fragment.index", "more fragments than bytes")
        if frag.last:
            if partial.last is not None:
                raise FramingError("fragment.flags", "two LAST fragments in one frame")
            if partial.held and max(partial.held) > frag.index:
                raise FramingError("fragment.index", "a fragment after the LAST one")
        elif partial.last is not None and frag.index > partial.last:
            raise FramingError("fragment.index", "a fragment after the LAST one")

    def _add(self, seq: int, partial: _Partial, frag: _Fragment, now: float) -> list[bytes]:
        before = partial.cost()
        if frag.first:
            partial.total = frag.total
        if frag.last:
            partial.last = frag.index
        if frag.index == partial.next:
            partial.prefix += frag.payload
            partial.next += 1
            while partial.next in partial.held:
                piece = partial.held.pop(partial.next)
                partial.held_bytes -= len(piece)
                partial.prefix += piece
                partial.next += 1
        else:
            partial.held[frag.index] = frag.payload
            partial.held_bytes += len(frag.payload)
        self._cost += partial.cost() - before
        if partial.total is not None and len(partial.prefix) == partial.total:
            if partial.last != partial.next - 1:
                self._drop(seq, now)
                self._malformed += 1
                raise FramingError("fragment.flags", "frame complete without its LAST fragment")
            self._cost -= partial.cost()
            del self._pending[seq]
            self._close(seq, now)
            self._frames_ok += 1
            return [bytes(partial.prefix)]
        if partial.last is not None and partial.next > partial.last:
            self._drop(seq, now)
            self._malformed += 1
            raise FramingError("fragment.total", f"LAST fragment reached with "
                                                 f"{len(partial.prefix)} of {partial.total} bytes")
        self._enforce_budget(seq, now)
        return []

    def _enforce_budget(self, seq: int, now: float) -> None:
        """Over `max_pending_bytes`: give up the oldest other frames, then this one."""
        while self._cost > self.max_pending_bytes:
            victim = next((s for s in self._pending if s != seq), seq)
            self._drop(victim, now)
            self._frames_dropped += 1
            if victim == seq:
                return

    def _drop(self, seq: int, now: float) -> None:
        partial = self._pending.pop(seq)
        self._cost -= partial.cost()
        self._close(seq, now)

    def _close(self, seq: int, now: float) -> None:
        self._closed.pop(seq, None)
        self._closed[seq] = now
        if len(self._closed) > CLOSED_MEMORY:
            self._closed.popitem(last=False)
