"""The daemon's urgent-dissemination switch: the core decides, this applies it to BLE.

While this node holds a fresh alert (`meshnode.alerts.urgency`: received within `fresh_for`
of its issue, for `duration` after it arrived, extended by each further fresh alert), every
BLE transport scans, advertises and connects at the core's urgent settings (connecting at once
instead of leaving a peer with the lower token `yield_time` to connect first), never slower
than its own `[transport.ble]` settings; when the period ends it returns to those. The rule and
its figures are the core's (`UrgentRadio.hold`, `UrgentRadio.settings`), the same the
simulator applies; this module only tracks the period on the daemon's clock and tells the
transports. Nothing on the wire changes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from meshnode.alerts.urgency import URGENT_RADIO, UrgentRadio
from meshnode.transport.ble import BleTransport, normal_radio

__all__ = ["RadioSwitch"]

_log = logging.getLogger("meshnode.daemon")


class RadioSwitch:
    """Tracks the urgent period and sets each BLE transport's duty cycle to match.

    Call `alert_received` for each verified alert, and `update` now and then (the daemon's
    housekeeping tick): the urgent period ends at the first `update` after it ran out.
    """

    def __init__(self, transports: Sequence[BleTransport], rule: UrgentRadio = URGENT_RADIO
                 ) -> None:
        self.transports = list(transports)
        self.rule = rule
        self.until = -math.inf  # end of the urgent period on the daemon's clock

    def urgent(self, now: float) -> bool:
        return now < self.until

    def alert_received(self, issued: float, now: float) -> None:
        """An alert issued at `issued` (its CAP `sent` time) arrived at `now`."""
        self.until = self.rule.hold(self.until, issued, now)
        self.update(now)

    def update(self, now: float) -> None:
        """Give each transport the settings the core decides for `now`, if they changed."""
        urgent = self.urgent(now)
        for transport in self.transports:
            want = self.rule.settings(normal_radio(transport.config), urgent)
            if want == transport.radio:
                continue
            transport.set_radio(want)
            _log.info("radio_urgent" if urgent else "radio_normal", extra={"fields": {
                "until": int(self.until) if urgent else None,
                "scan_window": want.scan_window, "scan_interval": want.scan_interval,
                "adv_interval": None if math.isinf(want.adv_interval) else want.adv_interval,
                "yield_time": want.yield_time}})
