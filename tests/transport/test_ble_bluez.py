"""Start-up checks and BlueZ coming and going, against the mock BlueZ.

The transport must never take the daemon down: without a usable adapter it says what to fix
and waits; when bluetoothd disappears or the adapter is removed, links go down with clear
logs, and everything is registered again once BlueZ and the adapter are back.
"""

from __future__ import annotations

import logging
import secrets
from functools import partial

import pytest
import trio

from meshnode.transport.base import LinkDown, LinkUp
from meshnode.transport.ble import BleTransport
from meshnode.transport.ble_config import BleConfig
from meshnode.transport.ble_profile import service_data
from tests.polling import until
from tests.transport.ble_harness import GattPeer, LoopThread, NodeDriver, make_node
from tests.transport.fakebluez import FakeBlueZ

FAST = BleConfig(scan_window=1.0, scan_interval=1.0, revisit_after=0.0, backoff_initial=0.2,
            backoff_max=1.0, connect_timeout=5.0, yield_time=0.0, mtu_wait=0.5,
            call_timeout=5.0, bluez_restart_delay=0.2)


_until = partial(until, timeout=20.0)  # the harness's poll, with this file's deadline


def _logged(caplog: pytest.LogCaptureFixture, *words: str) -> bool:
    return any(all(w in r.getMessage() for w in words) for r in caplog.records)


def test_tells_the_operator_what_to_fix_and_keeps_waiting(
        bluez: FakeBlueZ, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    transport = BleTransport(FAST, secret=secrets.token_bytes(32))
    driver = NodeDriver(transport, make_node(1))
    states: list[str] = []

    async def status() -> None:
        snap = await transport.status()
        assert snap is not None
        states.append(snap.state)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            await _until(lambda: _logged(caplog, "no Bluetooth adapter 'hci0'", "rfkill"))
            await status()
            adapter = bluez.add_adapter(powered=False)
            await _until(lambda: _logged(caplog, "powered off", "bluetoothctl power on",
                                         "rfkill unblock"))
            bluez.set_powered(adapter, True)
            await _until(lambda: all(bluez.registrations(adapter)))
            await status()
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert states == ["waiting", "running"]


def test_adapter_without_peripheral_role_runs_the_central_only(
        bluez: FakeBlueZ, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    adapter = bluez.add_adapter(roles=("central",))
    transport = BleTransport(FAST, secret=secrets.token_bytes(32))
    driver = NodeDriver(transport, make_node(1))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            await _until(lambda: bool(bluez.calls(adapter, "StartDiscovery")))
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert _logged(caplog, "cannot act as a BLE peripheral")
    assert _logged(caplog, "central: yes, peripheral: no")
    assert bluez.registrations(adapter) == ([], [])


def test_survives_bluez_restart_and_adapter_removal(
        bluez: FakeBlueZ, peer_loop: LoopThread, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    token = secrets.token_bytes(8)

    def setup() -> tuple[str, str]:
        adapter = bluez.add_adapter()
        return adapter, bluez.add_peer("C0:FF:EE:00:00:07", service_data(token))

    adapter, device = setup()
    peer = GattPeer(bluez.bus.address, device, make_node(2, posts=2), payload=244)
    peer_loop.run(peer.start)
    transport = BleTransport(FAST, secret=secrets.token_bytes(32))
    driver = NodeDriver(transport, make_node(1, posts=2))

    def links() -> tuple[int, int]:
        return len(driver.of(LinkUp)), len(driver.of(LinkDown))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            await _until(lambda: links() == (1, 0) and all(bluez.registrations(adapter)))
            bluez.stop()  # bluetoothd crashes
            await _until(lambda: links() == (1, 1))
            assert _logged(caplog, "BlueZ (org.bluez) left the system bus")
            bluez.start()  # ... and is restarted
            setup()
            await _until(lambda: links() == (2, 1) and all(bluez.registrations(adapter)))
            bluez.remove_adapter()  # the USB dongle is pulled
            await _until(lambda: links() == (2, 2))
            assert _logged(caplog, "adapter /org/bluez/hci0 was removed")
            setup()  # ... and plugged in again
            await _until(lambda: links() == (3, 2) and all(bluez.registrations(adapter)))
            nursery.cancel_scope.cancel()

    trio.run(main)
    peer_loop.run(peer.stop)
    ups, downs = driver.of(LinkUp), driver.of(LinkDown)
    assert [d.link for d in downs] == [u.link for u in ups[:2]]
    assert peer.stats.connections == 3
