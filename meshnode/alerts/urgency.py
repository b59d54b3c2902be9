"""Urgent dissemination: how a device's radio behaves while it holds a fresh alert.

An alert is worth most in its first half hour, and what slows it then is the radio, not the
routing: a phone in Android's screen-off low-power scan (512 ms every 10.24 s, 5 % duty) hears
a passer-by's advert only after about 5 s on average, and many street contacts last less.
So a device that has just received an alert scans and advertises faster for a while
(`UrgentRadio`), spending a little battery to pass it on to people it only brushes past.
Hubs on mains power scan continuously anyway (`BleConfig`'s default window = interval).
Nor does an urgent device yield: of two devices that hear each other the one with the lower
advert token connects at once and the other waits its `yield_time` (10 s by default, so that
one link forms, not two); an urgent device connects at once whatever the tokens, since many
street contacts are over before 10 s have passed. The transport opens no second link to a
peer already linked to it, and of two links that form at once its duplicate rule keeps one
(docs/hardware.md, "Two links with one peer").

This is the core's one statement of that rule, in three parts that the simulator
(`sim.driver`, `sim.linkmodel`) and the daemon (`meshnode.daemon.radio`, which drives the BLE
transport) both call: `urgent_until` (how long one alert keeps a device urgent), `hold` (an
alert arriving while already urgent extends the period, never shortens it) and `settings`
(what a device's radio does while urgent: each of scanning, advertising and connecting at least
as fast as `radio`, so a hub already scanning continuously keeps doing so). Nothing on the
wire changes.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["URGENT_RADIO", "RadioSettings", "UrgentRadio"]


@dataclass(frozen=True, slots=True)
class RadioSettings:
    """A device's scan and advertising duty cycle, and how soon it connects: it scans
    `scan_window` seconds in every `scan_interval`, advertises every `adv_interval` seconds
    (`math.inf`: the radio's own default, which the device does not set), and connects to a
    peer with a lower advert token only `yield_time` seconds after first hearing it (0: at
    once; the peer with the lower token is left that long to connect first)."""

    scan_window: float
    scan_interval: float
    adv_interval: float
    yield_time: float

    def __post_init__(self) -> None:
        if not 0 < self.scan_window <= self.scan_interval:
            raise ValueError("need 0 < scan_window <= scan_interval")
        if not self.adv_interval > 0:
            raise ValueError("adv_interval must be > 0")
        if not self.yield_time >= 0:
            raise ValueError("yield_time must be >= 0")

    @property
    def duty_cycle(self) -> float:
        """Share of the time spent scanning."""
        return self.scan_window / self.scan_interval


@dataclass(frozen=True, slots=True)
class UrgentRadio:
    """Radio settings while a fresh alert is held, and for how long.

    The defaults are Android's foreground "balanced" scan (183 ms every 730 ms, 25 % duty;
    AOSP `ScanManager`) and the low-latency advertising mode (about 100 ms, Android
    `AdvertiseSettings.ADVERTISE_MODE_LOW_LATENCY`), connecting without yielding
    (`yield_time` 0), for 30 minutes after the alert arrived, and only for an alert received
    within `fresh_for` of its issue (an old alert found late is no reason to drain a phone).
    """

    duration: float = 1_800.0  # seconds of urgent radio after a fresh alert arrives
    fresh_for: float = 3_600.0  # an alert older than this (since issue) does not trigger it
    scan_window: float = 0.183
    scan_interval: float = 0.730
    adv_interval: float = 0.100
    yield_time: float = 0.0  # an urgent device connects at once, whoever has the lower token

    def __post_init__(self) -> None:
        if self.duration < 0 or self.fresh_for < 0:
            raise ValueError("duration and fresh_for must be >= 0")
        _ = self.radio  # building the settings checks them (RadioSettings raises ValueError)

    def urgent_until(self, issued: float, received: float) -> float:
        """Until when a device that received, at `received`, an alert issued at `issued`
        keeps the urgent settings (`received` itself when the alert is not fresh)."""
        if received - issued > self.fresh_for:
            return received
        return received + self.duration

    def hold(self, until: float, issued: float, received: float) -> float:
        """The end of the urgent period of a device that was urgent until `until` (`-inf`
        if never) once it received, at `received`, an alert issued at `issued`: extended by a
        fresh alert, never shortened; a stale one leaves it as it was."""
        fresh = self.urgent_until(issued, received)
        return max(until, fresh) if fresh > received else until

    @property
    def radio(self) -> RadioSettings:
        """The urgent scan, advertising and connecting settings."""
        return RadioSettings(self.scan_window, self.scan_interval, self.adv_interval,
                             self.yield_time)

    def settings(self, normal: RadioSettings, urgent: bool) -> RadioSettings:
        """What a device whose own settings are `normal` does now: `normal` unless `urgent`;
        while urgent, the scan of the two with the higher duty cycle (on a tie, the shorter
        interval), the shorter advertising interval and the shorter yield time. Urgency never
        slows a device down."""
        if not urgent:
            return normal
        fast = self.radio
        scan = min((normal, fast), key=lambda r: (-r.duty_cycle, r.scan_interval))
        return RadioSettings(scan.scan_window, scan.scan_interval,
                             min(normal.adv_interval, fast.adv_interval),
                             min(normal.yield_time, fast.yield_time))


URGENT_RADIO = UrgentRadio()
