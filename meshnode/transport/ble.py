"""The BLE transport: central (bleak) and peripheral (BlueZ D-Bus) behind one `Transport`.

The daemon builds it from `[transport.ble]` and the device secret::

    config = BleConfig.from_mapping(toml["transport"].get("ble", {}))
    secret = load_or_create_secret(data_dir / SECRET_FILE)
    transport = BleTransport(config, secret=secret)
    nursery.start_soon(transport.run, events_send_channel)

`run` never fails for a missing or broken adapter: it logs what the operator must fix and
waits for BlueZ/the adapter to become usable, so the daemon's other transports keep going.
All BlueZ work happens in `BleEngine` on the bridge's asyncio loop; trio only calls
`send`/`close` through the bridge and forwards the bridge's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import trio
from dbus_fast import MessageType
from dbus_fast.aio import MessageBus

from meshnode.alerts.urgency import RadioSettings
from meshnode.transport.base import LinkDown, LinkId, TransportEvent
from meshnode.transport.ble_bluez import (
    AdapterStatus,
    BlueZWatch,
    call,
    check_adapter,
    connect_system_bus,
)
from meshnode.transport.ble_bridge import AsyncioBridge, BridgeClosed, BridgeTimeout
from meshnode.transport.ble_central import CentralRole
from meshnode.transport.ble_config import BleConfig
from meshnode.transport.ble_links import BleLink, LinkIds
from meshnode.transport.ble_peripheral import PeripheralRole
from meshnode.transport.ble_token import advert_token, epoch_of
from meshnode.transport.slots import Admit, Held, Role, SlotLimits

__all__ = ["BleEngine", "BleStatus", "BleTransport", "normal_radio"]

log = logging.getLogger(__name__)

RECHECK = 30.0  # seconds between checks while BlueZ or the adapter is unusable
STOP_TIMEOUT = 10.0  # for unregistering and disconnecting when the transport stops


@dataclass(frozen=True, slots=True)
class BleStatus:
    """A snapshot for the daemon's status API."""

    state: str
    adapter: str | None
    problems: tuple[str, ...]
    central_links: int
    peripheral_links: int
    advertising: bool
    bridge_drops: int
    scan_window: float  # the duty cycle in force (the config's, or the daemon's urgent one)
    scan_interval: float
    advert_interval_ms: int  # 0: BlueZ's default
    yield_time: float  # in force: the config's, or the daemon's urgent one (0: no yielding)


def normal_radio(config: BleConfig) -> RadioSettings:
    """The device's own duty cycle and yield time, from `[transport.ble]` (advertising at
    BlueZ's default interval when `advert_interval_ms` is 0)."""
    adv = config.advert_interval_ms / 1000 if config.advert_interval_ms else math.inf
    return RadioSettings(config.scan_window, config.scan_interval, adv, config.yield_time)


def _interval_ms(settings: RadioSettings) -> int:
    """BlueZ's advertising interval for `settings` (0: its default), within what it accepts."""
    if math.isinf(settings.adv_interval):
        return 0
    return min(10_485_000, max(20, round(settings.adv_interval * 1000)))


class BleEngine:
    """Everything on the asyncio side: checks, BlueZ watching, the two roles."""

    def __init__(self, config: BleConfig, *, secret: bytes, clock: Callable[[], float],
                 emit: Callable[[TransportEvent], None]) -> None:
        self.config = config
        self._secret = secret
        self._clock = clock
        self._emit = emit
        self._ids = LinkIds()
        self.radio = normal_radio(config)  # the duty cycle the roles apply
        self.state = "starting"
        self.status: AdapterStatus | None = None
        self.central: CentralRole | None = None
        self.peripheral: PeripheralRole | None = None
        self.bus: MessageBus | None = None
        self._reported: tuple[str, ...] = ()
        self._tasks: set[asyncio.Task[None]] = set()
        # The daemon's word on its links (`set_idle`): since when each has had nothing to
        # carry, and whether the node holds a fresh alert; read by the slot rule.
        self.idle: dict[LinkId, float] = {}
        self.urgent = False
        self.limits = SlotLimits.split(config.max_central_links, config.max_peripheral_links)

    def own_token(self) -> bytes:
        return advert_token(self._secret, epoch_of(self._clock()))

    async def run(self) -> None:
        """Check, run the roles, and start over whenever BlueZ or the adapter goes away."""
        try:
            while True:
                try:
                    self.bus = await connect_system_bus()
                except Exception as exc:  # no system bus: dbus-fast raises OSError/AuthError
                    self._report((f"cannot connect to the system D-Bus ({exc}); is dbus "
                                  "running and DBUS_SYSTEM_BUS_ADDRESS right?",))
                    await asyncio.sleep(RECHECK)
                    continue
                try:
                    await self._serve(self.bus)
                except Exception:  # a bug or a BlueZ surprise: log it, start over
                    log.exception("BLE engine error; starting over in %.0f s", RECHECK)
                    await asyncio.sleep(RECHECK)
                finally:
                    if self.bus is not None:
                        self.bus.disconnect()
                    self.bus = None
                await asyncio.sleep(self.config.bluez_restart_delay)
        finally:
            self.state = "stopped"

    async def _serve(self, bus: MessageBus) -> None:
        watch = BlueZWatch(bus)
        await watch.start()
        bus_watch = asyncio.get_running_loop().create_task(self._watch_bus(bus, watch))
        try:
            while bus.connected:
                watch.changed.clear()
                status = await self._check(bus)
                self.status = status
                if not status.usable:
                    self.state = "waiting"
                    self._report(status.problems)
                    await _first(watch.changed.wait(), watch.bus_gone.wait(), timeout=RECHECK)
                    continue
                if status.problems:
                    self._report(status.problems)
                watch.reset(status.path)
                await self._run_roles(bus, watch, status)
                self._reported = ()
                if bus.connected:
                    await asyncio.sleep(self.config.bluez_restart_delay)
        finally:
            bus_watch.cancel()

    @staticmethod
    async def _watch_bus(bus: MessageBus, watch: BlueZWatch) -> None:
        with contextlib.suppress(Exception):
            await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
        log.warning("lost the system D-Bus connection; reconnecting")
        watch.bus_gone.set()
        watch.lost.set()

    async def _check(self, bus: MessageBus) -> AdapterStatus:
        try:
            async with asyncio.timeout(self.config.call_timeout):
                return await check_adapter(
                    bus, self.config.adapter, want_central=self.config.central,
                    want_peripheral=self.config.peripheral,
                    passive=self.config.scan_mode == "passive")
        except TimeoutError:
            return AdapterStatus(None, False, False, False,
                                 ("BlueZ did not answer within call_timeout; is bluetoothd "
                                  "stuck? (sudo systemctl restart bluetooth)",))

    async def _run_roles(self, bus: MessageBus, watch: BlueZWatch,
                         status: AdapterStatus) -> None:
        assert status.path is not None
        adapter = status.path.rsplit("/", 1)[-1]
        self.state = "running"
        roles: list[Coroutine[Any, Any, None]] = []
        if status.peripheral and self.config.max_peripheral_links > 0:
            self.peripheral = PeripheralRole(
                bus, watch, status.path, secret=self._secret, clock=self._clock,
                emit=self._emit, ids=self._ids, max_links=self.config.max_peripheral_links,
                advert_interval_ms=_interval_ms(self.radio),
                advert_profile=self.config.advert,
                admit=lambda: self.admit(Role.PERIPHERAL),
                central_capable=(status.central and self.config.central
                                 and self.config.max_central_links > 0),
                on_central_token=self._central_token)
            roles.append(self._supervised("peripheral", self.peripheral.run))
        if status.central and self.config.max_central_links > 0:
            peripheral = self.peripheral
            self.central = CentralRole(
                self.config, adapter=adapter, emit=self._emit, ids=self._ids,
                own_token=self.own_token,
                busy_devices=lambda: set(peripheral.centrals) if peripheral else set(),
                central_tokens=peripheral.central_tokens if peripheral else set,
                acquire_mtu=self._acquire_mtu,
                passive=self.config.scan_mode == "passive" and status.passive_scan,
                admit=lambda: self.admit(Role.CENTRAL))
            self.central.set_duty(self.radio.scan_window, self.radio.scan_interval)
            self.central.set_yield(self.radio.yield_time)
            roles.append(self._supervised("central", self.central.run))
        log.info("BLE transport running on %s (central: %s, peripheral: %s)", adapter,
                 "yes" if self.central else "no", "yes" if self.peripheral else "no")
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(role) for role in roles]
                stop = group.create_task(_first(watch.lost.wait(), watch.adapter_gone.wait()))
                await asyncio.wait([stop, *tasks], return_when=asyncio.FIRST_COMPLETED)
                for task in [stop, *tasks]:
                    task.cancel()
        except* Exception as group_error:
            for exc in group_error.exceptions:
                log.error("BLE role failed: %s: %s", type(exc).__name__, exc)
        finally:
            self.central = None
            self.peripheral = None
            self.state = "restarting"
        if watch.lost.is_set():
            log.warning("waiting for BlueZ to return to the bus")
        elif watch.adapter_gone.is_set():
            log.warning("waiting for adapter %s to return and be powered", adapter)

    @staticmethod
    async def _supervised(name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run a role; if it fails (BlueZ refused a registration...), log and retry it alone."""
        while True:
            try:
                await run()
            except Exception as exc:
                log.error("BLE %s role failed (%s: %s); retrying in %.0f s", name,
                          type(exc).__name__, exc, RECHECK)
            await asyncio.sleep(RECHECK)

    def _central_token(self, token: bytes) -> None:
        """A central wrote its token to our TOKEN: the central role closes its own link to
        that peer if that is the duplicate to go (docs/hardware.md, rule 5)."""
        central = self.central
        if central is None:
            return
        task = asyncio.get_running_loop().create_task(central.on_central_token(token))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _acquire_mtu(self, path: str) -> int | None:
        """The ATT MTU of a connection, from AcquireWrite on one of its characteristics."""
        bus = self.bus
        if bus is None:
            return None
        try:
            async with asyncio.timeout(self.config.call_timeout):
                reply = await call(bus, path=path, interface="org.bluez.GattCharacteristic1",
                                   member="AcquireWrite", signature="a{sv}", body=[{}])
        except TimeoutError:
            return None
        for fd in reply.unix_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        if reply.message_type != MessageType.METHOD_RETURN:
            return None
        mtu = reply.body[1]
        return mtu if isinstance(mtu, int) else None

    def _report(self, problems: tuple[str, ...]) -> None:
        if problems != self._reported:
            for problem in problems:
                log.error("BLE: %s", problem)
            self._reported = problems

    # --- the connection slot rule -------------------------------------------------------

    def held(self) -> list[Held]:
        """Every link of both roles as the slot rule sees it; a connect under way holds a
        central slot and carries something."""
        held: list[Held] = []
        if self.central is not None:
            held.extend(Held(link, Role.CENTRAL, self.idle.get(link))
                        for link in self.central.links)
            held.extend(Held(("connecting", token), Role.CENTRAL, None)
                        for token in self.central.connecting)
        if self.peripheral is not None:
            for central in self.peripheral.centrals.values():
                link = central.link
                held.append(Held(link.id if link else ("setting up", central.device),
                                 Role.PERIPHERAL, self.idle.get(link.id) if link else None))
        return held

    def admit(self, role: Role) -> Admit:
        """The slot rule's answer for a newcomer in `role` now."""
        return self.config.slots.admit(self.limits, self.held(), role, self._clock(),
                                       self.urgent)

    def set_idle(self, idle: dict[LinkId, float], urgent: bool) -> None:
        """The daemon's links that have nothing to carry, each since when (its clock), and
        whether the node holds a fresh alert: a full role may now give one up, or not."""
        self.idle, self.urgent = idle, urgent
        for role in (self.central, self.peripheral):
            if role is not None:
                role.slots_changed()

    # --- commands from trio --------------------------------------------------------------

    def set_radio(self, settings: RadioSettings) -> None:
        """Apply a duty cycle and yield time now, and to roles started later (after BlueZ
        came back)."""
        self.radio = settings
        if self.central is not None:
            self.central.set_duty(settings.scan_window, settings.scan_interval)
            self.central.set_yield(settings.yield_time)
        if self.peripheral is not None:
            self.peripheral.set_advert_interval(_interval_ms(settings))

    def _link(self, link: LinkId) -> BleLink | None:
        for role in (self.central, self.peripheral):
            found = role.link(link) if role is not None else None
            if found is not None:
                return found
        return None

    async def send(self, link: LinkId, frame: bytes) -> bool:
        target = self._link(link)
        if target is None:
            return False
        try:
            return await target.send(frame)
        except (ConnectionError, OSError) as exc:
            target.finish(f"send failed: {exc}")
            return False

    async def close(self, link: LinkId, reason: str) -> bool:
        for role in (self.central, self.peripheral):
            if role is not None and await role.close(link, reason):
                return True
        return False

    def snapshot(self, drops: int) -> BleStatus:
        return BleStatus(
            state=self.state,
            adapter=self.status.path if self.status else None,
            problems=self.status.problems if self.status else (),
            central_links=len(self.central.links) if self.central else 0,
            peripheral_links=len(self.peripheral.centrals) if self.peripheral else 0,
            advertising=bool(self.peripheral and self.peripheral.advertising),
            bridge_drops=drops,
            scan_window=self.central.scan_window if self.central else self.radio.scan_window,
            scan_interval=(self.central.scan_interval if self.central
                           else self.radio.scan_interval),
            advert_interval_ms=(self.peripheral.advert_interval_ms if self.peripheral
                                else _interval_ms(self.radio)),
            yield_time=self.central.yield_time if self.central else self.radio.yield_time)


async def _first(*coros: Coroutine[Any, Any, object], timeout: float | None = None) -> None:
    """Run `coros` until the first completes, or `timeout`; cancel the others."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()


class BleTransport:
    """The `Transport` protocol over Bluetooth LE (see the module docstring)."""

    def __init__(self, config: BleConfig, *, secret: bytes,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._secret = secret
        self._clock = clock
        self._bridge: AsyncioBridge | None = None
        self._engine: BleEngine | None = None
        self._open: set[LinkId] = set()
        self._radio = normal_radio(config)

    @property
    def engine(self) -> BleEngine | None:
        return self._engine

    @property
    def drops(self) -> int:
        return self._bridge.drops if self._bridge else 0

    async def run(self, events: trio.MemorySendChannel[TransportEvent]) -> None:
        async with AsyncioBridge(event_limit=self.config.event_queue) as bridge:
            self._bridge = bridge
            engine = self._engine = BleEngine(self.config, secret=self._secret,
                                              clock=self._clock, emit=bridge.emit)
            engine.radio = self._radio
            runner = bridge.spawn(engine.run, name="BLE engine")
            try:
                while True:
                    event = await bridge.next_event()
                    if isinstance(event, LinkDown):
                        self._open.discard(event.link)
                    else:
                        self._open.add(event.link)
                    await events.send(event)
                    for link in list(bridge.inbox.damaged):
                        bridge.inbox.damaged.discard(link)
                        log.warning("BLE link %s lost frames (daemon too slow): closing it",
                                    link)
                        await self.close(link, "frames dropped: daemon too slow")
            finally:
                with trio.CancelScope(shield=True):
                    await runner.stop(STOP_TIMEOUT)
                    await self._announce_down(events)
                self._bridge = None

    async def _announce_down(self, events: trio.MemorySendChannel[TransportEvent]) -> None:
        """Links still open when we stop: the daemon gets their `LinkDown` now."""
        for link in list(self._open):
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError,
                                     trio.WouldBlock):
                events.send_nowait(LinkDown(link, "BLE transport stopped"))
        self._open.clear()

    @property
    def radio(self) -> RadioSettings:
        """The duty cycle last asked for (the config's until `set_radio`)."""
        return self._radio

    def set_radio(self, settings: RadioSettings) -> None:
        """Scan, advertise and yield at `settings` from now on (the daemon's urgent
        dissemination switch, `meshnode.daemon.radio`); kept across BlueZ restarts. Returns at
        once: the BlueZ work happens on the bridge's loop."""
        self._radio = settings
        bridge, engine = self._bridge, self._engine
        if bridge is None or engine is None:
            return
        with contextlib.suppress(BridgeClosed, RuntimeError):  # stopping: nothing to apply
            bridge.loop.call_soon_threadsafe(engine.set_radio, settings)

    def set_idle(self, idle: dict[LinkId, float], urgent: bool) -> None:
        """Tell the slot rule (`meshnode.transport.slots`) which of our links have had nothing
        to carry either way, each since when (`Node.idle_since`, on the clock the transport
        was given), and whether the node holds a fresh alert. A driver calls it whenever that
        changes; links not named carry something. Returns at once."""
        bridge, engine = self._bridge, self._engine
        if bridge is None or engine is None:
            return
        mine = {link: since for link, since in idle.items() if link in self._open}
        with contextlib.suppress(BridgeClosed, RuntimeError):  # stopping: nothing to apply
            bridge.loop.call_soon_threadsafe(engine.set_idle, mine, urgent)

    async def send(self, link: LinkId, frame: bytes) -> None:
        bridge, engine = self._bridge, self._engine
        if bridge is None or engine is None or link not in self._open:
            return
        try:
            await bridge.call(lambda: engine.send(link, frame),
                              timeout=self.config.call_timeout)
        except BridgeTimeout:
            log.warning("BLE send on %s timed out: closing the link", link)
            await self.close(link, "send timed out")
        except BridgeClosed:
            pass

    async def close(self, link: LinkId, reason: str) -> None:
        bridge, engine = self._bridge, self._engine
        if bridge is None or engine is None:
            return
        with contextlib.suppress(BridgeTimeout, BridgeClosed):
            await bridge.call(lambda: engine.close(link, reason),
                              timeout=self.config.call_timeout)

    async def status(self) -> BleStatus | None:
        bridge, engine = self._bridge, self._engine
        if bridge is None or engine is None:
            return None
        drops = bridge.drops

        async def snap() -> BleStatus:
            return engine.snapshot(drops)

        return await bridge.call(snap, timeout=self.config.call_timeout)

