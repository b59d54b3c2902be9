"""Selective-repeat retransmission for datagram links (sans-IO: time is passed in).

A `Node` expects what BLE's link layer gives it: frames arrive in order, or the link goes down.
UDP loses, duplicates and reorders datagrams and has no flow control, so the UDP transport puts
each fragment in a numbered datagram that the receiver acknowledges: `ArqSender` keeps at most
`window` unacknowledged datagrams, never sends past the limit the receiver granted (flow
control: a receiver whose application is busy grants nothing more, and still acknowledges what
it holds) and says which to send again; `ArqReceiver` hands payloads on in order, exactly once,
and describes what it holds in an acknowledgement (next seq expected + a 64-bit map of the seqs
after it). Retransmission timeouts follow RFC 6298 (smoothed RTT, Karn's rule,
exponential backoff) with Linux TCP's 200 ms floor. Like TCP, a link has one retransmission
timer, restarted whenever an acknowledgement makes progress; when it runs out only the oldest
datagram is resent and the timeout doubles. A receiver whose queue holds the RTT near the RTO
while it keeps acknowledging (a daemon verifying and storing a burst) therefore draws no
resends, and one that stalls draws one resend, not a window of them. Losses are mostly found
sooner: a datagram sent before one that was acknowledged is resent at once (RFC 8985's idea).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["ACK_BITS", "ArqReceiver", "ArqSender", "ReceiverStats", "SenderStats"]

ACK_BITS = 64
T = TypeVar("T")


@dataclass(slots=True)
class _Pending(Generic[T]):
    payload: T
    sent_at: float
    tries: int = 1
    lost: bool = False  # a later datagram was acknowledged: resend at once


@dataclass(frozen=True, slots=True)
class SenderStats:
    sent: int
    resent: int
    acked: int
    in_flight: int
    rto: float


@dataclass(frozen=True, slots=True)
class ReceiverStats:
    delivered: int
    duplicates: int
    beyond_window: int


class ArqSender(Generic[T]):
    """Numbers payloads from 0 and keeps each until it is acknowledged."""

    def __init__(self, *, window: int = 64, rto_initial: float = 0.3, rto_min: float = 0.2,
                 rto_max: float = 2.0) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        if not 0 < rto_min <= rto_initial <= rto_max:
            raise ValueError("need 0 < rto_min <= rto_initial <= rto_max")
        self.window = window
        self._rto_min, self._rto_max = rto_min, rto_max
        self._rto = rto_initial
        self._srtt: float | None = None
        self._rttvar = 0.0
        self._min_rtt = math.inf
        self._next = 0
        self._limit = window  # until the receiver says otherwise
        self._pending: dict[int, _Pending[T]] = {}
        self._timer: float | None = None  # runs while anything is unacknowledged
        self._lost_at: float | None = None  # when datagrams were last found lost
        self._sent = self._resent = self._acked = 0

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def has_room(self) -> bool:
        """Within both our window and the receiver's limit."""
        return len(self._pending) < self.window and self._next < self._limit

    @property
    def limit(self) -> int:
        """The receiver's limit: seqs below it may be sent."""
        return self._limit

    @property
    def srtt(self) -> float | None:
        """The smoothed round-trip time in seconds, once measured."""
        return self._srtt

    @property
    def stats(self) -> SenderStats:
        return SenderStats(self._sent, self._resent, self._acked, len(self._pending), self._rto)

    def push(self, payload: T, now: float) -> int:
        """Take `payload` for its first transmission at `now`; returns its seq."""
        if not self.has_room():
            raise RuntimeError("window full: wait until has_room()")
        seq = self._next
        self._next += 1
        self._pending[seq] = _Pending(payload, now)
        if self._timer is None:
            self._timer = now + self._rto
        self._sent += 1
        return seq

    def on_ack(self, next_seq: int, bitmap: int, now: float, limit: int | None = None) -> bool:
        """Apply an acknowledgement (and the receiver's new limit, which never shrinks);
        True if some datagram became due at once (a hole)."""
        if next_seq > self._next:
            return False  # acknowledges what we never sent: not for this sender
        if limit is not None:
            self._limit = max(self._limit, limit)
        acked = [s for s in self._pending if s < next_seq]
        for i in range(ACK_BITS):
            if bitmap >> i & 1 and next_seq + 1 + i in self._pending:
                acked.append(next_seq + 1 + i)
        once: list[tuple[float, int]] = []  # (sent at, seq) of those sent only once
        resent: list[tuple[float, int]] = []
        for seq in acked:
            entry = self._pending.pop(seq)
            self._acked += 1
            if entry.tries == 1:  # Karn: only unambiguous samples
                self._sample(now - entry.sent_at)
                once.append((entry.sent_at, seq))
            elif now - entry.sent_at >= (self._min_rtt if self._srtt is not None else 0.0):
                resent.append((entry.sent_at, seq))
        # A resent datagram's acknowledgement may be for its first transmission: it tells
        # what arrived last only when nothing sent once is acknowledged with it. (A busy
        # receiver acknowledging the first transmissions in its queue acknowledges the
        # datagrams sent after them alongside; were the resend taken as the latest, those
        # still queued would all look lost.)
        latest = max(once or resent, default=None)
        if acked:
            # Progress restarts the timer (RFC 6298 5.3): datagrams that wait in a busy
            # receiver's queue are late, not lost, as long as acknowledgements keep coming.
            self._timer = now + self._rto if self._pending else None
        if latest is None:
            return False
        # A datagram sent before one that arrived, and older than a quarter RTT (reordering
        # allowance), is lost: resend it now rather than at its timeout. This also catches a
        # resend that was lost again (the RACK idea, RFC 8985).
        allowance = (self._srtt or 0.0) / 4
        hole = False
        for seq, entry in self._pending.items():
            if ((entry.sent_at, seq) < latest and now - entry.sent_at >= allowance
                    and not entry.lost):
                entry.lost = hole = True
        if hole:
            self._lost_at = now
        return hole

    def _sample(self, rtt: float) -> None:
        self._min_rtt = min(self._min_rtt, rtt)
        if self._srtt is None:
            self._srtt, self._rttvar = rtt, rtt / 2
        else:
            self._rttvar = 0.75 * self._rttvar + 0.25 * abs(self._srtt - rtt)
            self._srtt = 0.875 * self._srtt + 0.125 * rtt
        self._rto = min(self._rto_max, max(self._rto_min, self._srtt + 4 * self._rttvar))

    def next_deadline(self) -> float | None:
        """When `due` has something to resend: at once for datagrams found lost, else when
        the retransmission timer runs out."""
        times = [t for t in (self._timer, self._lost_at) if t is not None]
        return min(times, default=None)

    def due(self, now: float) -> list[tuple[int, T]]:
        """The payloads to send again at `now`, oldest first: those found lost, and, if the
        timer ran out, the oldest unacknowledged one (RFC 6298 5.4-5.6: the timeout doubles
        until a new RTT sample, and the timer restarts)."""
        out = [seq for seq, entry in self._pending.items() if entry.lost]
        self._lost_at = None
        if self._timer is not None and self._timer <= now:
            oldest = min(self._pending)
            if oldest not in out:
                out.insert(0, oldest)
            self._rto = min(self._rto_max, 2 * self._rto)
            self._timer = now + self._rto
        for seq in out:
            entry = self._pending[seq]
            entry.tries += 1
            entry.sent_at = now
            entry.lost = False
            self._resent += 1
        return [(seq, self._pending[seq].payload) for seq in sorted(out)]


class ArqReceiver(Generic[T]):
    """Delivers payloads in seq order from 0; holds at most `window` that arrived early."""

    def __init__(self, *, window: int = 256) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.window = window
        self._next = 0
        self._held: dict[int, T] = {}
        self._delivered = self._duplicates = self._beyond = 0

    @property
    def stats(self) -> ReceiverStats:
        return ReceiverStats(self._delivered, self._duplicates, self._beyond)

    @property
    def next(self) -> int:
        """The next seq to deliver: everything below it was handed on."""
        return self._next

    def receive(self, seq: int, payload: T) -> list[T]:
        """Take one datagram; return the payloads now deliverable, in order."""
        if seq < self._next or seq in self._held:
            self._duplicates += 1
            return []
        if seq > self._next + self.window:
            self._beyond += 1
            return []
        if seq != self._next:
            self._held[seq] = payload
            return []
        out = [payload]
        self._next += 1
        while self._next in self._held:
            out.append(self._held.pop(self._next))
            self._next += 1
        self._delivered += len(out)
        return out

    def ack(self) -> tuple[int, int]:
        """(next seq expected, bitmap of the `ACK_BITS` seqs after it that are held)."""
        bitmap = 0
        for seq in self._held:
            offset = seq - self._next - 1
            if 0 <= offset < ACK_BITS:
                bitmap |= 1 << offset
        return self._next, bitmap
