"""The peripheral role over BlueZ's D-Bus API with dbus-fast (bleak has no peripheral role).

We export, on our own system-bus connection, an `LEAdvertisement1` (in the "service-data"
profile, service data carrying the epoch token of `ble_token`; in the "uuid" profile, only
the service UUID; nothing else) and a GATT application (`GattManager1`) with
the characteristics of `ble_profile`. Per remote central, BlueZ hands us one socket per
direction: `AcquireWrite` (their writes to RX arrive as datagrams) and `AcquireNotify` (each
datagram we send is one notification on TX, to that central only; BlueZ 5.76+ keeps these
per device, older versions share notifications between centrals, see docs/hardware.md).
`WriteValue` is served too, for BlueZ versions or clients that do not acquire.

A link is up once its central subscribed (AcquireNotify): only then can we answer. It goes
down when either socket closes, the device disconnects, or we are stopped. At each epoch
boundary the advertisement is unregistered and registered again with the new token, so that
with LE privacy (`Privacy = device`) BlueZ/the kernel start the new advertising instance on
a fresh resolvable private address. While all peripheral slots are taken we do not advertise,
unless the connection slot rule (`meshnode.transport.slots`, asked through `admit`) would give
one of them up for a newcomer: then we advertise, and a new central takes the slot of the link
the rule names, which is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from meshnode.transport.base import TransportEvent
from meshnode.transport.ble_bluez import (
    BlueZWatch,
    Refused,
    call,
    object_call,
    option,
    serve_call,
)
from meshnode.transport.ble_links import BleLink, LinkIds
from meshnode.transport.ble_profile import (
    ATT_HEADER,
    DEFAULT_ATT_MTU,
    INFO_UUID,
    RX_UUID,
    SERVICE_UUID,
    TOKEN_UUID,
    TX_UUID,
    AdvertError,
    Info,
    encode_info,
    encode_token_value,
    fragment_size,
    parse_token_value,
    service_data,
)
from meshnode.transport.ble_token import advert_token, epoch_of, next_rotation
from meshnode.transport.slots import Admit, Verdict

__all__ = ["PeripheralRole"]

ADV_IFACE = "org.bluez.LEAdvertisement1"
ADV_MANAGER_IFACE = "org.bluez.LEAdvertisingManager1"
GATT_MANAGER_IFACE = "org.bluez.GattManager1"
SERVICE_IFACE = "org.bluez.GattService1"
CHRC_IFACE = "org.bluez.GattCharacteristic1"

TEARDOWN_TIMEOUT = 3.0

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class _Central:
    """A remote central talking to our GATT server."""

    device: str
    token: bytes | None = None  # what it wrote to TOKEN: its epoch token, for this connection
    link: BleLink | None = None
    notify: socket.socket | None = None
    write: socket.socket | None = None
    early: list[bytes] = field(default_factory=list)


class PeripheralRole:
    """Advertise and serve our GATT service on `adapter_path` until cancelled."""

    def __init__(
        self,
        bus: MessageBus,
        watch: BlueZWatch,
        adapter_path: str,
        *,
        secret: bytes,
        clock: Callable[[], float],
        emit: Callable[[TransportEvent], None],
        ids: LinkIds,
        max_links: int,
        advert_interval_ms: int = 0,
        advert_profile: str = "service-data",
        central_capable: bool = True,
        on_central_token: Callable[[bytes], None] = lambda _token: None,
        info: Info | None = None,
        base_path: str | None = None,
        admit: Callable[[], Admit] = lambda: Admit(Verdict.FULL),
    ) -> None:
        """`admit`: the slot rule's answer for a newcomer while every peripheral slot is taken
        (the engine's, over both roles' links)."""
        self.bus = bus
        self.watch = watch
        self.adapter_path = adapter_path
        self._secret = secret
        self._clock = clock
        self._emit = emit
        self._ids = ids
        self.max_links = max_links
        self._interval_ms = advert_interval_ms
        self._advertised_ms = advert_interval_ms  # the interval of the registered advert
        self._profile = advert_profile
        self._central_capable = central_capable
        self._on_central_token = on_central_token
        self._info = encode_info(info or Info())
        base = base_path or f"/org/meshnode/ble{os.getpid()}x{id(self):x}"
        self.app_path = f"{base}/app"
        self.advert_path = f"{base}/advert"
        self._service_path = f"{self.app_path}/service0"
        self._rx_path = f"{self._service_path}/rx"
        self._tx_path = f"{self._service_path}/tx"
        self._info_path = f"{self._service_path}/info"
        self._token_path = f"{self._service_path}/token"
        self._admit = admit
        self.centrals: dict[str, _Central] = {}
        self.advertising = False
        self.advert_token: bytes | None = None
        self.registrations = 0
        self._app_registered = False
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        """Register, then keep the advert current; tears everything down when cancelled."""
        self.bus.add_message_handler(self._on_message)
        self.watch.device_disconnected.append(self._device_gone)
        try:
            await self._register_app()
            while True:
                self._wake.clear()
                want = (len(self.centrals) < self.max_links
                        or self._admit().verdict is Verdict.EVICT)
                token = advert_token(self._secret, epoch_of(self._clock()))
                stale = token != self.advert_token or self._interval_ms != self._advertised_ms
                if want and (not self.advertising or stale):
                    if self.advertising:
                        await self._unregister_advert()
                    await self._register_advert(token)
                elif not want and self.advertising:
                    log.info("all %d peripheral slots in use: advertising paused", self.max_links)
                    await self._unregister_advert()
                delay = max(0.05, next_rotation(self._clock()) - self._clock())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=min(delay, 1.0))
        finally:
            await self._teardown()

    async def _teardown(self) -> None:
        for central in list(self.centrals.values()):
            self._drop(central, "BLE transport stopped")
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(TEARDOWN_TIMEOUT):
                if self.advertising:
                    await self._unregister_advert()
                if self._app_registered:
                    reply = await call(self.bus, path=self.adapter_path,
                                       interface=GATT_MANAGER_IFACE,
                                       member="UnregisterApplication", signature="o",
                                       body=[self.app_path])
                    self._app_registered = False
                    if reply.message_type == MessageType.ERROR:
                        log.debug("UnregisterApplication: %s", reply.error_name)
        self.bus.remove_message_handler(self._on_message)
        with contextlib.suppress(ValueError):
            self.watch.device_disconnected.remove(self._device_gone)

    async def _register_app(self) -> None:
        reply = await call(self.bus, path=self.adapter_path, interface=GATT_MANAGER_IFACE,
                           member="RegisterApplication", signature="oa{sv}",
                           body=[self.app_path, {}])
        if reply.message_type == MessageType.ERROR:
            raise RuntimeError(f"BlueZ refused our GATT application: {reply.error_name}: "
                               f"{reply.body}")
        self._app_registered = True
        log.info("GATT service %s registered on %s", SERVICE_UUID, self.adapter_path)

    def slots_changed(self) -> None:
        """A link's sync state changed (the daemon's `set_idle`): advertise again at once if
        the slot rule would now give a link up, or stop."""
        self._wake.set()

    @property
    def advert_interval_ms(self) -> int:
        """The advertising interval asked of BlueZ (0: BlueZ's default)."""
        return self._interval_ms

    def set_advert_interval(self, interval_ms: int) -> None:
        """Advertise every `interval_ms` (0: BlueZ's default) from now on: the advert is
        registered again with it, since BlueZ reads an advert's properties only then."""
        if interval_ms and not 20 <= interval_ms <= 10_485_000:
            raise ValueError("interval_ms must be 0 or 20..10485000")
        self._interval_ms = interval_ms
        self._wake.set()

    async def _register_advert(self, token: bytes) -> None:
        self.advert_token = token
        self._advertised_ms = self._interval_ms
        reply = await call(self.bus, path=self.adapter_path, interface=ADV_MANAGER_IFACE,
                           member="RegisterAdvertisement", signature="oa{sv}",
                           body=[self.advert_path, {}])
        if reply.message_type == MessageType.ERROR:
            raise RuntimeError(f"BlueZ refused our advertisement: {reply.error_name}: "
                               f"{reply.body}; another application may hold all advertising "
                               "instances, or the adapter lacks LE advertising")
        self.advertising = True
        self.registrations += 1
        log.debug("advertising epoch token %s", token.hex())

    async def _unregister_advert(self) -> None:
        self.advertising = False
        reply = await call(self.bus, path=self.adapter_path, interface=ADV_MANAGER_IFACE,
                           member="UnregisterAdvertisement", signature="o",
                           body=[self.advert_path])
        if reply.message_type == MessageType.ERROR:
            log.debug("UnregisterAdvertisement: %s", reply.error_name)

    # --- exported objects ----------------------------------------------------------------

    def _properties(self) -> dict[str, dict[str, dict[str, Variant]]]:
        """Interfaces and properties of every object we export, by path."""
        token = self.advert_token or advert_token(self._secret, epoch_of(self._clock()))
        advert: dict[str, Variant] = {
            "Type": Variant("s", "peripheral"), "Discoverable": Variant("b", True)}
        if self._profile == "uuid":
            # What an iOS app can advertise: the UUID alone; the token is read over GATT.
            advert["ServiceUUIDs"] = Variant("as", [SERVICE_UUID])
        else:
            advert["ServiceData"] = Variant(
                "a{sv}", {SERVICE_UUID: Variant("ay", service_data(token))})
        if self._advertised_ms:
            advert["MinInterval"] = Variant("u", self._advertised_ms)
            advert["MaxInterval"] = Variant("u", self._advertised_ms)
        return {
            self.advert_path: {ADV_IFACE: advert},
            self._service_path: {SERVICE_IFACE: {
                "UUID": Variant("s", SERVICE_UUID),
                "Primary": Variant("b", True),
            }},
            self._rx_path: {CHRC_IFACE: {
                "UUID": Variant("s", RX_UUID),
                "Service": Variant("o", self._service_path),
                "Flags": Variant("as", ["write-without-response", "write"]),
                "WriteAcquired": Variant("b", False),
            }},
            self._tx_path: {CHRC_IFACE: {
                "UUID": Variant("s", TX_UUID),
                "Service": Variant("o", self._service_path),
                "Flags": Variant("as", ["notify"]),
                "NotifyAcquired": Variant("b", False),
            }},
            self._info_path: {CHRC_IFACE: {
                "UUID": Variant("s", INFO_UUID),
                "Service": Variant("o", self._service_path),
                "Flags": Variant("as", ["read"]),
            }},
            self._token_path: {CHRC_IFACE: {
                "UUID": Variant("s", TOKEN_UUID),
                "Service": Variant("o", self._service_path),
                "Flags": Variant("as", ["read", "write"]),
            }},
        }

    def _on_message(self, msg: Message) -> bool:
        """Answer method calls on our objects; leave everything else to others."""
        path = msg.path or ""
        if msg.message_type != MessageType.METHOD_CALL or not (
                path == self.app_path or path.startswith(self.app_path + "/")
                or path == self.advert_path):
            return False
        serve_call(self.bus, msg, "BLE peripheral", self._dispatch)
        return True

    def _dispatch(self, msg: Message) -> Message | None:
        path = msg.path or ""
        standard = object_call(msg, path, self._properties(), self.app_path)
        if standard is not None:
            return standard
        iface, member = msg.interface, msg.member
        if path == self.advert_path and member == "Release":
            log.warning("BlueZ released our advertisement (adapter reset or powered off); "
                        "registering it again")
            self.advertising = False
            self._wake.set()
            return None if msg.flags.value & 1 else Message.new_method_return(msg)
        if iface != CHRC_IFACE:
            raise Refused("org.freedesktop.DBus.Error.UnknownMethod",
                           f"{iface}.{member} is not handled here")
        if path in (self._info_path, self._token_path) and member == "ReadValue":
            value = self._info if path == self._info_path else self._token_value()
            offset = option(msg.body[0], "offset", 0)
            if type(offset) is not int or not 0 <= offset <= len(value):
                raise Refused("org.bluez.Error.InvalidOffset", "offset beyond the value")
            return Message.new_method_return(msg, "ay", [value[offset:]])
        if path == self._token_path and member == "WriteValue":
            self._token_written(bytes(msg.body[0]), msg.body[1])
            return Message.new_method_return(msg)
        if path == self._rx_path and member == "WriteValue":
            self._write_value(bytes(msg.body[0]), msg.body[1])
            return Message.new_method_return(msg)
        if path == self._rx_path and member == "AcquireWrite":
            return self._acquire(msg, notify=False)
        if path == self._tx_path and member == "AcquireNotify":
            return self._acquire(msg, notify=True)
        if path == self._tx_path and member in ("StartNotify", "StopNotify"):
            raise Refused("org.bluez.Error.NotSupported",
                           "notifications are per central: use AcquireNotify")
        raise Refused("org.bluez.Error.NotSupported", f"{member} is not supported on {path}")

    def _token_value(self) -> bytes:
        """The current epoch's token (as read now, whatever the advert still shows)."""
        token = advert_token(self._secret, epoch_of(self._clock()))
        return encode_token_value(token, central=self._central_capable)

    def central_tokens(self) -> set[bytes]:
        """The tokens our connected centrals wrote to TOKEN (docs/hardware.md, "Two links
        with one peer")."""
        return {c.token for c in self.centrals.values() if c.token is not None}

    def _token_written(self, value: bytes, options: dict[str, Variant]) -> None:
        """A central tells us its token; an invalid value is refused and changes nothing."""
        try:
            peer = parse_token_value(value)
        except AdvertError as exc:
            raise Refused("org.bluez.Error.InvalidValueLength", str(exc)) from exc
        central = self._central(options)
        central.token = peer.token
        self._on_central_token(peer.token)

    # --- centrals ------------------------------------------------------------------------

    def _central(self, options: dict[str, Variant]) -> _Central:
        device = option(options, "device", "")
        if not isinstance(device, str) or not device.startswith("/org/bluez/"):
            raise Refused("org.bluez.Error.InvalidArguments", "no device in options")
        central = self.centrals.get(device)
        if central is None:
            if len(self.centrals) >= self.max_links and not self._make_room():
                log.info("refusing central %s: all %d peripheral slots in use", device,
                         self.max_links)
                self._spawn(self._disconnect_device(device))
                raise Refused("org.bluez.Error.NotPermitted", "no free slot")
            central = self.centrals[device] = _Central(device)
            self._wake.set()
        return central

    def _make_room(self) -> bool:
        """Every slot is taken: give up the link the slot rule names, if any."""
        admit = self._admit()
        if admit.verdict is not Verdict.EVICT:
            return False
        victim = next((c for c in self.centrals.values()
                       if c.link is not None and c.link.id == admit.close), None)
        if victim is None:
            return False
        log.info("BLE link %s: all %d peripheral slots in use; giving up this idle, synced "
                 "link for a newcomer", admit.close, self.max_links)
        self._drop(victim, "slot given up for a newcomer")
        self._spawn(self._disconnect_device(victim.device))
        return True

    def _acquire(self, msg: Message, *, notify: bool) -> Message | None:
        options: dict[str, Variant] = msg.body[0]
        central = self._central(options)
        mtu = option(options, "mtu", DEFAULT_ATT_MTU)
        payload = fragment_size(mtu if type(mtu) is int else DEFAULT_ATT_MTU)
        mtu = payload + ATT_HEADER
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        old = central.notify if notify else central.write
        if old is not None:
            self._close_socket(old)
        if notify:
            central.notify = ours
        else:
            central.write = ours
        loop = asyncio.get_running_loop()
        loop.add_reader(ours.fileno(), self._readable, central, ours, notify)
        reply = Message.new_method_return(msg, "hq", [0, mtu], [theirs.fileno()])
        self._spawn(self._send_fd(reply, theirs))
        if notify:
            link = BleLink(self._ids.new("p"), payload, self._emit,
                           self._notifier(central))
            central.link = link
            link.announce()
            log.info("BLE link %s up (peripheral, %d-byte fragments)", link.id, link.payload)
            now = loop.time()
            early, central.early = central.early, []
            for fragment in early:
                link.fragment_in(fragment, now)
        return None

    async def _send_fd(self, reply: Message, sock: socket.socket) -> None:
        try:
            await self.bus.send(reply)  # resolves once written, fd included
        finally:
            sock.close()

    def _notifier(self, central: _Central) -> Callable[[bytes], Any]:
        async def write(fragment: bytes) -> None:
            sock = central.notify
            if sock is None:
                raise ConnectionError("notifications not acquired")
            await asyncio.get_running_loop().sock_sendall(sock, fragment)
        return write

    def _readable(self, central: _Central, sock: socket.socket, notify: bool) -> None:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(central, "central unsubscribed" if notify else "central stopped writing")
            return
        if not notify:
            self._fragment(central, data)
        # on the notify socket BlueZ only writes indication confirmations: nothing to do

    def _write_value(self, value: bytes, options: dict[str, Variant]) -> None:
        self._fragment(self._central(options), value)

    def _fragment(self, central: _Central, data: bytes) -> None:
        if central.link is None:
            if len(central.early) < 64:
                central.early.append(data)
            return
        central.link.fragment_in(data, asyncio.get_running_loop().time())

    def _device_gone(self, device_path: str) -> None:
        central = self.centrals.get(device_path)
        if central is not None:
            self._drop(central, "central disconnected")

    def _drop(self, central: _Central, reason: str) -> None:
        if self.centrals.get(central.device) is central:
            del self.centrals[central.device]
            self._wake.set()
        for sock in (central.notify, central.write):
            if sock is not None:
                self._close_socket(sock)
        central.notify = central.write = None
        if central.link is not None and not central.link.down:
            central.link.finish(reason)
            log.info("BLE link %s down: %s", central.link.id, reason)

    def _close_socket(self, sock: socket.socket) -> None:
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(sock.fileno())
        sock.close()

    async def _disconnect_device(self, device: str) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(TEARDOWN_TIMEOUT):
                await call(self.bus, path=device, interface="org.bluez.Device1",
                           member="Disconnect")

    def link(self, link_id: object) -> BleLink | None:
        for central in self.centrals.values():
            if central.link is not None and central.link.id == link_id:
                return central.link
        return None

    async def close(self, link_id: object, reason: str) -> bool:
        for central in list(self.centrals.values()):
            if central.link is not None and central.link.id == link_id:
                self._drop(central, reason)
                await self._disconnect_device(central.device)
                return True
        return False

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

