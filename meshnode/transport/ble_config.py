"""The `[transport.ble]` section of the daemon's configuration.

Every key is optional; the defaults suit a Raspberry Pi hub on mains power. Example::

    [transport.ble]
    adapter = "hci0"           # BlueZ adapter name; "" = the first powered one
    central = true             # scan and connect to peers
    peripheral = true          # advertise and serve our GATT service
    scan_mode = "active"       # or "passive" (needs bluetoothd --experimental)
    scan_window = 10.0         # seconds of scanning ...
    scan_interval = 10.0       # ... in every scan_interval seconds (window = interval: always on)
    max_central_links = 3      # connections we open (3 + 2 = 5: what Linux adapters manage)
    max_peripheral_links = 2   # centrals we serve at once
    connect_timeout = 15.0
    backoff_initial = 2.0      # after a failed connect; doubles per failure ...
    backoff_max = 300.0        # ... up to this
    revisit_after = 300.0      # do not reconnect to a token we synced with this recently
    yield_time = 10.0          # the peer with the lower token connects first; wait this long
    mtu_wait = 2.0             # for BlueZ to report the exchanged MTU
    call_timeout = 20.0        # a BlueZ call from the daemon that takes longer is abandoned
    event_queue = 512          # bridge events held for the daemon before drops
    bluez_restart_delay = 2.0  # pause before re-registering after BlueZ came back
    advert_interval_ms = 250   # advertising interval asked of BlueZ (0 = BlueZ's default)
    advert = "service-data"    # or "uuid": the iOS-compatible profile (docs/hardware.md)
    slot_rule = true           # when slots are full, give up a synced, idle link for a newcomer
    slot_idle_for = 10.0       # ... idle this long (meshnode.transport.slots)
    slot_urgent_idle_for = 0.0 # ... while holding a fresh alert
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal

from meshnode.transport.slots import IDLE_FOR, URGENT_IDLE_FOR, SlotRule

__all__ = ["BACKOFF_JITTER", "BleConfig", "BleConfigError", "backoff_delay"]

ScanMode = Literal["active", "passive"]
AdvertProfile = Literal["service-data", "uuid"]

# A failed peer's back-off is scaled by a factor drawn uniformly from this range, so that
# devices that failed together do not all retry at the same instant.
BACKOFF_JITTER = (0.9, 1.1)


class BleConfigError(ValueError):
    """A `[transport.ble]` key has a wrong type or value; the message names it."""


@dataclass(frozen=True, slots=True)
class BleConfig:
    """BLE transport settings; see the module docstring for each key."""

    adapter: str = "hci0"
    central: bool = True
    peripheral: bool = True
    scan_mode: ScanMode = "active"
    scan_window: float = 10.0
    scan_interval: float = 10.0
    max_central_links: int = 3
    max_peripheral_links: int = 2
    connect_timeout: float = 15.0
    backoff_initial: float = 2.0
    backoff_max: float = 300.0
    revisit_after: float = 300.0
    yield_time: float = 10.0
    mtu_wait: float = 2.0
    call_timeout: float = 20.0
    event_queue: int = 512
    bluez_restart_delay: float = 2.0
    advert_interval_ms: int = 250
    advert: AdvertProfile = "service-data"
    slot_rule: bool = True
    slot_idle_for: float = IDLE_FOR
    slot_urgent_idle_for: float = URGENT_IDLE_FOR

    def __post_init__(self) -> None:
        if self.scan_mode not in ("active", "passive"):
            raise BleConfigError("transport.ble.scan_mode: must be 'active' or 'passive'")
        if self.advert not in ("service-data", "uuid"):
            raise BleConfigError("transport.ble.advert: must be 'service-data' or 'uuid'")
        for name in ("scan_window", "scan_interval", "connect_timeout", "backoff_initial",
                     "backoff_max", "call_timeout"):
            if not getattr(self, name) > 0:
                raise BleConfigError(f"transport.ble.{name}: must be positive")
        for name in ("revisit_after", "yield_time", "mtu_wait", "bluez_restart_delay",
                     "slot_idle_for", "slot_urgent_idle_for"):
            if not getattr(self, name) >= 0:
                raise BleConfigError(f"transport.ble.{name}: must not be negative")
        if self.scan_window > self.scan_interval:
            raise BleConfigError("transport.ble.scan_window: must be <= scan_interval")
        if self.backoff_initial > self.backoff_max:
            raise BleConfigError("transport.ble.backoff_initial: must be <= backoff_max")
        for name in ("max_central_links", "max_peripheral_links"):
            if not 0 <= getattr(self, name) <= 64:
                raise BleConfigError(f"transport.ble.{name}: must be within 0..64")
        if self.advert_interval_ms and not 20 <= self.advert_interval_ms <= 10_485_000:
            raise BleConfigError("transport.ble.advert_interval_ms: must be 0 or 20..10485000")
        if self.event_queue < 16:
            raise BleConfigError("transport.ble.event_queue: must be at least 16")

    @property
    def slots(self) -> SlotRule:
        """The connection slot rule at these settings (`meshnode.transport.slots`)."""
        return SlotRule(self.slot_idle_for, self.slot_urgent_idle_for, self.slot_rule)

    @property
    def duty_cycle(self) -> float:
        """Share of the time the central scans."""
        return self.scan_window / self.scan_interval

    @classmethod
    def from_mapping(cls, section: Mapping[str, object]) -> BleConfig:
        """Build from a parsed TOML table; unknown keys and wrong types are errors."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, object] = {}
        for key, value in section.items():
            if key not in known:
                raise BleConfigError(f"transport.ble.{key}: unknown key")
            default = getattr(cls(), key)
            if isinstance(default, bool):
                ok = type(value) is bool
            elif isinstance(default, int):
                ok = type(value) is int
            elif isinstance(default, float):
                ok = type(value) in (int, float)
                value = float(value) if ok else value  # type: ignore[arg-type]
            else:
                ok = type(value) is str
            if not ok:
                raise BleConfigError(f"transport.ble.{key}: expected "
                                     f"{type(default).__name__}, got {type(value).__name__}")
            values[key] = value
        return cls(**values)  # type: ignore[arg-type]


def backoff_delay(initial: float, maximum: float, failures: int, factor: float = 1.0) -> float:
    """Seconds the central waits before retrying a peer after `failures` (>= 1) failed
    connects in a row: `initial` doubling per failure up to `maximum`, times `factor`
    (drawn from BACKOFF_JITTER by the caller; 1 for the schedule without jitter)."""
    if failures < 1:
        raise ValueError("failures must be >= 1")
    return min(maximum, initial * 2.0 ** min(failures - 1, 64)) * factor
