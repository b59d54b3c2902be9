"""BlueZ on the system bus: start-up checks with operator advice, and watching it come and go.

`check_adapter` reads BlueZ's object tree once and says which roles can run on the
configured adapter, and, for what cannot, exactly what the operator should fix.
`BlueZWatch` follows `org.bluez` on the bus (bluetoothd restarts) and the adapter
(removed, powered off) and sets `changed` whenever something relevant happens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

__all__ = [
    "ADAPTER_IFACE",
    "BLUEZ",
    "DEVICE_IFACE",
    "INTROSPECTABLE",
    "AdapterStatus",
    "BlueZWatch",
    "Objects",
    "Refused",
    "check_adapter",
    "connect_system_bus",
    "object_call",
    "option",
    "serve_call",
]

BLUEZ = "org.bluez"
ADAPTER_IFACE = "org.bluez.Adapter1"
DEVICE_IFACE = "org.bluez.Device1"
ADV_MANAGER_IFACE = "org.bluez.LEAdvertisingManager1"
GATT_MANAGER_IFACE = "org.bluez.GattManager1"
MONITOR_MANAGER_IFACE = "org.bluez.AdvertisementMonitorManager1"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
PROPERTIES = "org.freedesktop.DBus.Properties"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"

Objects = dict[str, dict[str, dict[str, Variant]]]  # path -> interface -> property -> value

log = logging.getLogger(__name__)


async def connect_system_bus() -> MessageBus:
    """A new connection to the system bus ($DBUS_SYSTEM_BUS_ADDRESS), able to pass fds."""
    bus = MessageBus(bus_type=BusType.SYSTEM, negotiate_unix_fd=True)
    try:
        await bus.connect()
    except BaseException:
        bus.disconnect()
        raise
    return bus


async def call(bus: MessageBus, *, path: str, interface: str, member: str,
               signature: str = "", body: list[Any] | None = None,
               destination: str = BLUEZ) -> Message:
    """One method call; the reply, which may be an error message (not raised)."""
    return await bus.call(Message(destination=destination, path=path, interface=interface,
                                  member=member, signature=signature, body=body or []))


class Refused(Exception):
    """A method call on one of our exported objects, answered with the D-Bus error `name`."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name = name


def option(options: dict[str, Any], key: str, default: Any) -> Any:
    """One entry of a BlueZ options dict (a{sv}), unwrapped; `default` when absent."""
    value = options.get(key)
    if isinstance(value, Variant):
        return value.value
    return default if value is None else value


def serve_call(bus: MessageBus, msg: Message, name: str,
               dispatch: Callable[[Message], Message | None]) -> None:
    """Answer `msg` with `dispatch(msg)`; `Refused` and our own bugs become D-Bus errors, so
    that BlueZ is never left waiting. `name` labels the log line of a bug."""
    try:
        reply = dispatch(msg)
    except Refused as exc:
        reply = Message.new_error(msg, exc.name, str(exc))
    except Exception as exc:
        log.exception("%s: %s.%s failed", name, msg.interface, msg.member)
        reply = Message.new_error(msg, "org.bluez.Error.Failed", type(exc).__name__)
    if reply is not None:
        bus.send(reply)


def object_call(msg: Message, path: str, objects: Objects, root: str) -> Message | None:
    """The standard calls on exported `objects`: Properties.Get/GetAll, Introspect, and
    ObjectManager.GetManagedObjects on `root` (the application BlueZ reads); None for any
    other call (the caller's own methods). Raises `Refused` for a missing interface."""
    iface, member = msg.interface, msg.member
    if iface == PROPERTIES and member in ("GetAll", "Get") and path in objects:
        props = objects[path].get(msg.body[0])
        if props is None:
            raise Refused("org.freedesktop.DBus.Error.InvalidArgs", "no such interface")
        if member == "GetAll":
            return Message.new_method_return(msg, "a{sv}", [props])
        if msg.body[1] not in props:
            raise Refused("org.freedesktop.DBus.Error.InvalidArgs", "no such property")
        return Message.new_method_return(msg, "v", [props[msg.body[1]]])
    if iface == OBJECT_MANAGER and member == "GetManagedObjects" and path == root:
        tree = {p: i for p, i in objects.items() if p.startswith(root + "/")}
        return Message.new_method_return(msg, "a{oa{sa{sv}}}", [tree])
    if iface == INTROSPECTABLE and member == "Introspect":
        children = sorted({p[len(path) + 1:].split("/", 1)[0] for p in objects
                           if p.startswith(path + "/")})
        ifaces = "".join(f'<interface name="{i}"/>' for i in objects.get(path, {}))
        nodes = "".join(f'<node name="{c}"/>' for c in children)
        return Message.new_method_return(msg, "s", [f"<node>{ifaces}{nodes}</node>"])
    return None


@dataclass(frozen=True, slots=True)
class AdapterStatus:
    """What can run on the adapter, and what the operator must fix for the rest."""

    path: str | None
    central: bool
    peripheral: bool
    passive_scan: bool
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def usable(self) -> bool:
        return self.central or self.peripheral


def _no(path: str | None, *problems: str) -> AdapterStatus:
    return AdapterStatus(path, False, False, False, problems)


async def check_adapter(bus: MessageBus, adapter: str, *, want_central: bool,
                        want_peripheral: bool, passive: bool) -> AdapterStatus:
    """Check BlueZ and the adapter for the roles wanted; never raises for a missing piece."""
    reply = await call(bus, path="/", interface=OBJECT_MANAGER, member="GetManagedObjects")
    if reply.message_type == MessageType.ERROR:
        if reply.error_name in ("org.freedesktop.DBus.Error.ServiceUnknown",
                                "org.freedesktop.DBus.Error.NameHasNoOwner"):
            return _no(None, "BlueZ (bluetoothd) is not running on the system bus: install "
                             "BlueZ 5.66 or later and start it (sudo systemctl enable --now "
                             "bluetooth)")
        return _no(None, f"BlueZ did not answer GetManagedObjects ({reply.error_name}: "
                         f"{reply.body}); check that this user may talk to org.bluez "
                         "(the 'bluetooth' group or a D-Bus policy)")
    objects: dict[str, dict[str, dict[str, Any]]] = {
        path: {iface: {k: v.value for k, v in props.items()} for iface, props in ifaces.items()}
        for path, ifaces in reply.body[0].items()
    }
    adapters = sorted(p for p, i in objects.items() if ADAPTER_IFACE in i)
    if adapter:
        path = f"/org/bluez/{adapter}"
        if path not in adapters:
            found = ", ".join(p.rsplit("/", 1)[-1] for p in adapters) or "none"
            return _no(None, f"no Bluetooth adapter '{adapter}' (adapters found: {found}); "
                             "check `bluetoothctl list` and `rfkill list` (unblock with "
                             "`sudo rfkill unblock bluetooth`), or set [transport.ble] adapter")
    elif adapters:
        path = adapters[0]
    else:
        return _no(None, "no Bluetooth adapter found; plug one in, check `rfkill list` "
                         "(unblock with `sudo rfkill unblock bluetooth`) and `bluetoothctl list`")
    ifaces = objects[path]
    props = ifaces[ADAPTER_IFACE]
    name = path.rsplit("/", 1)[-1]
    if not props.get("Powered", False):
        return _no(path, f"adapter {name} is powered off: run `bluetoothctl power on`; if it "
                         "refuses, it is soft-blocked: `sudo rfkill unblock bluetooth`")
    problems: list[str] = []
    roles = props.get("Roles")
    if not isinstance(roles, list):
        problems.append(f"BlueZ does not report the roles of {name} (an old BlueZ): upgrade "
                        "BlueZ to 5.66 or later; trying both roles anyway")
        roles = ["central", "peripheral"]  # try anyway
    central = want_central and "central" in roles
    if want_central and "central" not in roles:
        problems.append(f"adapter {name} cannot act as a BLE central (Roles = {list(roles)}); "
                        "use a Bluetooth 4.0+ LE adapter")
    peripheral = want_peripheral and "peripheral" in roles
    if want_peripheral and "peripheral" not in roles:
        problems.append(f"adapter {name} cannot act as a BLE peripheral (Roles = "
                        f"{list(roles)}); use an adapter with LE peripheral support")
    if peripheral and ADV_MANAGER_IFACE not in ifaces:
        peripheral = False
        problems.append(f"BlueZ offers no LEAdvertisingManager1 on {name}: upgrade BlueZ to "
                        "5.66 or later (older versions need bluetoothd --experimental)")
    if peripheral and GATT_MANAGER_IFACE not in ifaces:
        peripheral = False
        problems.append(f"BlueZ offers no GattManager1 on {name}: upgrade BlueZ to 5.66 or "
                        "later (older versions need bluetoothd --experimental)")
    passive_scan = MONITOR_MANAGER_IFACE in ifaces
    if central and passive and not passive_scan:
        problems.append("passive scanning needs BlueZ's AdvertisementMonitorManager1: start "
                        "bluetoothd with --experimental (Linux 5.10+), or set scan_mode = "
                        "\"active\"; scanning actively meanwhile")
    return AdapterStatus(path, central, peripheral, passive_scan, tuple(problems))


class BlueZWatch:
    """Follows org.bluez and the adapters on `bus`; `changed` is set on anything relevant.

    `present` says whether org.bluez currently has an owner; `lost` is set when it goes
    away (bluetoothd stopped or crashed) and stays set until `reset()`.
    """

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.changed = asyncio.Event()
        self.lost = asyncio.Event()
        self.bus_gone = asyncio.Event()
        self.adapter_gone = asyncio.Event()
        self.adapter_path: str | None = None
        self.present = False
        self.device_disconnected: list[Callable[[str], None]] = []  # peripheral links

    async def start(self) -> None:
        for rule in (
            "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
            "member='NameOwnerChanged',arg0='org.bluez'",
            f"type='signal',sender='{BLUEZ}',interface='{OBJECT_MANAGER}',"
            "member='InterfacesAdded'",
            f"type='signal',sender='{BLUEZ}',interface='{OBJECT_MANAGER}',"
            "member='InterfacesRemoved'",
            f"type='signal',sender='{BLUEZ}',interface='{PROPERTIES}',"
            "member='PropertiesChanged',path_namespace='/org/bluez'",
        ):
            await call(self.bus, destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                       interface="org.freedesktop.DBus", member="AddMatch", signature="s",
                       body=[rule])
        self.bus.add_message_handler(self._on_message)
        reply = await call(self.bus, destination="org.freedesktop.DBus",
                           path="/org/freedesktop/DBus", interface="org.freedesktop.DBus",
                           member="NameHasOwner", signature="s", body=[BLUEZ])
        self.present = reply.message_type == MessageType.METHOD_RETURN and bool(reply.body[0])

    def reset(self, adapter_path: str | None) -> None:
        """Start watching `adapter_path` afresh (after a successful check)."""
        self.adapter_path = adapter_path
        self.lost.clear()
        self.adapter_gone.clear()
        self.changed.clear()

    def _on_message(self, msg: Message) -> bool:
        if msg.message_type != MessageType.SIGNAL:
            return False
        member = msg.member
        if member == "NameOwnerChanged" and msg.body and msg.body[0] == BLUEZ:
            was, now = self.present, bool(msg.body[2])
            self.present = now
            if was and not now:
                log.warning("BlueZ (org.bluez) left the system bus: bluetoothd stopped or "
                            "crashed; BLE links are down until it returns")
                self.lost.set()
            elif now and not was:
                log.info("BlueZ (org.bluez) is back on the system bus")
            self.changed.set()
        elif member == "InterfacesAdded" and msg.body:
            if ADAPTER_IFACE in msg.body[1]:
                self.changed.set()
        elif member == "InterfacesRemoved" and msg.body:
            path, ifaces = msg.body[0], msg.body[1]
            if ADAPTER_IFACE in ifaces:
                if path == self.adapter_path:
                    log.warning("Bluetooth adapter %s was removed", path)
                    self.adapter_gone.set()
                self.changed.set()
            elif DEVICE_IFACE in ifaces:
                for callback in list(self.device_disconnected):
                    callback(path)
        elif member == "PropertiesChanged" and msg.body and msg.path:
            iface, changed = msg.body[0], msg.body[1]
            if iface == ADAPTER_IFACE:
                powered = changed.get("Powered")
                if powered is not None and not powered.value and msg.path == self.adapter_path:
                    log.warning("Bluetooth adapter %s was powered off", msg.path)
                    self.adapter_gone.set()
                self.changed.set()
            elif iface == DEVICE_IFACE:
                connected = changed.get("Connected")
                if connected is not None and not connected.value:
                    for callback in list(self.device_disconnected):
                        callback(msg.path)
        return False  # others (bleak shares nothing with us, but be polite) may want it too
