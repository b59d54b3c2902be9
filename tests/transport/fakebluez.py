"""A private system bus with python-dbusmock's bluez5 template, for the BLE contract tests.

`PrivateBus` runs its own dbus-daemon (never the machine's system bus); `FakeBlueZ` runs the
mock bluetoothd on it (a real subprocess: `python -m dbusmock --template bluez5`) extended
with `bluez_extras.py`, and drives it over D-Bus with dbus-python, as a test would drive
bluetoothd's behaviour from outside.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dbus

EXTRAS = Path(__file__).with_name("bluez_extras.py")
MOCK_IFACE = "org.freedesktop.DBus.Mock"
TEST_IFACE = "org.meshnode.TestBlueZ"
BLUEZ = "org.bluez"

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class PrivateBus:
    """A dbus-daemon of our own, standing in for the system bus."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="meshnode-dbus-"))
        socket_path = self.dir / "system_bus.socket"
        config = self.dir / "bus.conf"
        config.write_text(_CONFIG.format(socket=socket_path))
        self.address = f"unix:path={socket_path}"
        self.process = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.process.stdout is not None
        self.process.stdout.readline()  # printed once it listens
        self.process.stdout.close()

    def connect(self) -> dbus.bus.BusConnection:
        return dbus.bus.BusConnection(self.address)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class FakeBlueZ:
    """The mock bluetoothd on `bus`; `start`/`stop` make it appear and disappear."""

    def __init__(self, bus: PrivateBus) -> None:
        self.bus = bus
        self.conn = bus.connect()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = bus.dir / "bluez-mock.log"

    def start(self) -> None:
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dbusmock", "--system", "--template", "bluez5"],
                env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not self.conn.name_has_owner(BLUEZ):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the BlueZ mock did not start: {self.log.read_text()}")
            time.sleep(0.02)
        self.root.AddTemplate(str(EXTRAS), dbus.Dictionary({}, signature="sv"),
                              dbus_interface=MOCK_IFACE)

    def stop(self) -> None:
        """bluetoothd goes away: the name leaves the bus."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        deadline = time.monotonic() + 5
        while self.conn.name_has_owner(BLUEZ) and time.monotonic() < deadline:
            time.sleep(0.02)

    def obj(self, path: str) -> Any:
        return self.conn.get_object(BLUEZ, path, introspect=False)

    @property
    def root(self) -> Any:
        return self.obj("/")

    def test(self, method: str, *args: Any) -> Any:
        return getattr(self.root, method)(*args, dbus_interface=TEST_IFACE)

    def add_adapter(self, name: str = "hci0", *, powered: bool = True,
                    roles: tuple[str, ...] = ("central", "peripheral")) -> str:
        return str(self.test("AddServerAdapter", name, dbus.Boolean(powered),
                             dbus.Array(list(roles), signature="s")))

    def remove_adapter(self, name: str = "hci0") -> None:
        self.root.RemoveAdapterWithDevices(name, dbus_interface="org.bluez.Mock")

    def set_powered(self, adapter_path: str, powered: bool) -> None:
        self.obj(adapter_path).UpdateProperties(
            "org.bluez.Adapter1", dbus.Dictionary({"Powered": dbus.Boolean(powered)},
                                                  signature="sv"),
            dbus_interface=MOCK_IFACE)

    def add_peer(self, address: str, service_data: bytes, *, rssi: int = -60, mtu: int = 247,
                 mtu_property: bool = True, acquire_mtu: int = 185,
                 service_uuid: str | None = None, token_value: bytes = b"",
                 token_writable: bool = True) -> str:
        """A remote peer; empty `service_data` makes it a "uuid"-profile advertiser."""
        from meshnode.transport.ble_profile import SERVICE_UUID

        return str(self.test("AddGattPeer", "hci0", address,
                             dbus.ByteArray(service_data), dbus.Int16(rssi), dbus.UInt16(mtu),
                             dbus.Boolean(mtu_property), dbus.UInt16(acquire_mtu),
                             service_uuid or SERVICE_UUID, dbus.ByteArray(token_value),
                             dbus.Boolean(token_writable)))

    def add_bitchat_phone(self, address: str) -> str:
        """A phone running bitchat near the hub (see AddBitchatPhone in bluez_extras)."""
        from meshnode.transport.bitchat.radio import SERVICE_UUID

        return str(self.test("AddBitchatPhone", "hci0", address, SERVICE_UUID))

    def registrations(self, adapter_path: str) -> tuple[list[tuple[str, str]],
                                                        list[tuple[str, str]]]:
        apps, adverts = self.test("GetRegistrations", dbus.ObjectPath(adapter_path))
        return ([(str(s), str(p)) for s, p in apps], [(str(s), str(p)) for s, p in adverts])

    def advert_log(self, adapter_path: str) -> list[dict[str, Any]]:
        return [_plain(p) for p in self.test("GetAdvertLog", dbus.ObjectPath(adapter_path))]

    def calls(self, path: str, method: str) -> list[list[Any]]:
        return [[_plain(a) for a in args] for _, args in
                self.obj(path).GetMethodCalls(method, dbus_interface=MOCK_IFACE)]


def _plain(value: Any) -> Any:
    """dbus-python values as plain Python (bytes for byte arrays)."""
    if isinstance(value, dbus.Dictionary):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, dbus.Array):
        if value.signature == "y":
            return bytes(value)
        return [_plain(v) for v in value]
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return value
