"""Fixtures for the BLE contract tests: a private system bus with a mock BlueZ on it.

Nothing here touches the machine's system bus: `private_bus` starts a dbus-daemon of its own
and points DBUS_SYSTEM_BUS_ADDRESS (which bleak and dbus-fast read) at it for the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.transport.ble_harness import LoopThread
from tests.transport.fakebluez import FakeBlueZ, PrivateBus


@pytest.fixture
def private_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateBus]:
    bus = PrivateBus()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    try:
        yield bus
    finally:
        bus.stop()


@pytest.fixture
def bluez(private_bus: PrivateBus) -> Iterator[FakeBlueZ]:
    fake = FakeBlueZ(private_bus)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def peer_loop() -> Iterator[LoopThread]:
    loop = LoopThread()
    try:
        yield loop
    finally:
        loop.stop()
