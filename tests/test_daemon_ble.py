"""`[transport.ble] enabled = true` starts the BLE transport beside UDP; without a usable
BlueZ the daemon keeps serving and its other transports keep working.

No Bluetooth stack exists here: the daemons' system bus address points at a socket that does
not exist, which is what a machine without BlueZ looks like to the transport. The BLE
transport itself is tested against a fake BlueZ in tests/transport/test_ble_*.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from meshnode.daemon import api
from meshnode.daemon.config import ConfigError, parse_config, render_config
from meshnode.daemon.localnet import LocalNet
from meshnode.transport.ble_config import BleConfig
from tests.daemons import Events, fast_config


def test_ble_section_is_parsed_and_checked() -> None:
    assert parse_config("").ble is None
    assert parse_config("[transport.ble]\nenabled = false\n").ble is None
    config = parse_config("[transport.ble]\nenabled = true\nmax_central_links = 2\n")
    assert config.ble == dataclasses.replace(BleConfig(), max_central_links=2)
    assert parse_config(render_config(config)) == config
    with pytest.raises(ConfigError, match="transport.ble"):
        parse_config("[transport.ble]\nenabled = true\nmax_central_linkz = 2\n")
    with pytest.raises(ConfigError, match="transport.bluetooth"):
        parse_config("[transport.bluetooth]\nenabled = true\n")


def test_daemon_with_ble_enabled_but_no_bluez_keeps_udp_working(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    config = dataclasses.replace(fast_config(), ble=BleConfig())
    with LocalNet.line(tmp_path, ["A", "B"], config) as net:
        a, b = net.nodes
        for node in net.nodes:
            node.setup()
        a.start()
        b.start()
        a.wait_ready()
        b.wait_ready()
        events = Events(b, ("post_received",))
        try:
            a.request(api.Post("wijk-noord", "BLE is down, UDP is not"))
            [received] = events.wait_count("post_received", 1, 30)
        finally:
            events.close()
        assert "UDP is not" in str(received)
        assert net.stop() == {"A": 0, "B": 0}
        # The BLE transport did run, found no bus to reach BlueZ on, and said what to fix.
        assert "BLE: cannot connect to the system D-Bus" in a.tail()
