"""The alert gateway, sans-IO: verified alerts and the time in, signed bitchat packets out.

`AlertGateway` does no I/O and reads no clock. The driver (the BLE side, a test) feeds it
the node's outputs (`observe`: only `AlertReceived` and `AlertRemoved` matter, so only alerts
whose whole chain verified can ever be rendered; an alert the node knows not to cover the
hub's own location is left out, and only public, actual or exercise alerts are taken) and
calls `step(now)`, which returns the packets to broadcast now and when to call again.

Schedule, per alert in force: its messages (`render.alert_texts`) go out when it arrives,
again after `first_repeat` seconds, then at doubling intervals up to `max_repeat`, until it
expires or an Update/Cancel or revocation removes it. An Update or Cancel is itself rendered
and repeated like an alert, so phones learn the old text no longer holds. Announces go out
every `announce_every` seconds (bitchat peers forget a silent peer after about 3 minutes).

Rate limits: every bitchat phone runs, per sender, a token bucket of 5 refilled at 1/s, and
per (normalised) text one of 3 refilled at 0.5/s, and silently drops public messages beyond
them. The gateway keeps the same buckets for itself (`ratelimit.PublicLimits`) and sends a
message only when both would admit it, so the phones drop nothing we send; what waits is
queued in order.

Clock: bitchat drops public messages older than 6 hours and announces older than 10-15
minutes, so timestamps matter. The caller passes `clock_floor`, the latest time known to
have passed (durable across restarts); when `now` is below it the clock went backwards, the
floor is used for timestamps, and `warnings` says so. Without a floor the gateway warns once
that it cannot tell a wrong clock.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from meshnode.alerts.model import MsgType, Scope, Status
from meshnode.crypto.authority import VerifiedAlert
from meshnode.events import AlertReceived, AlertRemoved, Output
from meshnode.transport.bitchat.codec import Packet
from meshnode.transport.bitchat.identity import BitchatIdentity
from meshnode.transport.bitchat.ratelimit import PublicLimits
from meshnode.transport.bitchat.render import MAX_TEXT_BYTES, alert_texts, split_text

__all__ = ["AlertGateway", "GatewayConfig", "Step"]

MAX_QUEUE = 2_000  # messages; far above any real set of alerts in force
MAX_ALERTS = 64
BROADCAST_STATUS = frozenset({Status.ACTUAL, Status.EXERCISE})
BROADCAST_TYPES = frozenset({MsgType.ALERT, MsgType.UPDATE, MsgType.CANCEL})


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    first_repeat: float = 60.0
    max_repeat: float = 1_800.0
    announce_every: float = 15.0
    announce_jitter: float = 4.0
    ttl: int = 7


@dataclass(slots=True)
class _InForce:
    verified: VerifiedAlert
    texts: list[str]
    next_round: float
    interval: float


@dataclass(frozen=True, slots=True)
class Step:
    packets: list[Packet]
    wake_at: float
    warnings: list[str] = field(default_factory=list)


class AlertGateway:
    """Alerts in force -> signed public messages and announces, within bitchat's limits."""

    def __init__(self, identity: BitchatIdentity, config: GatewayConfig | None = None, *,
                 rng: random.Random | None = None) -> None:
        self.identity = identity
        self.config = config or GatewayConfig()
        self._rng = rng or random.Random()
        self._alerts: dict[bytes, _InForce] = {}
        self._queue: deque[str] = deque()
        self._limits = PublicLimits()
        self._me = identity.peer_id.hex()
        self._next_announce: float | None = None
        self._last_ms = 0
        self._warned_no_floor = False
        self.sent_messages = 0

    # --- input ---------------------------------------------------------------------------------

    def observe(self, outputs: Iterable[Output], now: float) -> None:
        """Take what the node reported: verified alerts arrive, removed ones stop."""
        for out in outputs:
            if isinstance(out, AlertReceived) and out.covers_here is not False:
                self.add(out.verified, now)
            elif isinstance(out, AlertRemoved):
                self.remove(out.msg_id)

    def add(self, verified: VerifiedAlert, now: float) -> bool:
        """An alert (or Update/Cancel) whose whole chain verified: broadcast it from `now`.

        Only what is meant for the public goes to a public chat: scope Public, status Actual
        or Exercise (marked as such), message type Alert, Update or Cancel. False if not taken.
        """
        a = verified.alert
        if (verified.msg_id in self._alerts or verified.expires <= now
                or a.scope is not Scope.PUBLIC or a.status not in BROADCAST_STATUS
                or a.msg_type not in BROADCAST_TYPES):
            return False
        if len(self._alerts) >= MAX_ALERTS:
            soonest = min(self._alerts.values(), key=lambda a: a.verified.expires)
            del self._alerts[soonest.verified.msg_id]
        self._alerts[verified.msg_id] = _InForce(verified, alert_texts(verified), now,
                                                 self.config.first_repeat)
        return True

    def remove(self, msg_id: bytes) -> None:
        """Stop repeating an alert (superseded or revoked); queued parts of it still go."""
        self._alerts.pop(msg_id, None)

    def announce_soon(self) -> None:
        """Announce at the next step, ahead of any message (a phone just connected and
        needs our key before it can verify what follows)."""
        self._next_announce = None

    def say(self, text: str) -> int:
        """Queue `text` (e.g. a bridged meshnode post) as public messages of <= MAX_TEXT_BYTES,
        behind what is queued and within the same rate limits; the number queued."""
        pieces = split_text(" ".join(text.split()), MAX_TEXT_BYTES)[:MAX_QUEUE - len(self._queue)]
        self._queue.extend(pieces)
        return len(pieces)

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def in_force(self) -> list[bytes]:
        return list(self._alerts)

    # --- output --------------------------------------------------------------------------------

    def step(self, now: float, *, clock_floor: float | None = None) -> Step:
        """The packets to send at `now`, and when to call again at the latest."""
        warnings: list[str] = []
        stamp = now
        if clock_floor is None:
            if not self._warned_no_floor:
                warnings.append("no clock floor: bitchat phones drop messages if this clock "
                                "is more than 6 hours behind, and nothing here can tell")
                self._warned_no_floor = True
        elif now < clock_floor:
            warnings.append(f"clock is {clock_floor - now:.0f} s behind its floor: "
                            "timestamping bitchat packets with the floor")
            stamp = clock_floor
        packets: list[Packet] = []
        if self._next_announce is None or now >= self._next_announce:
            packets.append(self.identity.announce(self._stamp(stamp), ttl=self.config.ttl))
            self._next_announce = now + self.config.announce_every + \
                self._rng.uniform(0.0, self.config.announce_jitter)
        self._expire(now)
        self._start_rounds(now)
        packets += self._drain(now, stamp)
        return Step(packets, self._wake_at(now), warnings)

    def _stamp(self, stamp: float) -> int:
        """Milliseconds, strictly increasing: two packets never share a timestamp."""
        self._last_ms = max(int(stamp * 1000), self._last_ms + 1)
        return self._last_ms

    def _expire(self, now: float) -> None:
        for msg_id in [k for k, a in self._alerts.items() if a.verified.expires <= now]:
            del self._alerts[msg_id]

    def _start_rounds(self, now: float) -> None:
        for entry in self._alerts.values():
            if now >= entry.next_round:
                room = MAX_QUEUE - len(self._queue)
                self._queue.extend(entry.texts[:room])
                entry.next_round = now + entry.interval
                entry.interval = min(entry.interval * 2, self.config.max_repeat)

    def _drain(self, now: float, stamp: float) -> list[Packet]:
        packets: list[Packet] = []
        while self._queue:
            text = self._queue[0]
            if self._limits.ready_at(self._me, text, now) > now:
                break
            self._limits.take(self._me, text, now)
            self._queue.popleft()
            packets.append(self.identity.public_message(text, self._stamp(stamp),
                                                        ttl=self.config.ttl))
            self.sent_messages += 1
        return packets

    def _wake_at(self, now: float) -> float:
        times = [self._next_announce if self._next_announce is not None else now]
        times += [a.next_round for a in self._alerts.values()]
        times += [a.verified.expires for a in self._alerts.values()]
        if self._queue:
            times.append(self._limits.ready_at(self._me, self._queue[0], now))
        return min(times)
