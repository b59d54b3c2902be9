"""Urgent dissemination on a real radio stack: the daemon drives the BLE transport's scan and
advertising duty cycle from the core's urgency rule, as BlueZ sees it over D-Bus.

A real `Daemon` (SQLite files, its own clock) runs the real `BleTransport` against the mock
BlueZ on a private dbus-daemon (tests/transport/conftest.py). BlueZ's D-Bus API has no scan
window or interval: the transport's duty cycle is its own StartDiscovery/StopDiscovery cycle,
which the mock records; the advertising interval is the advert's MinInterval/MaxInterval,
read by RegisterAdvertisement. Time beyond the urgent period is the daemon's `clock=`, moved
forward; nothing sleeps.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from functools import partial
from pathlib import Path

import trio

from meshnode.alerts.urgency import URGENT_RADIO
from meshnode.crypto.identity import Identity
from meshnode.crypto.trustfile import install_root
from meshnode.daemon import api
from meshnode.daemon.daemon import Daemon
from meshnode.daemon.harness import Authority
from meshnode.transport.ble import BleTransport, normal_radio
from meshnode.transport.ble_config import BleConfig
from meshnode.transport.ble_profile import service_data
from tests.daemons import fast_config, make_authority
from tests.polling import until
from tests.transport.fakebluez import FakeBlueZ

# A phone-like duty cycle: one half-second scan every ten minutes, adverts every second.
PHONE = BleConfig(scan_window=0.5, scan_interval=600.0, advert_interval_ms=1000,
                  max_central_links=1, max_peripheral_links=1, call_timeout=5.0)


_until = partial(until, timeout=30.0)  # the harness's poll, with this file's deadline


def _daemon(tmp_path: Path, config: BleConfig) -> tuple[Daemon, BleTransport, Authority]:
    """A daemon (its own SQLite files) on a BLE transport with `config`, trusting a test
    authority, whose alerts it returns too."""
    authority = make_authority(tmp_path / "authority")
    data_dir = tmp_path / "node"
    data_dir.mkdir(mode=0o700)
    install_root(data_dir, authority.root_pub)
    transport = BleTransport(config, secret=secrets.token_bytes(32))
    daemon = Daemon(data_dir, fast_config(), Identity.generate(), transports=[transport],
                    handle_signals=False)
    return daemon, transport, authority


def test_a_fresh_alert_speeds_up_scanning_and_advertising_until_the_period_ends(
        bluez: FakeBlueZ, tmp_path: Path) -> None:
    adapter = bluez.add_adapter()
    authority = make_authority(tmp_path / "authority")
    data_dir = tmp_path / "node"
    data_dir.mkdir(mode=0o700)
    install_root(data_dir, authority.root_pub)
    offset = [0.0]

    def clock() -> float:
        return time.time() + offset[0]

    transport = BleTransport(PHONE, secret=secrets.token_bytes(32), clock=clock)
    daemon = Daemon(data_dir, fast_config(), Identity.generate(), transports=[transport],
                    clock=clock, handle_signals=False)

    def starts() -> int:
        return len(bluez.calls(adapter, "StartDiscovery"))

    def stops() -> int:
        return len(bluez.calls(adapter, "StopDiscovery"))

    def advert_ms() -> int | None:
        log = bluez.advert_log(adapter)
        return log[-1].get("MinInterval") if log else None

    seen: dict[str, int] = {}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(daemon.run)
            # The normal duty cycle: one scan, then ten minutes of quiet.
            await _until(lambda: stops() >= 1 and advert_ms() == 1000)
            seen["normal_starts"] = starts()
            await daemon.call(api.Inject(authority.alert()))
            # Urgent: a scan every 0.73 s (the next would otherwise be ten minutes away) and
            # the advert registered again at 100 ms.
            await _until(lambda: starts() >= seen["normal_starts"] + 3
                         and advert_ms() == round(URGENT_RADIO.adv_interval * 1000))
            assert daemon.radio.urgent(clock())
            # The period ends on the daemon's clock: back to the phone's own duty cycle.
            offset[0] += URGENT_RADIO.duration + 1
            await _until(lambda: advert_ms() == 1000)
            status = await transport.status()
            assert status is not None
            seen["after"] = starts()
            seen["scan_interval"] = round(status.scan_interval)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert seen["normal_starts"] == 1  # the phone's own cycle had not scanned again
    assert seen["scan_interval"] == 600
    assert transport.radio == normal_radio(PHONE)
    log = [a.get("MinInterval") for a in bluez.advert_log(adapter)]
    assert log[0] == 1000 and log[-1] == 1000 and 100 in log


def test_a_stale_alert_leaves_the_radio_alone(bluez: FakeBlueZ, tmp_path: Path) -> None:
    """An alert received more than `fresh_for` after its issue is no reason to drain a phone."""
    bluez.add_adapter()
    authority = make_authority(tmp_path / "authority")
    data_dir = tmp_path / "node"
    data_dir.mkdir(mode=0o700)
    install_root(data_dir, authority.root_pub)
    late = URGENT_RADIO.fresh_for + 60
    replies: list[dict[str, object]] = []

    def clock() -> float:
        return time.time() + late

    transport = BleTransport(dataclasses.replace(PHONE, central=False),
                             secret=secrets.token_bytes(32), clock=clock)
    daemon = Daemon(data_dir, fast_config(), Identity.generate(), transports=[transport],
                    clock=clock, handle_signals=False)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(daemon.run)
            reply = await daemon.call(api.Inject(authority.alert()))
            replies.append(reply)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert [r["accepted"] for r in replies] == [True]  # it was taken, and did not count
    assert not daemon.radio.urgent(time.time() + late)
    assert transport.radio == normal_radio(PHONE)


def test_a_device_holding_a_fresh_alert_connects_at_once_instead_of_yielding(
        bluez: FakeBlueZ, tmp_path: Path) -> None:
    """A phone that hears a peer with the lower token leaves it `yield_time` (here ten
    minutes) to connect first; once the phone holds a fresh alert it connects at once (the
    core's `UrgentRadio.yield_time`), so a passer-by is not lost to the wait."""
    adapter = bluez.add_adapter()
    config = dataclasses.replace(PHONE, yield_time=600.0, scan_interval=1.0,
                                 peripheral=False)
    daemon, transport, authority = _daemon(tmp_path, config)
    device = bluez.add_peer("C0:FF:EE:00:00:41", service_data(bytes(8)))  # the lowest token
    seen: dict[str, object] = {}

    def stops() -> int:
        return len(bluez.calls(adapter, "StopDiscovery"))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(daemon.run)
            # Three scans hear the peer (each StartDiscovery announces it); none connects.
            await _until(lambda: stops() >= 3)
            seen["connects_before"] = len(bluez.calls(device, "Connect"))
            await daemon.call(api.Inject(authority.alert()))
            await _until(lambda: bool(bluez.calls(device, "Connect")))
            status = await transport.status()
            seen["yield_time"] = status.yield_time if status else None
            bluez.test("SetRefuse", device, True)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert seen == {"connects_before": 0, "yield_time": 0.0}
