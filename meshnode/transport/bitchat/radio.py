"""bitchat's BLE side on BlueZ, with dbus-fast on an asyncio loop: GATT server, advert, central.

Peripheral: one GATT application (beside meshnode's own, on its own object paths) with
bitchat's service F47B5E2D-4A9E-4C5A-9B3F-8E1D2C3A4B5C and its one characteristic
A1B2C3D4-E5F6-4A5B-8C9D-0E1F2A3B4C5D (read, write, write-without-response, notify). A phone
writes one bitchat packet per write (`WriteValue`); we send by setting the characteristic's
value, which BlueZ notifies to every subscribed phone (bitchat traffic here is broadcast).
A second advertisement carries the service UUID: meshnode's own advert already uses 30 of
the 31 legacy bytes, and BlueZ runs each registered advert as its own instance.

Central: every `scan_every` seconds the radio looks in BlueZ's object tree for devices that
advertise the bitchat service, connects to up to `max_links` of them, subscribes to the
characteristic and writes packets to it (write without response).

Everything heard goes to `emit` as `FrameReceived(("bitchat", device path), packet bytes)`;
nothing here parses packets (the trio side does, strictly). A new subscriber or phone is
reported as `LinkUp`, so the hub announces itself at once, as bitchat peers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from meshnode.transport.base import FrameReceived, LinkUp, TransportEvent
from meshnode.transport.ble_bluez import (
    ADAPTER_IFACE,
    DEVICE_IFACE,
    OBJECT_MANAGER,
    PROPERTIES,
    Objects,
    Refused,
    call,
    object_call,
    option,
    serve_call,
)

__all__ = ["CHARACTERISTIC_UUID", "SERVICE_UUID", "BitchatRadio", "RadioStats"]

SERVICE_UUID = "f47b5e2d-4a9e-4c5a-9b3f-8e1d2c3a4b5c"
CHARACTERISTIC_UUID = "a1b2c3d4-e5f6-4a5b-8c9d-0e1f2a3b4c5d"
ADV_IFACE = "org.bluez.LEAdvertisement1"
ADV_MANAGER_IFACE = "org.bluez.LEAdvertisingManager1"
GATT_MANAGER_IFACE = "org.bluez.GattManager1"
SERVICE_IFACE = "org.bluez.GattService1"
CHRC_IFACE = "org.bluez.GattCharacteristic1"
MAX_WRITE = 4_096  # bytes per write: bitchat sends <= 512 and fragments above
CALL_TIMEOUT = 15.0

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RadioStats:
    writes_in: int = 0
    notifications_in: int = 0
    notified: int = 0
    written: int = 0
    refused_writes: int = 0
    connect_failures: int = 0


@dataclass(slots=True)
class _Phone:
    """A phone we connected to as central: its characteristic path once subscribed."""

    device: str
    char: str | None = None
    failures: int = 0
    retry_at: float = 0.0


@dataclass(slots=True)
class _Server:
    subscribed: bool = False
    value: bytes = b""
    writers: set[str] = field(default_factory=set)


class BitchatRadio:
    """Serve and reach bitchat phones on `adapter_path` until `stop`."""

    def __init__(self, bus: MessageBus, adapter_path: str, *,
                 emit: Callable[[TransportEvent], None], peripheral: bool = True,
                 central: bool = True, max_links: int = 4, scan_every: float = 10.0,
                 base_path: str | None = None) -> None:
        self.bus = bus
        self.adapter_path = adapter_path
        self._emit = emit
        self.peripheral = peripheral
        self.central = central
        self.max_links = max_links
        self.scan_every = scan_every
        base = base_path or f"/org/meshnode/bitchat{os.getpid()}x{id(self):x}"
        self.app_path = f"{base}/app"
        self.advert_path = f"{base}/advert"
        self._service_path = f"{self.app_path}/service0"
        self.char_path = f"{self._service_path}/char0"
        self.server = _Server()
        self.phones: dict[str, _Phone] = {}
        self.stats = RadioStats()
        self._registered: list[tuple[str, str]] = []  # (manager interface, object path)
        self._scanning = False
        self._handler_added = False

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Register the GATT application and the advert; start discovery for the central."""
        self.bus.add_message_handler(self._on_message)
        self._handler_added = True
        await self._add_match(f"type='signal',interface='{PROPERTIES}',"
                              "member='PropertiesChanged',path_namespace='/org/bluez'")
        if self.peripheral:
            await self._register(GATT_MANAGER_IFACE, "RegisterApplication", self.app_path)
            await self._register(ADV_MANAGER_IFACE, "RegisterAdvertisement", self.advert_path)
            log.info("bitchat GATT service %s and advert registered on %s", SERVICE_UUID,
                     self.adapter_path)
        if self.central:
            await call(self.bus, path=self.adapter_path, interface=ADAPTER_IFACE,
                       member="SetDiscoveryFilter", signature="a{sv}",
                       body=[{"UUIDs": Variant("as", [SERVICE_UUID]),
                              "Transport": Variant("s", "le")}])
            reply = await call(self.bus, path=self.adapter_path, interface=ADAPTER_IFACE,
                               member="StartDiscovery")
            self._scanning = reply.message_type != MessageType.ERROR
            if not self._scanning:
                log.warning("bitchat central: StartDiscovery refused (%s); connecting only "
                            "to phones BlueZ already knows", reply.error_name)

    async def stop(self) -> None:
        """Unregister and disconnect; never raises."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CALL_TIMEOUT):
                for phone in list(self.phones.values()):
                    await call(self.bus, path=phone.device, interface=DEVICE_IFACE,
                               member="Disconnect")
                if self._scanning:
                    await call(self.bus, path=self.adapter_path, interface=ADAPTER_IFACE,
                               member="StopDiscovery")
                for iface, path in reversed(self._registered):
                    member = ("UnregisterApplication" if iface == GATT_MANAGER_IFACE
                              else "UnregisterAdvertisement")
                    await call(self.bus, path=self.adapter_path, interface=iface,
                               member=member, signature="o", body=[path])
        self._registered.clear()
        self.phones.clear()
        if self._handler_added:
            self.bus.remove_message_handler(self._on_message)
            self._handler_added = False

    async def _register(self, iface: str, member: str, path: str) -> None:
        reply = await call(self.bus, path=self.adapter_path, interface=iface, member=member,
                           signature="oa{sv}", body=[path, {}])
        if reply.message_type == MessageType.ERROR:
            raise RuntimeError(f"BlueZ refused the bitchat {member[8:].lower()}: "
                               f"{reply.error_name}: {reply.body}")
        self._registered.append((iface, path))

    async def _add_match(self, rule: str) -> None:
        await call(self.bus, destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                   interface="org.freedesktop.DBus", member="AddMatch", signature="s",
                   body=[rule])

    # --- sending -------------------------------------------------------------------------

    async def broadcast(self, data: bytes, *, exclude: object = None) -> int:
        """Send one packet to every phone: notified to subscribed centrals, written to the
        phones we are connected to (except `exclude`, the link it came from). The number of
        deliveries."""
        sent = 0
        # BlueZ notifies every subscribed central at once; skip only when the one central
        # that wrote to us is the packet's own origin.
        only_origin = self.server.writers and {("bitchat", w) for w in self.server.writers} \
            == {exclude}
        if self.server.subscribed and not only_origin:
            self.server.value = data
            self.bus.send(Message.new_signal(self.char_path, PROPERTIES, "PropertiesChanged",
                                             "sa{sv}as", [CHRC_IFACE,
                                                          {"Value": Variant("ay", data)}, []]))
            self.stats.notified += 1
            sent += 1
        for phone in list(self.phones.values()):
            if phone.char is None or ("bitchat", phone.device) == exclude:
                continue
            reply = await call(self.bus, path=phone.char, interface=CHRC_IFACE,
                               member="WriteValue", signature="aya{sv}",
                               body=[data, {"type": Variant("s", "command")}])
            if reply.message_type == MessageType.ERROR:
                log.info("bitchat: write to %s failed (%s); dropping it", phone.device,
                         reply.error_name)
                self._forget(phone.device)
                continue
            self.stats.written += 1
            sent += 1
        return sent

    # --- central -------------------------------------------------------------------------

    async def scan(self, now: float) -> None:
        """Connect to phones advertising bitchat that we are not connected to yet."""
        if not self.central:
            return
        reply = await call(self.bus, path="/", interface=OBJECT_MANAGER,
                           member="GetManagedObjects")
        if reply.message_type == MessageType.ERROR:
            return
        objects: dict[str, dict[str, dict[str, Variant]]] = reply.body[0]
        for path, ifaces in sorted(objects.items()):
            props = ifaces.get(DEVICE_IFACE)
            if props is None or not path.startswith(self.adapter_path + "/"):
                continue
            if not _advertises_bitchat(props):
                continue
            phone = self.phones.get(path)
            if phone is not None and (phone.char is not None or now < phone.retry_at):
                continue
            if phone is None and len(self.phones) >= self.max_links:
                continue
            await self._connect(self.phones.setdefault(path, _Phone(path)), now)

    async def _connect(self, phone: _Phone, now: float) -> None:
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                reply = await call(self.bus, path=phone.device, interface=DEVICE_IFACE,
                                   member="Connect")
                if reply.message_type == MessageType.ERROR:
                    raise ConnectionError(reply.error_name)
                phone.char = await self._find_characteristic(phone.device)
                reply = await call(self.bus, path=phone.char, interface=CHRC_IFACE,
                                   member="StartNotify")
                if reply.message_type == MessageType.ERROR:
                    raise ConnectionError(reply.error_name)
        except (ConnectionError, TimeoutError) as exc:
            phone.char = None
            phone.failures += 1
            phone.retry_at = now + min(300.0, 5.0 * 2 ** phone.failures)
            self.stats.connect_failures += 1
            log.info("bitchat: connecting to %s failed (%s)", phone.device, exc)
            return
        log.info("bitchat: connected to phone %s", phone.device)
        self._emit(LinkUp(("bitchat", phone.device), MAX_WRITE))

    async def _find_characteristic(self, device: str) -> str:
        for _ in range(50):
            reply = await call(self.bus, path="/", interface=OBJECT_MANAGER,
                               member="GetManagedObjects")
            if reply.message_type != MessageType.ERROR:
                for path, ifaces in reply.body[0].items():
                    chrc = ifaces.get(CHRC_IFACE)
                    if (chrc is not None and path.startswith(device + "/")
                            and str(chrc["UUID"].value).lower() == CHARACTERISTIC_UUID):
                        return str(path)
            await asyncio.sleep(0.1)  # services not resolved yet
        raise ConnectionError("no bitchat characteristic on the device")

    def _forget(self, device: str) -> None:
        self.phones.pop(device, None)
        self.server.writers.discard(device)

    # --- exported objects ----------------------------------------------------------------

    def _objects(self) -> Objects:
        return {
            self.advert_path: {ADV_IFACE: {
                "Type": Variant("s", "peripheral"),
                "ServiceUUIDs": Variant("as", [SERVICE_UUID]),
            }},
            self._service_path: {SERVICE_IFACE: {
                "UUID": Variant("s", SERVICE_UUID),
                "Primary": Variant("b", True),
            }},
            self.char_path: {CHRC_IFACE: {
                "UUID": Variant("s", CHARACTERISTIC_UUID),
                "Service": Variant("o", self._service_path),
                "Flags": Variant("as", ["read", "write", "write-without-response", "notify"]),
                "Notifying": Variant("b", self.server.subscribed),
                "Value": Variant("ay", self.server.value),
            }},
        }

    def _on_message(self, msg: Message) -> bool:
        path = msg.path or ""
        if msg.message_type == MessageType.SIGNAL:
            self._signal(msg)
            return False
        if msg.message_type != MessageType.METHOD_CALL or not (
                path.startswith(self.app_path + "/") or path in (self.app_path,
                                                                 self.advert_path)):
            return False
        serve_call(self.bus, msg, "bitchat GATT server", self._dispatch)
        return True

    def _dispatch(self, msg: Message) -> Message | None:
        path = msg.path or ""
        standard = object_call(msg, path, self._objects(), self.app_path)
        if standard is not None:
            return standard
        member = msg.member
        if path == self.advert_path and member == "Release":
            log.warning("BlueZ released the bitchat advert (adapter reset or powered off)")
            return None if msg.flags.value & 1 else Message.new_method_return(msg)
        if path != self.char_path or msg.interface != CHRC_IFACE:
            raise Refused("org.freedesktop.DBus.Error.UnknownMethod", f"{member} not here")
        if member == "ReadValue":
            return Message.new_method_return(msg, "ay", [b""])
        if member == "WriteValue":
            self._written(bytes(msg.body[0]), msg.body[1])
            return Message.new_method_return(msg)
        if member in ("StartNotify", "StopNotify"):
            subscribed = member == "StartNotify"
            if subscribed and not self.server.subscribed:
                self._emit(LinkUp(("bitchat", "subscribers"), MAX_WRITE))  # announce now
            self.server.subscribed = subscribed
            return Message.new_method_return(msg)
        raise Refused("org.bluez.Error.NotSupported", f"{member} is not supported")

    def _written(self, value: bytes, options: dict[str, Any]) -> None:
        device = option(options, "device", "")
        offset = option(options, "offset", 0)
        if offset != 0 or not value or len(value) > MAX_WRITE:
            self.stats.refused_writes += 1
            raise Refused("org.bluez.Error.InvalidValueLength",
                          f"one whole packet of 1..{MAX_WRITE} bytes per write")
        self.stats.writes_in += 1
        self.server.writers.add(str(device))
        self._emit(FrameReceived(("bitchat", str(device)), value))

    def _signal(self, msg: Message) -> None:
        """A notification from a phone we connected to: PropertiesChanged on its Value."""
        if msg.member != "PropertiesChanged" or not msg.body or msg.body[0] != CHRC_IFACE:
            return
        value = msg.body[1].get("Value")
        if value is None:
            return
        for phone in self.phones.values():
            if phone.char == msg.path:
                data = bytes(value.value)
                if 0 < len(data) <= MAX_WRITE:
                    self.stats.notifications_in += 1
                    self._emit(FrameReceived(("bitchat", phone.device), data))
                return


def _advertises_bitchat(props: dict[str, Variant]) -> bool:
    uuids = props.get("UUIDs")
    data = props.get("ServiceData")
    listed = [str(u).lower() for u in (uuids.value if uuids is not None else [])]
    listed += [str(u).lower() for u in (data.value if data is not None else {})]
    return SERVICE_UUID in listed
