"""Urgent dissemination: how a device's radio behaves while it holds a fresh alert.

An alert is worth most in its first half hour, and what slows it then is the radio, not the
routing: a phone in Android's screen-off low-power scan (512 ms every 10.24 s, 5 % duty) hears
a passer-by's advert only after about 5 s on average, and many street contacts last less.
So a device that has just received an alert scans and advertises faster for a while
(`UrgentRadio`), spending a little battery to pass it on to people it only brushes past.
Hubs on mains power scan continuously anyway (`BleConfig`'s default window = interval).

This is the core's one statement of that rule: the simulator's link model applies it
(`sim.linkmodel`), and a phone app or the daemon's BLE transport switches its scan and
advertising settings to `scan_window`/`scan_interval`/`adv_interval` from the alert's arrival
until `urgent_until(...)`. Nothing on the wire changes.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["URGENT_RADIO", "UrgentRadio"]


@dataclass(frozen=True, slots=True)
class UrgentRadio:
    """Radio settings while a fresh alert is held, and for how long.

    The defaults are Android's foreground "balanced" scan (183 ms every 730 ms, 25 % duty;
    AOSP `ScanManager`) and the low-latency advertising mode (about 100 ms, Android
    `AdvertiseSettings.ADVERTISE_MODE_LOW_LATENCY`), for 30 minutes after the alert arrived,
    and only for an alert received within `fresh_for` of its issue (an old alert found late
    is no reason to drain a phone).
    """

    duration: float = 1_800.0  # seconds of urgent radio after a fresh alert arrives
    fresh_for: float = 3_600.0  # an alert older than this (since issue) does not trigger it
    scan_window: float = 0.183
    scan_interval: float = 0.730
    adv_interval: float = 0.100

    def __post_init__(self) -> None:
        if self.duration < 0 or self.fresh_for < 0:
            raise ValueError("duration and fresh_for must be >= 0")
        if not 0 < self.scan_window <= self.scan_interval:
            raise ValueError("need 0 < scan_window <= scan_interval")
        if self.adv_interval <= 0:
            raise ValueError("adv_interval must be > 0")

    def urgent_until(self, issued: float, received: float) -> float:
        """Until when a device that received, at `received`, an alert issued at `issued`
        keeps the urgent settings (`received` itself when the alert is not fresh)."""
        if received - issued > self.fresh_for:
            return received
        return received + self.duration


URGENT_RADIO = UrgentRadio()
