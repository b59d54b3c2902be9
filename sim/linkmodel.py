"""The BLE link and battery model: parameters (plain records) and pure functions over them.

Defaults follow docs/design.md §4 and, wherever the BLE transport (`meshnode.transport.ble*`)
decides, the transport itself: its framing (`framing.wire_size` at `ble_profile.fragment_size`
of the ATT MTU), its connect timeout, back-off schedule (`ble_config.backoff_delay`), yield
time and connection slots (`BleConfig` defaults). Every number's source or assumption is in
its `doc` and in docs/simulator.md. Samplers take a `numpy.random.Generator` and draw `size`
values at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from meshnode.alerts.urgency import URGENT_RADIO, RadioSettings, UrgentRadio
from meshnode.transport.ble_config import BACKOFF_JITTER, BleConfig, backoff_delay
from meshnode.transport.ble_profile import DEFAULT_ATT_MTU, MAX_ATT_MTU, fragment_size
from meshnode.transport.framing import fragment_count, wire_size
from meshnode.transport.slots import Role, SlotLimits, SlotRule
from sim.config import ScenarioError, check, param

__all__ = [
    "ADV_DELAY_MAX",
    "FEW_PENDING",
    "MAX_ATTEMPTS",
    "BatteryParams",
    "LinkParams",
    "Radio",
    "Slots",
    "advert_tokens",
    "best_case_delay",
    "by_token",
    "connect_delay",
    "device_radio",
    "discovery",
    "discovery_delay",
    "drain",
    "duty_cycle",
    "energy_used",
    "fragments",
    "frame_lost",
    "initial_charge",
    "lifetime",
    "link_up_delay",
    "normal_radio",
    "on_air_bytes",
    "one_way_discovery_delay",
    "power_draw",
    "radio_of",
    "scan_wait",
    "setup_time",
    "transfer_time",
    "urgent_extra_power",
]

ADV_DELAY_MAX = 0.010  # s; random advDelay added to each advertising event (Core 6.B.4.4.2.2.1)
MAX_ATTEMPTS = 64  # connect attempts per discovery before the sampler gives up (delay = inf)
_MAX_ADVERTS = 100_000  # safety stop for the discovery sampler (never reached with sane params)
# Unheard devices below which the discovery sampler's rounds run in plain Python (measured:
# numpy's per-call cost makes it slower than a Python loop for fewer than ~100 elements).
FEW_PENDING = 65
_BLE = BleConfig()  # the transport's defaults (immutable)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LinkParams:
    """BLE radio and link parameters ([ble] in a scenario)."""

    range: float = param(20.0, "phone-to-phone range; urban 10–30 m, open ~100 m (design.md §4)",
                         unit="m", gt=0)
    indoor_range: float = param(
        8.0, "range between two phones that are both indoors in different buildings (two "
        "exterior walls, ~10–20 dB extra loss); set equal to range to ignore walls; assumption",
        unit="m", gt=0)
    adv_interval: float = param(
        _BLE.advert_interval_ms / 1000, "advertising interval; the transport asks BlueZ for "
        "transport.ble.advert_interval_ms; Android ADVERTISE_MODE_BALANCED is ~250 ms "
        "(LOW_POWER ~1 s, LOW_LATENCY ~100 ms); plus 0–10 ms random advDelay", unit="s", gt=0)
    scan_interval: float = param(
        10.24, "scan interval; AOSP ScanManager screen-off low power: 512 ms every 10,240 ms "
        "(5 % duty); phones only (hubs: hub_scan_interval)", unit="s", gt=0)
    scan_window: float = param(0.512, "scan window within each scan interval", unit="s", gt=0)
    hub_scan_interval: float = param(
        _BLE.scan_interval, "a hub's scan interval: the transport's own "
        "(transport.ble.scan_interval; a hub on mains scans continuously)", unit="s", gt=0)
    hub_scan_window: float = param(
        _BLE.scan_window, "a hub's scan window (transport.ble.scan_window; = interval: always "
        "on)", unit="s", gt=0)
    urgent_for: float = param(
        URGENT_RADIO.duration, "a device that receives (or issues) a fresh alert (issued at "
        "most urgent_fresh_for ago) scans and advertises at the urgent settings for this long, "
        "never slower than its own: a hub keeps its faster scan (meshnode.alerts.urgency; "
        "0 = never)", unit="s", ge=0)
    urgent_fresh_for: float = param(
        URGENT_RADIO.fresh_for, "an alert older than this since issue does not make a device "
        "urgent", unit="s", ge=0)
    urgent_scan_interval: float = param(
        URGENT_RADIO.scan_interval, "scan interval while urgent (Android balanced: 183 ms "
        "every 730 ms)", unit="s", gt=0)
    urgent_scan_window: float = param(URGENT_RADIO.scan_window, "scan window while urgent",
                                      unit="s", gt=0)
    urgent_adv_interval: float = param(
        URGENT_RADIO.adv_interval, "advertising interval while urgent (Android low latency, "
        "~100 ms)", unit="s", gt=0)
    urgent_yield_time: float = param(
        URGENT_RADIO.yield_time, "yield time while urgent: a device holding a fresh alert "
        "connects this soon after hearing a peer with a lower token (the core's rule: 0, at "
        "once; yield_time to switch it off)", unit="s", ge=0)
    urgent_rediscover: bool = param(
        True, "a device turning urgent rediscovers the peers in range it is not yet linked to "
        "at its new settings, as the transport does (`set_duty` ends a scan pause at once, "
        "`set_yield` makes a peer already heard eligible at once): each such pair connects at "
        "the sooner of its earlier draw and a fresh one from now; false keeps the earlier draw")
    advert_loss: float = param(
        0.1, "chance that an advert sent inside a scan window is still missed (collisions, "
        "channel hopping, interference); assumption", ge=0, lt=1)
    yield_time: float = param(
        _BLE.yield_time, "of two devices, the one with the higher advert token waits this long "
        "after hearing the other before it connects itself (transport.ble.yield_time)",
        unit="s", ge=0)
    setup_min: float = param(1.0, "connection setup time, lower bound (design.md §4: 1–10 s on "
                             "BlueZ incl. service resolution); drawn uniformly", unit="s", ge=0)
    setup_max: float = param(10.0, "connection setup time, upper bound", unit="s", ge=0)
    setup_stall: float = param(
        0.05, "chance that a connection attempt never completes (no connection event, service "
        "discovery hangs), so it runs into connect_timeout; assumption", ge=0, lt=1)
    connect_timeout: float = param(
        _BLE.connect_timeout, "a set-up taking longer fails and is retried after the back-off "
        "(transport.ble.connect_timeout)", unit="s", gt=0)
    backoff_initial: float = param(
        _BLE.backoff_initial, "back-off after the first failed connect to a peer, doubling per "
        "further failure, ±10 % jitter (transport.ble.backoff_initial)", unit="s", gt=0)
    backoff_max: float = param(_BLE.backoff_max, "longest back-off (transport.ble.backoff_max)",
                               unit="s", gt=0)
    throughput: float = param(
        20_000.0, "GATT goodput per link; plan 10–50 kB/s, spec max ~175 kB/s on 2M PHY "
        "(design.md §4)", unit="B/s", gt=0)
    att_mtu: int = param(185, "ATT MTU of a link; hubs offer 517 (BlueZ), so it is the phone's: "
                         "iOS 185, Android 14+ 517, 23 without an exchange (design.md §4); "
                         "fragments of att_mtu − 3 bytes in the transport's framing",
                         unit="B", ge=DEFAULT_ATT_MTU, le=MAX_ATT_MTU)
    frame_loss: float = param(0.01, "chance that a frame is lost whole (link layer retransmits "
                              "PDUs, so this models app-level drops); assumption", ge=0, lt=1)
    retransmit_after: float = param(
        0.3, "a lost frame is sent again this long after its loss, on the same link, until it "
        "arrives or the link goes down (the UDP link's first retransmission timeout, "
        "`transport.arq`; BLE's link layer resends within a connection event or two)",
        unit="s", ge=0)
    phone_connections: int = param(7, "simultaneous connections per phone, both roles together "
                                   "(Android default, design.md §4)", ge=1)
    hub_central_links: int = param(
        _BLE.max_central_links, "links a hub opens as central (transport.ble.max_central_links; "
        "Linux adapters manage 3–5 in all)", ge=0)
    hub_peripheral_links: int = param(
        _BLE.max_peripheral_links, "links a hub accepts as peripheral; a hub with all of them "
        "in use stops advertising (transport.ble.max_peripheral_links)", ge=0)
    slot_rule: bool = param(
        _BLE.slot_rule, "a device whose slots are full gives up its longest-idle synced link "
        "for a newcomer, and keeps advertising and scanning while it has one to give up "
        "(meshnode.transport.slots; transport.ble.slot_rule); false: a full device is neither "
        "discovered nor discovering")
    slot_idle_for: float = param(
        _BLE.slot_idle_for, "a synced link must have idled this long to be given up "
        "(transport.ble.slot_idle_for)", unit="s", ge=0)
    slot_urgent_idle_for: float = param(
        _BLE.slot_urgent_idle_for, "... while the device holds a fresh alert "
        "(transport.ble.slot_urgent_idle_for)", unit="s", ge=0)
    revisit_after: float = param(
        _BLE.revisit_after, "a link given up by the slot rule is not made again for this long "
        "(the transport's transport.ble.revisit_after: no reconnect to a peer synced with "
        "this recently)", unit="s", ge=0)

    def __post_init__(self) -> None:
        check(self)
        if self.indoor_range > self.range:
            raise ScenarioError("indoor_range", "must be <= range")
        if self.scan_window > self.scan_interval:
            raise ScenarioError("scan_window", "must be <= scan_interval")
        if self.hub_scan_window > self.hub_scan_interval:
            raise ScenarioError("hub_scan_window", "must be <= hub_scan_interval")
        if self.urgent_scan_window > self.urgent_scan_interval:
            raise ScenarioError("urgent_scan_window", "must be <= urgent_scan_interval")
        if self.setup_min > self.setup_max:
            raise ScenarioError("setup_min", "must be <= setup_max")
        if self.backoff_initial > self.backoff_max:
            raise ScenarioError("backoff_initial", "must be <= backoff_max")
        if self.hub_central_links + self.hub_peripheral_links < 1:
            raise ScenarioError("hub_central_links", "a hub needs at least one slot")

    def slots(self) -> SlotRule:
        """The transport's connection slot rule (`meshnode.transport.slots`) at these
        settings."""
        return SlotRule(self.slot_idle_for, self.slot_urgent_idle_for, self.slot_rule)

    def urgency(self) -> UrgentRadio:
        """The core's urgent-dissemination rule (`meshnode.alerts.urgency`) at these
        settings."""
        return UrgentRadio(duration=self.urgent_for, fresh_for=self.urgent_fresh_for,
                           scan_window=self.urgent_scan_window,
                           scan_interval=self.urgent_scan_interval,
                           adv_interval=self.urgent_adv_interval,
                           yield_time=self.urgent_yield_time)


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
    """Share of time a phone's radio scans (window / interval)."""
    return link.scan_window / link.scan_interval


@dataclass(frozen=True, slots=True)
class Radio:
    """Scan, advertising and yield settings of a batch of devices, one entry each (seconds;
    `RadioSettings` per device)."""

    scan_interval: FloatArray
    scan_window: FloatArray
    adv_interval: FloatArray
    yield_time: FloatArray

    def __getitem__(self, index: NDArray[np.int64]) -> Radio:
        return Radio(self.scan_interval[index], self.scan_window[index],
                     self.adv_interval[index], self.yield_time[index])

    def where(self, mask: NDArray[np.bool_], other: Radio) -> Radio:
        """Per device, `other`'s settings where `mask` is set, else these."""
        return Radio(*(np.where(mask, getattr(other, name), getattr(self, name))
                       for name in ("scan_interval", "scan_window", "adv_interval",
                                    "yield_time")))


def normal_radio(link: LinkParams, hub: bool) -> RadioSettings:
    """A device's own scan and advertising settings when not urgent: a hub's are the
    transport's (`hub_scan_*`, continuous by default), a phone's the screen-off low-power
    scan; both advertise every `adv_interval` and yield `yield_time`."""
    if hub:
        return RadioSettings(link.hub_scan_window, link.hub_scan_interval, link.adv_interval,
                             link.yield_time)
    return RadioSettings(link.scan_window, link.scan_interval, link.adv_interval,
                         link.yield_time)


def device_radio(link: LinkParams, hub: bool, urgent: bool) -> RadioSettings:
    """What a hub or phone does, urgent (holding a fresh alert) or not: the core's decision
    (`UrgentRadio.settings`) from the device's own settings, as the daemon applies it to its
    BLE transports (`meshnode.daemon.radio`)."""
    return link.urgency().settings(normal_radio(link, hub), urgent)


def radio_of(link: LinkParams, hub: NDArray[np.bool_],
             urgent: NDArray[np.bool_] | None = None) -> Radio:
    """The settings of a batch of devices, each a hub or a phone (`hub`), urgent or not
    (`urgent`: holding a fresh alert, `meshnode.alerts.urgency`), one `device_radio` each."""
    urgent = np.zeros_like(hub) if urgent is None else urgent
    kinds = [device_radio(link, h, u) for h in (False, True) for u in (False, True)]
    index = 2 * hub.astype(np.int64) + urgent.astype(np.int64)

    def column(name: str) -> FloatArray:
        return np.array([getattr(k, name) for k in kinds], dtype=np.float64)[index]

    return Radio(column("scan_interval"), column("scan_window"), column("adv_interval"),
                 column("yield_time"))


def urgent_phone(link: LinkParams) -> RadioSettings:
    """What a phone holding a fresh alert does (`device_radio` of an urgent phone)."""
    return device_radio(link, False, True)


def _phones(link: LinkParams, size: int) -> Radio:
    return radio_of(link, np.zeros(size, dtype=np.bool_))


def one_way_discovery_delay(rng: np.random.Generator, link: LinkParams, size: int,
                            scanner: Radio | None = None,
                            advertiser: Radio | None = None, *,
                            python_below: int = FEW_PENDING) -> FloatArray:
    """Seconds until a scanner first receives an advert of a device that just came in range.

    Both phases are uniform at random; advertising events repeat every advertising interval
    plus 0–10 ms advDelay; an event is received if it starts inside a scan window and is not
    lost. `scanner` and `advertiser` give each pair's own settings (default: phones').

    Devices are followed advert by advert (about 45 rounds at the phones' default 5 % scan
    duty), in numpy while many are still unheard and then in plain Python, which is several
    times cheaper for the few left (numpy's per-call cost dominates small arrays): once fewer
    than `python_below` are unheard. Both use each pair's own settings, draw the same values in
    the same order and do the same float operations, so neither the result nor the
    generator's state afterwards depends on where the switch happens.
    """
    scan = _phones(link, size) if scanner is None else scanner
    adv_interval = (_phones(link, size) if advertiser is None else advertiser).adv_interval
    scan_phase = rng.uniform(0.0, scan.scan_interval, size)
    advert = rng.uniform(0.0, adv_interval, size)  # first advert after coming in range
    result = np.full(size, math.inf)
    pending = np.arange(size)
    for rounds in range(_MAX_ADVERTS):
        if pending.size == 0:
            break
        if pending.size < python_below:
            _follow_few(rng, link, pending, advert, scan_phase, scan, adv_interval, result,
                        _MAX_ADVERTS - rounds)
            break
        t = advert[pending]
        interval = scan.scan_interval[pending]
        in_window = np.mod(t + scan_phase[pending], interval) < scan.scan_window[pending]
        heard = in_window & (rng.random(pending.size) >= link.advert_loss)
        result[pending[heard]] = t[heard]
        pending = pending[~heard]
        advert[pending] += (adv_interval[pending]
                            + rng.uniform(0.0, ADV_DELAY_MAX, pending.size))
    return result


def _follow_few(rng: np.random.Generator, link: LinkParams, pending: NDArray[np.int64],
                advert: FloatArray, scan_phase: FloatArray, scan: Radio,
                adv_interval: FloatArray, result: FloatArray, rounds: int) -> None:
    """`one_way_discovery_delay`'s rounds for the `pending` devices, in plain Python: the same
    draws (`random` is `uniform(0, 1)`, and `uniform(0, h)` is 0 + h · `random`) and the same
    arithmetic (Python's float % is numpy's mod) with each device's own scan interval, scan
    window and advertising interval, so the same results. Fills `result`."""
    # Lists of the pending devices only, indexed by position in `pending` (cheaper than
    # converting whole arrays when few are left).
    keys = pending.tolist()
    times = advert[pending].tolist()
    phases = scan_phase[pending].tolist()
    intervals = scan.scan_interval[pending].tolist()
    windows = scan.scan_window[pending].tolist()
    advs = adv_interval[pending].tolist()
    loss = link.advert_loss
    left = list(range(len(keys)))
    # One draw per round: this round's advDelays, then the next round's loss draws (the order
    # in which the numpy rounds draw them, one call apiece).
    draws = rng.random(len(left)).tolist()
    for round_ in range(rounds):
        still = []
        for j, draw in zip(left, draws, strict=True):
            t = times[j]
            if (t + phases[j]) % intervals[j] < windows[j] and draw >= loss:
                result[keys[j]] = t
            else:
                still.append(j)
        left = still
        if not left:
            return
        more = len(left) if round_ + 1 < rounds else 0
        draws = rng.random(len(left) + more).tolist()
        for j, draw in zip(left, draws, strict=False):
            times[j] += advs[j] + (0.0 + ADV_DELAY_MAX * draw)
        draws = draws[len(left):]


def advert_tokens(rng: np.random.Generator, size: int) -> NDArray[np.uint64]:
    """One advert token per device, uniform over 64 bits like the transport's
    (`ble_token.advert_token`, an HMAC compared as an unsigned big-endian integer): who
    connects first in a pair is decided by them, not by the devices' numbering."""
    return rng.integers(0, 2**64, size, dtype=np.uint64)


def by_token(tokens: NDArray[np.uint64], a: NDArray[np.int64], b: NDArray[np.int64]
             ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Each pair's two devices ordered as `discovery` takes them: the one with the lower
    token (which connects at once) first; on a tie (2^-64), `a`."""
    swap = tokens[b] < tokens[a]
    return np.where(swap, b, a), np.where(swap, a, b)


def discovery(rng: np.random.Generator, link: LinkParams, size: int,
              first: Radio | None = None, second: Radio | None = None
              ) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Seconds from coming in range until one of two devices starts to connect to the other,
    and whether it is the second device that connects.

    Both scan and advertise. As in the transport, the device with the lower advert token
    (`first`: see `by_token`) connects as soon as it hears the other; the other one (`second`)
    connects its own `yield_time` after it first heard the lower one, if that is sooner (at
    once while urgent: `UrgentRadio.yield_time`). `first` and `second` are the two devices'
    settings (default: phones'). A device that hears the other while already linked to it
    opens no second link (the transport's duplicate rule), so the earlier start is the link.
    """
    first = _phones(link, size) if first is None else first
    second = _phones(link, size) if second is None else second
    lower = one_way_discovery_delay(rng, link, size, first, second)
    higher = one_way_discovery_delay(rng, link, size, second, first) + second.yield_time
    return np.minimum(lower, higher), higher < lower


def discovery_delay(rng: np.random.Generator, link: LinkParams, size: int,
                    first: Radio | None = None, second: Radio | None = None) -> FloatArray:
    """`discovery`'s seconds until one of the two devices starts to connect."""
    return discovery(rng, link, size, first, second)[0]


def link_up_delay(rng: np.random.Generator, link: LinkParams, tokens: NDArray[np.uint64],
                  hub: NDArray[np.bool_], a: NDArray[np.int64], b: NDArray[np.int64],
                  urgent: NDArray[np.bool_] | None = None) -> FloatArray:
    """Seconds from each pair (`a`, `b`) coming in range until its link is up: `discovery`
    (the lower advert token connects at once, the other after its yield time), then the
    connecting device's `connect_delay`, each device at its own settings (`radio_of`: hub or
    phone, urgent or not; `urgent` None: none is). The simulator's links and the realistic
    bound's both come from here."""
    lower, higher = by_token(tokens, a, b)
    first = radio_of(link, hub[lower], None if urgent is None else urgent[lower])
    second = radio_of(link, hub[higher], None if urgent is None else urgent[higher])
    size = len(a)
    found, swapped = discovery(rng, link, size, first, second)
    return found + connect_delay(rng, link, size, first.where(swapped, second))[0]


def scan_wait(rng: np.random.Generator, link: LinkParams, size: int,
              scanner: Radio | None = None) -> FloatArray:
    """Seconds from a random moment until the scanner is inside a scan window (0 if it is)."""
    scan = _phones(link, size) if scanner is None else scanner
    phase = rng.uniform(0.0, scan.scan_interval, size)
    return np.where(phase < scan.scan_window, 0.0, scan.scan_interval - phase)


def setup_time(rng: np.random.Generator, link: LinkParams, size: int) -> FloatArray:
    """Drawn set-up times of connect attempts (connect, MTU exchange, service resolution):
    uniform in [setup_min, setup_max], or infinite for an attempt that stalls."""
    times = rng.uniform(link.setup_min, link.setup_max, size)
    if link.setup_stall > 0:
        times[rng.random(size) < link.setup_stall] = math.inf
    return times


def connect_delay(rng: np.random.Generator, link: LinkParams, size: int,
                  central: Radio | None = None) -> tuple[FloatArray, NDArray[np.int64]]:
    """Seconds from a central's first connect attempt until the link is up, and how many
    attempts failed before it, for `size` links.

    As the transport's central does: an attempt whose drawn set-up time exceeds
    `connect_timeout` fails at the timeout; the peer is retried after `backoff_delay` of the
    failures so far (with the transport's jitter), once the central (`central`: its settings,
    default a phone's) scans again. After MAX_ATTEMPTS failures the delay is infinite.
    """
    scan = _phones(link, size) if central is None else central
    delay = np.zeros(size)
    failures = np.zeros(size, dtype=np.int64)
    pending = np.arange(size)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if pending.size == 0:
            break
        setup = setup_time(rng, link, pending.size)
        ok = setup <= link.connect_timeout
        delay[pending[ok]] += setup[ok]
        pending = pending[~ok]
        if pending.size == 0:
            break
        backoff = backoff_delay(link.backoff_initial, link.backoff_max, attempt)
        factor = rng.uniform(*BACKOFF_JITTER, pending.size)
        delay[pending] += (link.connect_timeout + backoff * factor
                           + scan_wait(rng, link, pending.size, scan[pending]))
        failures[pending] += 1
    delay[pending] = math.inf
    return delay, failures


def on_air_bytes(nbytes: int, link: LinkParams) -> int:
    """Bytes the transport's fragmenter sends for one frame of `nbytes` on this link."""
    if nbytes < 0:
        raise ValueError("nbytes must be >= 0")
    return wire_size(nbytes, fragment_size(link.att_mtu))


def fragments(nbytes: int, link: LinkParams) -> int:
    """Number of GATT writes/notifications the transport needs for a frame of `nbytes`."""
    if nbytes < 0:
        raise ValueError("nbytes must be >= 0")
    return fragment_count(nbytes, fragment_size(link.att_mtu))


def transfer_time(nbytes: int, link: LinkParams) -> float:
    """Seconds to carry one frame of `nbytes` over an open link, framing included, no loss."""
    return on_air_bytes(nbytes, link) / link.throughput


def best_case_delay(nbytes: int, link: LinkParams) -> float:
    """Fastest one hop can pass a message of `nbytes` over a contact that just began: instant
    discovery, quickest set-up, then the transfer. (Over a link already up, only the transfer.)
    """
    return link.setup_min + transfer_time(nbytes, link)


def frame_lost(rng: np.random.Generator, link: LinkParams, size: int) -> NDArray[np.bool_]:
    """Which of `size` frame transmissions are lost whole (each is sent again after
    `retransmit_after`, so a loss costs time and air, not the frame)."""
    return rng.random(size) < link.frame_loss


class Slots:
    """Free connection slots of every device, by role, as the BLE transport keeps them.

    A hub runs the transport: it opens at most `hub_central_links` links as central and
    accepts at most `hub_peripheral_links` as peripheral. A phone has `phone_connections`
    for both roles together (`SlotLimits`). A device advertises only while it can accept a
    link (the transport's peripheral stops advertising when its slots are full) and scans
    only while it can open one, so a full device is neither discovered nor discovering,
    unless the slot rule lets it give up a link for a newcomer (`meshnode.transport.slots`;
    the driver asks it with `held`).
    """

    __slots__ = ("_central", "_limits", "_peripheral", "_roles", "_total")

    def __init__(self, hub: NDArray[np.bool_], link: LinkParams) -> None:
        hubs = [bool(h) for h in hub.tolist()]
        phone = SlotLimits.shared(link.phone_connections)
        split = SlotLimits.split(link.hub_central_links, link.hub_peripheral_links)
        self._limits = [split if h else phone for h in hubs]
        self._central = [lim.central for lim in self._limits]
        self._peripheral = [lim.peripheral for lim in self._limits]
        self._total = [lim.total for lim in self._limits]
        self._roles: dict[tuple[int, int], int] = {}  # linked pair -> its central

    def limits(self, i: int) -> SlotLimits:
        """Device `i`'s slot limits."""
        return self._limits[i]

    def advertising(self, i: int) -> bool:
        """Device `i` has a free slot to accept a link, so it advertises."""
        return self._peripheral[i] > 0 and self._total[i] > 0

    def scanning(self, i: int) -> bool:
        """Device `i` has a free slot to open a link, so it scans and connects."""
        return self._central[i] > 0 and self._total[i] > 0

    def blocked(self, i: int) -> bool:
        """Device `i` cannot take a link in at least one of the two roles."""
        return not (self.advertising(i) and self.scanning(i))

    def used(self, i: int) -> int:
        """Links device `i` has open."""
        return sum(i in pair for pair in self._roles)

    def role(self, i: int, pair: tuple[int, int]) -> Role:
        """Device `i`'s role on the open link of `pair`."""
        return Role.CENTRAL if self._roles.get(pair) == i else Role.PERIPHERAL

    def orders(self, a: int, b: int, a_first: bool) -> tuple[tuple[int, int], ...]:
        """(central, peripheral) orders for a new link between `a` and `b`, preferred first:
        `a_first`: `a` has the lower token, so it connects if it can."""
        return ((a, b), (b, a)) if a_first else ((b, a), (a, b))

    def roles(self, a: int, b: int, a_first: bool) -> tuple[int, int] | None:
        """(central, peripheral) for a new link between `a` and `b`, or None if neither way
        has free slots."""
        for c, p in self.orders(a, b, a_first):
            if self.scanning(c) and self.advertising(p):
                return c, p
        return None

    def take(self, pair: tuple[int, int], a_first: bool) -> bool:
        """Open a link for `pair` if slots allow (see `roles`); False changes nothing."""
        if pair in self._roles:
            return False
        roles = self.roles(pair[0], pair[1], a_first)
        if roles is None:
            return False
        c, p = roles
        self._central[c] -= 1
        self._peripheral[p] -= 1
        self._total[c] -= 1
        self._total[p] -= 1
        self._roles[pair] = c
        return True

    def central(self, pair: tuple[int, int]) -> int | None:
        """The device that opened the link of `pair` (None if not linked)."""
        return self._roles.get(pair)

    def release(self, pair: tuple[int, int]) -> None:
        """The link of `pair` is gone: both ends get their slot back."""
        c = self._roles.pop(pair, None)
        if c is None:
            return
        p = pair[1] if c == pair[0] else pair[0]
        self._central[c] += 1
        self._peripheral[p] += 1
        self._total[c] += 1
        self._total[p] += 1


def power_draw(battery: BatteryParams, link: LinkParams,
               connections: NDArray[np.int64] | int = 0) -> FloatArray:
    """Average power (W) of a phone scanning and advertising with `connections` open links."""
    base = (battery.idle + battery.scan * duty_cycle(link)
            + battery.advert / link.adv_interval)
    return np.asarray(base + battery.connection * np.asarray(connections, dtype=np.float64),
                      dtype=np.float64)


def urgent_extra_power(battery: BatteryParams, link: LinkParams, hub: bool = False) -> float:
    """Extra average power (W) of a phone (or a hub, `hub`) at the urgent scan and
    advertising settings over its ordinary ones (the battery cost of urgent dissemination,
    per second urgent; a hub already scanning continuously pays only for faster adverts)."""
    normal, fast = normal_radio(link, hub), device_radio(link, hub, True)
    scan = battery.scan * (fast.duty_cycle - normal.duty_cycle)
    advert = battery.advert * (1.0 / fast.adv_interval - 1.0 / normal.adv_interval)
    return max(0.0, scan + advert)


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
