"""The BLE link and battery model: parameters (plain records) and pure functions over them.

Defaults follow DESIGN.md §9; every number's source or assumption is in its `doc` and in
docs/simulator.md. Samplers take a `numpy.random.Generator` and draw `size` values at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sim.config import ScenarioError, check, param

__all__ = [
    "ADV_DELAY_MAX",
    "ATT_HEADER",
    "BatteryParams",
    "LinkParams",
    "admit",
    "best_case_delay",
    "discovery_delay",
    "drain",
    "duty_cycle",
    "energy_used",
    "fragments",
    "frame_lost",
    "initial_charge",
    "lifetime",
    "one_way_discovery_delay",
    "power_draw",
    "setup_time",
    "transfer_time",
]

ADV_DELAY_MAX = 0.010  # s; random advDelay added to each advertising event (Core 6.B.4.4.2.2.1)
ATT_HEADER = 3  # bytes of an ATT write/notification header inside the ATT MTU
_MAX_ADVERTS = 100_000  # safety stop for the discovery sampler (never reached with sane params)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LinkParams:
    """BLE radio and link parameters ([ble] in a scenario)."""

    range: float = param(20.0, "phone-to-phone range; urban 10–30 m, open ~100 m (DESIGN §9)",
                         unit="m", gt=0)
    indoor_range: float = param(
        8.0, "range between two phones that are both indoors in different buildings (two "
        "exterior walls, ~10–20 dB extra loss); set equal to range to ignore walls; assumption",
        unit="m", gt=0)
    adv_interval: float = param(
        0.25, "advertising interval; Android ADVERTISE_MODE_BALANCED is ~250 ms "
        "(LOW_POWER ~1 s, LOW_LATENCY ~100 ms); plus 0–10 ms random advDelay", unit="s", gt=0)
    scan_interval: float = param(
        10.24, "scan interval; AOSP ScanManager screen-off low power: 512 ms every 10,240 ms "
        "(5 % duty)", unit="s", gt=0)
    scan_window: float = param(0.512, "scan window within each scan interval", unit="s", gt=0)
    advert_loss: float = param(
        0.1, "chance that an advert sent inside a scan window is still missed (collisions, "
        "channel hopping, interference); assumption", ge=0, lt=1)
    setup_min: float = param(1.0, "connection setup time, lower bound (DESIGN §9: 1–10 s on "
                             "BlueZ incl. service resolution); drawn uniformly", unit="s", ge=0)
    setup_max: float = param(10.0, "connection setup time, upper bound", unit="s", ge=0)
    throughput: float = param(
        20_000.0, "GATT goodput per link; plan 10–50 kB/s, spec max ~175 kB/s on 2M PHY "
        "(DESIGN §9)", unit="B/s", gt=0)
    att_mtu: int = param(185, "negotiated ATT MTU; default 23, iOS 185, BlueZ 247, Android 14+ "
                         "517 (DESIGN §9)", unit="B", ge=23, le=517)
    fragment_overhead: int = param(4, "framing header bytes per fragment (length prefix); "
                                   "assumption", unit="B", ge=0)
    frame_loss: float = param(0.01, "chance that a frame is lost whole (link layer retransmits "
                              "PDUs, so this models app-level drops); assumption", ge=0, lt=1)
    phone_connections: int = param(7, "simultaneous connections per phone (Android default, "
                                   "DESIGN §9)", ge=1)
    hub_connections: int = param(5, "simultaneous connections per hub (Linux adapters 3–5, "
                                 "DESIGN §9)", ge=1)

    def __post_init__(self) -> None:
        check(self)
        if self.indoor_range > self.range:
            raise ScenarioError("indoor_range", "must be <= range")
        if self.scan_window > self.scan_interval:
            raise ScenarioError("scan_window", "must be <= scan_interval")
        if self.setup_min > self.setup_max:
            raise ScenarioError("setup_min", "must be <= setup_max")
        if self.att_mtu - ATT_HEADER <= self.fragment_overhead:
            raise ScenarioError("fragment_overhead", "leaves no payload in an ATT MTU")


@dataclass(frozen=True, slots=True)
class BatteryParams:
    """Phone battery and power draw ([battery] in a scenario). Hubs run on mains."""

    capacity: float = param(15.0, "phone battery capacity (~4,000 mAh at 3.85 V)", unit="Wh",
                            gt=0)
    initial: tuple[float, float] = param(
        (0.2, 1.0), "charge at the start of the outage, uniform between these fractions "
        "(people are at random points of their daily charge cycle); assumption",
        ge=0, le=1, length=2, ordered=True)
    idle: float = param(0.15, "base drain: standby with the cellular modem searching for a "
                        "network plus light screen use (a full battery lasts ~4 days); "
                        "assumption", unit="W", ge=0)
    scan: float = param(0.04, "extra drain of BLE scanning at 100 % duty, scaled by the duty "
                        "cycle (radio RX ~5–10 mA at 3.8 V plus host wake-ups); assumption",
                        unit="W", ge=0)
    advert: float = param(1e-4, "energy per advertising event (3 channels, with wake-up); "
                          "assumption", unit="J", ge=0)
    connection: float = param(0.01, "extra drain per open connection (connection events, host "
                              "work); assumption", unit="W", ge=0)
    per_byte: float = param(2e-6, "energy per byte sent or received, radio plus host crypto and "
                            "storage; assumption", unit="J/B", ge=0)
    hub_mains: bool = param(True, "hubs are on mains or generator power and never die")

    def __post_init__(self) -> None:
        check(self)


def duty_cycle(link: LinkParams) -> float:
    """Share of time the radio scans (window / interval)."""
    return link.scan_window / link.scan_interval


def one_way_discovery_delay(rng: np.random.Generator, link: LinkParams,
                            size: int) -> FloatArray:
    """Seconds until a scanner first receives an advert of a device that just came in range.

    Both phases are uniform at random; advertising events repeat every `adv_interval` plus
    0–10 ms advDelay; an event is received if it starts inside a scan window and is not lost.
    """
    scan_phase = rng.uniform(0.0, link.scan_interval, size)
    advert = rng.uniform(0.0, link.adv_interval, size)  # first advert after coming in range
    result = np.full(size, math.inf)
    pending = np.arange(size)
    for _ in range(_MAX_ADVERTS):
        if pending.size == 0:
            break
        t = advert[pending]
        in_window = np.mod(t + scan_phase[pending], link.scan_interval) < link.scan_window
        heard = in_window & (rng.random(pending.size) >= link.advert_loss)
        result[pending[heard]] = t[heard]
        pending = pending[~heard]
        advert[pending] += link.adv_interval + rng.uniform(0.0, ADV_DELAY_MAX, pending.size)
    return result


def discovery_delay(rng: np.random.Generator, link: LinkParams, size: int) -> FloatArray:
    """Seconds until either of two devices that just came in range hears the other.

    Both scan and advertise, so the first of two independent one-way discoveries counts.
    """
    return np.minimum(one_way_discovery_delay(rng, link, size),
                      one_way_discovery_delay(rng, link, size))


def setup_time(rng: np.random.Generator, link: LinkParams, size: int) -> FloatArray:
    """Connection setup times (connect, MTU exchange, service resolution), uniform."""
    return rng.uniform(link.setup_min, link.setup_max, size)


def fragments(nbytes: int, link: LinkParams) -> int:
    """Number of ATT writes needed for a frame of `nbytes` (at least one)."""
    if nbytes < 0:
        raise ValueError("nbytes must be >= 0")
    payload = link.att_mtu - ATT_HEADER - link.fragment_overhead
    return max(1, -(-nbytes // payload))


def transfer_time(nbytes: int, link: LinkParams) -> float:
    """Seconds to carry one frame of `nbytes` over an open link, framing included, no loss."""
    on_air = nbytes + fragments(nbytes, link) * link.fragment_overhead
    return on_air / link.throughput


def best_case_delay(nbytes: int, link: LinkParams) -> float:
    """Fastest one hop can pass a message of `nbytes`: instant discovery, quickest setup.

    Use as the per-contact delay of the oracle bound, so no routing can beat it.
    """
    return link.setup_min + transfer_time(nbytes, link)


def frame_lost(rng: np.random.Generator, link: LinkParams, size: int) -> NDArray[np.bool_]:
    """Which of `size` frames are lost whole."""
    return rng.random(size) < link.frame_loss


def admit(pairs: NDArray[np.int64], free: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Greedily admit candidate links in the given order while both ends have a free slot.

    `pairs` is (k, 2) node indices, `free` the free slots per node (not modified). Returns
    the admitted mask; the caller takes one slot at both ends of every admitted pair.
    """
    admitted = np.zeros(len(pairs), dtype=np.bool_)
    slots = free.tolist()
    for k, (a, b) in enumerate(pairs.tolist()):
        if slots[a] > 0 and slots[b] > 0:
            slots[a] -= 1
            slots[b] -= 1
            admitted[k] = True
    return admitted


def power_draw(battery: BatteryParams, link: LinkParams,
               connections: NDArray[np.int64] | int = 0) -> FloatArray:
    """Average power (W) of a phone scanning and advertising with `connections` open links."""
    base = (battery.idle + battery.scan * duty_cycle(link)
            + battery.advert / link.adv_interval)
    return np.asarray(base + battery.connection * np.asarray(connections, dtype=np.float64),
                      dtype=np.float64)


def energy_used(battery: BatteryParams, link: LinkParams, duration: float,
                connections: NDArray[np.int64] | int = 0,
                nbytes: NDArray[np.int64] | int = 0) -> FloatArray:
    """Energy (Wh) used over `duration` seconds with that many links open and bytes moved."""
    joules = (power_draw(battery, link, connections) * duration
              + battery.per_byte * np.asarray(nbytes, dtype=np.float64))
    return np.asarray(joules / 3600.0, dtype=np.float64)


def initial_charge(rng: np.random.Generator, battery: BatteryParams, size: int) -> FloatArray:
    """Charge (Wh) of `size` phones when the outage starts."""
    low, high = battery.initial
    return battery.capacity * rng.uniform(low, high, size)


def drain(charge: FloatArray, used: FloatArray) -> FloatArray:
    """Charge left after using `used` Wh, floored at zero (a phone at zero is dead)."""
    return np.maximum(charge - used, 0.0)


def lifetime(charge: FloatArray | float, battery: BatteryParams, link: LinkParams,
             connections: float = 0.0) -> FloatArray:
    """Seconds until a phone with `charge` Wh is empty at a steady average load."""
    watts = float(power_draw(battery, link, 0)[()]) + battery.connection * connections
    if watts == 0:
        return np.full(np.shape(charge), math.inf)
    return np.asarray(np.asarray(charge, dtype=np.float64) * 3600.0 / watts, dtype=np.float64)
