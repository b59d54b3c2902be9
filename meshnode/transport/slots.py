"""The connection slot rule: when a device's slots are full, who gets in (sans-IO).

A BLE device can hold only a few links at once (a Linux adapter 3–5, an Android phone 7), and
links stay up for the whole contact. A device standing in a group fills its slots with the
people around it; once those links have synced they carry nothing, yet a passer-by who holds
a fresh alert finds the device neither advertising nor scanning. This module is the one
statement of what a full device does instead, used by the BLE transport
(`meshnode.transport.ble_central`, `ble_peripheral`) and by the simulator (`sim.driver`)
alike.

A device has `SlotLimits`: links it may open as central, links it may accept as peripheral,
and links in all (a hub: 3, 2 and 5; a phone: 7, 7 and 7). Each open link is `Held` in one
role, with the time since when it has had nothing to carry either way (`Node.idle_since`:
its sync session finished, nothing queued, no burst out), or None while it is carrying.
A link is *evictable* once it has idled for `SlotRule.idle_for` seconds (`urgent_idle_for`
while the device holds a fresh alert, `meshnode.alerts.urgency`: it has something every
newcomer lacks), and only a link whose release frees what the newcomer needs: a slot of the
newcomer's role if that role is full, else any slot.

`SlotRule.admit(limits, held, role, now, urgent)`, the decision table (first row that
applies):

| a slot of `role` free (and one in all) | an evictable link that frees one | `Admit` |
|---|---|---|
| yes | (not looked at) | `verdict=FREE`, `close=None` |
| no | yes | `verdict=EVICT`, `close=` the longest-idle such link |
| no | no | `verdict=FULL`, `close=None` |

The caller closes `close` (if any) and then takes the newcomer: the slot changes hands at
once. `SlotRule.open_to(...)` is `admit(...).verdict is not FULL`: whether the device keeps
advertising (role `PERIPHERAL`) or scanning (role `CENTRAL`), so that a full device whose
links all carry something is neither discovered nor discovering, as before, and a full device
with an evictable link can still hear a newcomer. `SlotRule.next_chance(...)` is when a
device that is full now will have an evictable link if nothing else happens (the earliest
idle link's `idle_since + idle_for`), for a caller that must look again then.

Who counts as a newcomer is the caller's: the transport's `revisit_after` keeps a peer it
synced with in the last five minutes from being connected again (so a closed peer does not
come straight back and evict in turn), and the simulator models the same. Nothing on the
wire changes: a peer sees an ordinary disconnect.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

__all__ = ["IDLE_FOR", "URGENT_IDLE_FOR", "Admit", "Held", "Role", "SlotLimits", "SlotRule",
           "Verdict"]

IDLE_FOR = 10.0  # s a synced link idles before a full device gives it up for a newcomer
URGENT_IDLE_FOR = 0.0  # ... while the device holds a fresh alert: at once once synced


class Role(Enum):
    CENTRAL = "central"  # we opened the link
    PERIPHERAL = "peripheral"  # the peer connected to us


class Verdict(Enum):
    FREE = "free"  # a slot is free: take the newcomer
    EVICT = "evict"  # close `Admit.close` first, then take the newcomer
    FULL = "full"  # refuse the newcomer


@dataclass(frozen=True, slots=True)
class SlotLimits:
    """How many links a device holds at most: as central, as peripheral, in all."""

    central: int
    peripheral: int
    total: int

    def __post_init__(self) -> None:
        if min(self.central, self.peripheral, self.total) < 0:
            raise ValueError("slot limits must be >= 0")

    @classmethod
    def split(cls, central: int, peripheral: int) -> SlotLimits:
        """A Linux device (the BLE transport, a hub): separate limits per role."""
        return cls(central, peripheral, central + peripheral)

    @classmethod
    def shared(cls, connections: int) -> SlotLimits:
        """A phone: `connections` links in either role."""
        return cls(connections, connections, connections)

    def of(self, role: Role) -> int:
        return self.central if role is Role.CENTRAL else self.peripheral


@dataclass(frozen=True, slots=True)
class Held:
    """One open link as the rule sees it: `idle_since` None while it carries something."""

    link: Hashable
    role: Role
    idle_since: float | None


@dataclass(frozen=True, slots=True)
class Admit:
    """The rule's answer for a newcomer: see the module's decision table."""

    verdict: Verdict
    close: Hashable | None = None


def _free(limits: SlotLimits, held: Sequence[Held], role: Role) -> tuple[bool, bool]:
    """(a slot of `role` free, a slot free in all)."""
    in_role = sum(h.role is role for h in held)
    return in_role < limits.of(role), len(held) < limits.total


@dataclass(frozen=True, slots=True)
class SlotRule:
    """The slot rule's two settings (see the module docstring); `enabled` False is the rule
    switched off: a full device refuses every newcomer and stops advertising and scanning."""

    idle_for: float = IDLE_FOR
    urgent_idle_for: float = URGENT_IDLE_FOR
    enabled: bool = True

    def __post_init__(self) -> None:
        if not (self.idle_for >= 0 and self.urgent_idle_for >= 0):
            raise ValueError("idle_for and urgent_idle_for must be >= 0")

    def wait(self, urgent: bool) -> float:
        """Seconds a synced link idles before it may be given up."""
        return self.urgent_idle_for if urgent else self.idle_for

    def _candidates(self, limits: SlotLimits, held: Sequence[Held], role: Role
                    ) -> Iterable[Held]:
        """The links whose release would make room for a newcomer in `role` (idle or not)."""
        role_free, _ = _free(limits, held, role)
        return (h for h in held
                if h.idle_since is not None and (role_free or h.role is role))

    def admit(self, limits: SlotLimits, held: Sequence[Held], role: Role, now: float,
              urgent: bool) -> Admit:
        """What a device holding `held` does with a newcomer that would take `role`."""
        role_free, total_free = _free(limits, held, role)
        if role_free and total_free:
            return Admit(Verdict.FREE)
        if not self.enabled:
            return Admit(Verdict.FULL)
        wait = self.wait(urgent)
        ready = [h for h in self._candidates(limits, held, role)
                 if h.idle_since is not None and now - h.idle_since >= wait]
        if not ready:
            return Admit(Verdict.FULL)
        # Longest idle first; on a tie, the order the caller listed them (deterministic).
        victim = min(ready, key=lambda h: h.idle_since if h.idle_since is not None else now)
        return Admit(Verdict.EVICT, victim.link)

    def open_to(self, limits: SlotLimits, held: Sequence[Held], role: Role, now: float,
                urgent: bool) -> bool:
        """Whether the device would take a newcomer in `role` now, so advertises (peripheral)
        or scans (central)."""
        return self.admit(limits, held, role, now, urgent).verdict is not Verdict.FULL

    def next_chance(self, limits: SlotLimits, held: Sequence[Held], role: Role,
                    urgent: bool) -> float | None:
        """When a link of `held` that idles on becomes evictable for `role` (None: none is
        idle, or the rule is off). Earlier than `now` means it already is."""
        if not self.enabled:
            return None
        times = [h.idle_since for h in self._candidates(limits, held, role)
                 if h.idle_since is not None]
        return min(times) + self.wait(urgent) if times else None
