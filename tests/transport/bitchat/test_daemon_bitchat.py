"""`[gateway.bitchat] enabled = true`: a real daemon process, its own bitchat key, its status,
and an alert injected through the API reaching a phone over the BlueZ mock's D-Bus contract."""

from __future__ import annotations

import dataclasses
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from meshnode.crypto.keyfile import load_identity
from meshnode.daemon import api
from meshnode.daemon.config import ConfigError, parse_config, render_config
from meshnode.daemon.localnet import LocalNet
from meshnode.transport.bitchat.config import BitchatConfig
from meshnode.transport.bitchat.identity import KEY_FILE, format_fingerprint
from tests.daemons import fast_config, make_authority
from tests.transport.bitchat.phones import PhoneCentral, check_signed_alert, wait_for
from tests.transport.ble_harness import LoopThread
from tests.transport.fakebluez import FakeBlueZ


def until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    trio.run(wait_for, predicate, timeout)


def test_gateway_section_is_off_by_default_parsed_and_checked() -> None:
    assert parse_config("").bitchat is None
    assert parse_config("[gateway.bitchat]\nenabled = false\n").bitchat is None
    config = parse_config("[gateway.bitchat]\nenabled = true\nnickname = \"buurthuis\"\n"
                          "first_repeat = 30\n")
    assert config.bitchat == BitchatConfig(nickname="buurthuis", first_repeat=30.0)
    assert parse_config(render_config(config)) == config
    for bad, key in (("nickname = \"\"", "nickname"), ("max_linkz = 2", "unknown key"),
                     ("relay = 1", "relay"), ("max_repeat = 5.0", "max_repeat")):
        with pytest.raises(ConfigError, match=key):
            parse_config(f"[gateway.bitchat]\nenabled = true\n{bad}\n")
    with pytest.raises(ConfigError, match="gateway.bitchatt"):
        parse_config("[gateway.bitchatt]\nenabled = true\n")


def test_daemon_sends_an_injected_alert_to_phones_under_its_own_checked_identity(
        tmp_path: Path, bluez: FakeBlueZ, peer_loop: LoopThread) -> None:
    adapter = bluez.add_adapter()
    authority = make_authority(tmp_path / "authority")
    config = dataclasses.replace(fast_config(), bitchat=BitchatConfig(central=False))
    phone = PhoneCentral(bluez.bus.address)
    with LocalNet.line(tmp_path, ["hub"], config) as net:
        hub = net.nodes[0]
        hub.setup([authority.root_pub])
        hub.start()
        hub.wait_ready()
        status = hub.request(api.Status())["bitchat"]
        key_file = hub.data_dir / KEY_FILE
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        keys = load_identity(key_file)
        assert status["fingerprint"] == format_fingerprint(keys.public.dh_key)
        assert keys.public.sign_key != hub.identity.public.sign_key  # not the node's keys
        until(lambda: all(bluez.registrations(adapter)))
        [(sender, app_path)], _ = bluez.registrations(adapter)
        try:
            peer_loop.run(lambda: phone.subscribe(sender, app_path))
            until(lambda: any(p[1] == 0x01 for p in phone.heard))
            hub.request(api.Inject(authority.alert()))
            until(lambda: sum(p[1] == 0x02 for p in phone.heard) >= 5)
        finally:
            peer_loop.run(phone.stop)
        check_signed_alert(phone.heard)
        assert hub.request(api.Status())["bitchat"]["alerts_in_force"] == 1
        assert hub.stop() == 0
        # The identity persists: residents who checked the fingerprint keep trusting it.
        hub.start()
        hub.wait_ready()
        again = hub.request(api.Status())["bitchat"]
        assert again["fingerprint"] == status["fingerprint"]
        assert again["alerts_in_force"] == 1  # the held alert is broadcast again after restart
        assert status["fingerprint"] in hub.tail(200)  # the log shows it too
        shown = subprocess.run([sys.executable, "-m", "cli.main", "--data-dir",
                                str(hub.data_dir), "status"],
                               capture_output=True, text=True, timeout=60, check=True).stdout
        assert f"fingerprint {status['fingerprint']}" in shown and "'steunpunt'" in shown


def test_without_bluez_the_daemon_serves_on_and_status_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    config = dataclasses.replace(fast_config(), bitchat=BitchatConfig())
    with LocalNet.line(tmp_path, ["hub"], config) as net:
        hub = net.nodes[0]
        hub.setup()
        hub.start()
        hub.wait_ready()
        until(lambda: hub.request(api.Status())["bitchat"]["state"] == "waiting")
        status = hub.request(api.Status())["bitchat"]
        assert "cannot connect to the system D-Bus" in status["problems"][0]
        assert status["fingerprint"]
        hub.request(api.Post("buurt", "the daemon still serves"))
        assert hub.stop() == 0
