"""The `[gateway.bitchat]` section of the daemon's configuration (off unless enabled).

Example::

    [gateway.bitchat]
    enabled = true
    adapter = "hci0"          # BlueZ adapter (the one meshnode's BLE transport uses is fine)
    nickname = "steunpunt"    # what bitchat users see as the sender (1..20 UTF-8 bytes)
    peripheral = true         # serve bitchat's GATT service and advertise it
    central = true            # connect to phones that advertise bitchat
    max_links = 4             # phones we connect to as central
    scan_every = 10.0         # seconds between looks for new phones
    first_repeat = 60.0       # an alert is sent again after this many seconds ...
    max_repeat = 1800.0       # ... then at doubling intervals up to this
    announce_every = 15.0     # seconds between announces (plus up to 4 s of jitter)
    bridge_channel = ""       # a meshnode channel to bridge public chat with ("" = off)
    relay = false             # relay bitchat packets between phones (same bytes, TTL - 1)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from meshnode.transport.bitchat.identity import MAX_NICKNAME

__all__ = ["BitchatConfig", "BitchatConfigError"]


class BitchatConfigError(ValueError):
    """A `[gateway.bitchat]` key has a wrong type or value; the message names it."""


@dataclass(frozen=True, slots=True)
class BitchatConfig:
    adapter: str = "hci0"
    nickname: str = "steunpunt"
    peripheral: bool = True
    central: bool = True
    max_links: int = 4
    scan_every: float = 10.0
    first_repeat: float = 60.0
    max_repeat: float = 1800.0
    announce_every: float = 15.0
    bridge_channel: str = ""
    relay: bool = False

    @classmethod
    def from_mapping(cls, table: Mapping[str, object]) -> BitchatConfig:
        """Validate a TOML table; unknown keys, wrong types and bad values raise."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, object] = {}
        for key, value in table.items():
            f = known.get(key)
            if f is None:
                raise BitchatConfigError(f"unknown key '{key}'")
            default = getattr(cls(), key)
            if isinstance(default, float) and type(value) is int:
                value = float(value)
            if type(value) is not type(default):
                raise BitchatConfigError(f"{key} must be {type(default).__name__}, "
                                         f"got {value!r}")
            values[key] = value
        config = cls(**values)  # type: ignore[arg-type]
        config.check()
        return config

    def check(self) -> None:
        if not 0 < len(self.nickname.encode("utf-8")) <= MAX_NICKNAME:
            raise BitchatConfigError(f"nickname must be 1..{MAX_NICKNAME} UTF-8 bytes")
        if not 1 <= self.max_links <= 16:
            raise BitchatConfigError("max_links must be 1..16")
        for name in ("scan_every", "first_repeat", "max_repeat", "announce_every"):
            if getattr(self, name) <= 0:
                raise BitchatConfigError(f"{name} must be positive")
        if self.max_repeat < self.first_repeat:
            raise BitchatConfigError("max_repeat must be at least first_repeat")
        if not (self.peripheral or self.central):
            raise BitchatConfigError("at least one of peripheral and central must be true")
