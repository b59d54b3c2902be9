"""The central role with bleak: scan for our service, connect, sync over GATT (asyncio side).

A scan cycle listens for `scan_window` seconds in every `scan_interval` (an application-level
duty cycle; the radio's own window/interval are BlueZ's, see docs/hardware.md), remembering
each peer by the token in its service data. A scan ends early when a peer is ready to be
connected: the radio is left alone while connecting, which BlueZ handles best.

Who to connect to: peers not linked recently first (never-seen tokens, then the longest ago),
then by signal strength; never a peer already linked to us as a central, nor one in back-off
after failed attempts (exponential, `backoff_initial` doubling up to `backoff_max`), nor one
already linked to us as a peripheral whose central wrote its token to us (any token: the
link is there). Of two meshnode devices, the one with the lower token connects; the other
waits the yield time in force before trying itself, so that one link forms, not two: the
config's `yield_time`, or 0 while the daemon's urgent-dissemination switch says so
(`set_yield`, the core's `meshnode.alerts.urgency`). At most `max_central_links` links at once;
when they are all in use the central goes on scanning only while the connection slot rule
(`meshnode.transport.slots`, asked through `admit`) would give one of them up for a
newcomer, and gives it up (closes it) just before connecting to one.

A peer in the "uuid" advert profile (an iOS app: service UUID only, no token) is connected
at once, remembered by its address until its TOKEN characteristic is read. Then the link is
given up if it is ourselves or a token already linked, or if the peer can connect itself
and has the lower token (it will connect to us; we try again ourselves only after the yield
time); a peer that flags itself central-limited is always kept.

A link: connect (with `connect_timeout`), find our service, check INFO, learn the payload
size (the RX characteristic's `MTU` property, BlueZ 5.62+, else `AcquireWrite`), subscribe
to TX notifications, then report `LinkUp`. Frames go out as write-without-response
fragments. The link ends on disconnect, on a failed write, or on `close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.args.bluez import BlueZScannerArgs, OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from meshnode.transport.base import LinkId, TransportEvent
from meshnode.transport.ble_config import BACKOFF_JITTER, BleConfig, backoff_delay
from meshnode.transport.ble_links import BleLink, LinkIds
from meshnode.transport.ble_profile import (
    DEFAULT_ATT_MTU,
    INFO_UUID,
    RX_UUID,
    SERVICE_UUID,
    TOKEN_UUID,
    TX_UUID,
    AdvertError,
    decode_info,
    encode_token_value,
    fragment_size,
    parse_service_data,
    parse_token_value,
    uuid_le,
)
from meshnode.transport.framing import MIN_MTU
from meshnode.transport.slots import Admit, Verdict

__all__ = ["Candidate", "CentralRole", "LinkSetupError"]

TEARDOWN_TIMEOUT = 3.0
POLL = 0.25

log = logging.getLogger(__name__)


class LinkSetupError(Exception):
    """The peer connected but is not a usable meshnode peer."""


class Yielded(LinkSetupError):
    """A UUID-only peer with the lower token that connects itself: we leave it the link."""


class Duplicate(Yielded):
    """The peer is already linked to us as our central: its link is kept, ours not made."""


def higher_keeps_nothing(own: bytes, peer: bytes) -> bool:
    """Of two links with one peer, the one whose central has the lower token is kept: the
    device with the higher token gives up its central link (docs/hardware.md, rule 5)."""
    return own > peer


@dataclass(slots=True)
class Candidate:
    """A peer heard advertising our service in the current epoch."""

    token: bytes  # the advert's token; for a UUID-only advert, a key from its address
    device: BLEDevice
    rssi: int
    first_seen: float
    last_seen: float
    uuid_only: bool = False

    @property
    def device_path(self) -> str | None:
        details = self.device.details
        if isinstance(details, dict):
            path = details.get("path")
            return path if isinstance(path, str) else None
        return None


class CentralRole:
    """Scan and connect until cancelled; `send`/`close` act on the links it opened."""

    def __init__(
        self,
        config: BleConfig,
        *,
        adapter: str,
        emit: Callable[[TransportEvent], None],
        ids: LinkIds,
        own_token: Callable[[], bytes],
        busy_devices: Callable[[], set[str]],
        central_tokens: Callable[[], set[bytes]] = set,
        acquire_mtu: Callable[[str], Awaitable[int | None]],
        passive: bool,
        rng: random.Random | None = None,
        admit: Callable[[], Admit] = lambda: Admit(Verdict.FULL),
    ) -> None:
        """`admit`: the slot rule's answer for a newcomer while every central slot is taken
        (the engine's, over both roles' links)."""
        self.config = config
        self.adapter = adapter
        self._emit = emit
        self._ids = ids
        self._own_token = own_token
        self._busy_devices = busy_devices
        self._central_tokens = central_tokens
        self._acquire_mtu = acquire_mtu
        self._admit = admit
        self.passive = passive
        self._rng = rng or random.Random()
        self.candidates: dict[bytes, Candidate] = {}
        self.links: dict[LinkId, tuple[BleLink, BleakClient]] = {}
        self.link_tokens: dict[LinkId, bytes] = {}  # the peer's token on each of our links
        self.connecting: set[bytes] = set()
        self.linked_tokens: set[bytes] = set()
        self.failures: dict[bytes, int] = {}
        self.backoff_until: dict[bytes, float] = {}
        self.last_linked: dict[bytes, float] = {}
        self.yielded: dict[bytes, float] = {}  # peer token -> when we left it the link
        self.bad_adverts = 0
        self.scans = 0
        # The duty cycle in force: the config's, or what the daemon asked for (`set_duty`).
        self.scan_window = config.scan_window
        self.scan_interval = config.scan_interval
        self.yield_time = config.yield_time  # likewise (`set_yield`)
        self._duty_changed = asyncio.Event()
        self._found = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._sessions: set[asyncio.Task[None]] = set()

    # --- main loop -----------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                started = loop.time()
                if self._room() > 0:
                    await self._scan(self.scan_window)
                    await self._connect(self._picks(loop.time()))
                else:
                    self._slot_freed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._slot_freed.wait(),
                                               timeout=self.scan_interval)
                    continue
                rest = self.scan_interval - (loop.time() - started)
                if rest > 0 and self.scan_window < self.scan_interval:
                    # A new duty cycle takes effect now, not after a long pause.
                    self._duty_changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._duty_changed.wait(), timeout=rest)
        finally:
            await self._teardown()

    def set_duty(self, window: float, interval: float) -> None:
        """Scan `window` seconds in every `interval` from now on (a pause in progress ends
        at once); the config's values stay the device's normal ones."""
        if not 0 < window <= interval:
            raise ValueError("need 0 < window <= interval")
        self.scan_window, self.scan_interval = window, interval
        self._duty_changed.set()

    def set_yield(self, seconds: float) -> None:
        """Leave a peer with the lower token `seconds` to connect first, from now on (0:
        connect at once); the config's `yield_time` stays the device's normal one. A peer
        already waited on becomes eligible as soon as its new yield time has run out."""
        if not seconds >= 0:
            raise ValueError("need seconds >= 0")
        self.yield_time = seconds
        self._found.set()  # a scan waiting for the old yield time looks again now

    async def _scan(self, duration: float) -> None:
        loop = asyncio.get_running_loop()
        args: BlueZScannerArgs = {"adapter": self.adapter} if self.adapter else {}
        if self.passive:
            args["or_patterns"] = [
                OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID128, uuid_le(SERVICE_UUID)),
                OrPattern(0, AdvertisementDataType.COMPLETE_LIST_SERVICE_UUID128,
                          uuid_le(SERVICE_UUID))]
        else:
            args["filters"] = {"Transport": "le", "DuplicateData": False}
        scanner = BleakScanner(self._on_advert, scanning_mode="passive" if self.passive
                               else "active", bluez=args)
        try:
            await asyncio.wait_for(scanner.start(), timeout=self.config.call_timeout)
        except Exception as exc:  # bleak raises BleakError, BleakDBusError, TimeoutError...
            log.warning("BLE scan could not start on %s: %s", self.adapter or "adapter", exc)
            await asyncio.sleep(self.config.backoff_initial)
            return
        self.scans += 1
        try:
            end = loop.time() + duration
            while (now := loop.time()) < end:
                self._prune(now)
                if self._picks(now):
                    break
                self._found.clear()
                wait = min(POLL, end - now, max(0.0, self._next_ready(now) - now))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._found.wait(), timeout=wait)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(scanner.stop(), timeout=TEARDOWN_TIMEOUT)

    def _on_advert(self, device: BLEDevice, adv: AdvertisementData) -> None:
        raw = adv.service_data.get(SERVICE_UUID)
        uuid_only = raw is None
        if raw is None:
            if SERVICE_UUID not in adv.service_uuids:
                return
            # No token on the air: the address (rotating with the peer's epoch, as a
            # resolvable private address) names the candidate until TOKEN is read.
            token = b"address:" + device.address.encode()
        else:
            try:
                token = parse_service_data(raw)
            except AdvertError as exc:
                self.bad_adverts += 1
                log.debug("ignoring advert from %s: %s", device.address, exc)
                return
            if token == self._own_token():
                return
        now = asyncio.get_running_loop().time()
        cand = self.candidates.get(token)
        if cand is None:
            self.candidates[token] = Candidate(token, device, adv.rssi, now, now, uuid_only)
        else:
            cand.device, cand.rssi, cand.last_seen = device, adv.rssi, now
        self._found.set()

    def _prune(self, now: float) -> None:
        horizon = 3 * self.scan_interval + 30.0
        for token in [t for t, c in self.candidates.items() if now - c.last_seen > horizon]:
            del self.candidates[token]
        for token in [t for t, since in self.yielded.items() if now - since > horizon]:
            del self.yielded[token]

    def _free_slots(self) -> int:
        return self.config.max_central_links - len(self.links) - len(self.connecting)

    def _room(self) -> int:
        """Links we may start now: the free slots, or one the slot rule would free."""
        free = self._free_slots()
        if free > 0:
            return free
        return 1 if self._admit().verdict is Verdict.EVICT else 0

    def slots_changed(self) -> None:
        """A link's sync state changed (the daemon's `set_idle`): a full central that may now
        give one up scans again at once."""
        self._slot_freed.set()

    def _eligible(self, c: Candidate, now: float) -> bool:
        if c.token in self.connecting or c.token in self.linked_tokens:
            return False
        if now < self.backoff_until.get(c.token, 0.0):
            return False
        last = self.last_linked.get(c.token)
        if last is not None and now - last < self.config.revisit_after:
            return False
        if c.device_path is not None and c.device_path in self._busy_devices():
            return False  # already linked: it connected to us
        if c.token in self._central_tokens():
            # Already linked: it connected to us (first: it had the lower token, or was urgent
            # and did not yield). A second link would only be closed again (rule 5).
            return False
        if c.uuid_only:
            return True  # it may be unable to connect: we do, and decide once we read TOKEN
        return not (self._own_token() > c.token and now - c.first_seen < self.yield_time)

    def _next_ready(self, now: float) -> float:
        """The soonest a waiting candidate's back-off, revisit or yield time runs out."""
        times = [float("inf")]
        for c in self.candidates.values():
            times.append(self.backoff_until.get(c.token, 0.0))
            last = self.last_linked.get(c.token)
            if last is not None:
                times.append(last + self.config.revisit_after)
            times.append(c.first_seen + self.yield_time)
        future = [t for t in times if t > now]
        return min(future) if future else float("inf")

    def _picks(self, now: float) -> list[Candidate]:
        """Who to connect to now, best first: not linked recently, then strongest."""
        free = self._room()
        if free <= 0:
            return []
        ready = [c for c in self.candidates.values() if self._eligible(c, now)]
        ready.sort(key=lambda c: (self.last_linked.get(c.token, float("-inf")), -c.rssi))
        return ready[:free]

    async def _connect(self, picks: list[Candidate]) -> None:
        """Start a session per pick; return once each is linked or has failed."""
        if not picks:
            return
        if self._free_slots() <= 0 and not await self._make_room():
            return
        loop = asyncio.get_running_loop()
        ready: list[asyncio.Event] = []
        for cand in picks:
            event = asyncio.Event()
            ready.append(event)
            self.connecting.add(cand.token)
            task = loop.create_task(self._session(cand, event))
            self._sessions.add(task)
            task.add_done_callback(self._sessions.discard)
        limit = self.config.connect_timeout + self.config.mtu_wait + self.config.call_timeout
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), timeout=limit)

    async def _make_room(self) -> bool:
        """Every slot is taken: give up the link the slot rule names, if any (its peer is then
        not connected again for `revisit_after`, like any peer we synced with)."""
        admit = self._admit()
        if admit.verdict is not Verdict.EVICT or admit.close is None:
            return False
        entry = self.links.get(admit.close)
        if entry is None:
            return False
        log.info("BLE link %s: all %d central slots in use; giving up this idle, synced link "
                 "for a newcomer", admit.close, self.config.max_central_links)
        link, client = entry
        link.finish("slot given up for a newcomer")
        self.links.pop(link.id, None)  # the slot is free now; the session's end tidies up
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), timeout=TEARDOWN_TIMEOUT)
        return True

    # --- one link ------------------------------------------------------------------------

    async def _session(self, cand: Candidate, ready: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        token = cand.token
        client: BleakClient | None = None
        link: BleLink | None = None
        gone = asyncio.Event()
        reason = "peer disconnected"
        try:
            try:
                client = BleakClient(cand.device, lambda _c: gone.set(), [SERVICE_UUID],
                                     timeout=self.config.connect_timeout,
                                     bluez={"adapter": self.adapter} if self.adapter else {})
                async with asyncio.timeout(self.config.connect_timeout):
                    await client.connect()
                    rx, tx, info = self._characteristics(client)
                    if info is not None:
                        decode_info(await client.read_gatt_char(info))
                    peer_token = (await self._peer_token(client, loop.time())
                                  if cand.uuid_only else cand.token)
                    self._check_duplicate(peer_token)
                    await self._write_own_token(client)
                payload = await self._payload(rx)
                link = BleLink(self._ids.new("c"), payload, self._emit,
                               self._writer(client, rx, gone))
                self.links[link.id] = (link, client)
                on_fragment = link.fragment_in

                def notified(_: BleakGATTCharacteristic, data: bytearray) -> None:
                    on_fragment(data, loop.time())

                await asyncio.wait_for(client.start_notify(tx, notified),
                                       timeout=self.config.call_timeout)
            except Exception as exc:  # any failure to set up: back off from this peer
                self._failed(cand, exc)
                if link is not None:
                    self.links.pop(link.id, None)
                    link = None
                return
            finally:
                self.connecting.discard(token)
                ready.set()
            self.failures.pop(token, None)
            if cand.uuid_only:
                token = peer_token  # from now on the peer is known by its real token
            self.linked_tokens.update((token, cand.token))
            self.link_tokens[link.id] = token
            link.announce()
            log.info("BLE link %s up (central, %d-byte fragments)", link.id, link.payload)
            waiters = [loop.create_task(gone.wait()), loop.create_task(link.closed.wait())]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
            reason = link.close_reason or reason
        except asyncio.CancelledError:
            reason = "BLE transport stopped"
            raise
        finally:
            if link is not None:
                self.last_linked[token] = self.last_linked[cand.token] = loop.time()
                self.linked_tokens.difference_update((token, cand.token))
                self.links.pop(link.id, None)
                self.link_tokens.pop(link.id, None)
                link.finish(reason)
                log.info("BLE link %s down: %s", link.id, reason)
            if client is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.disconnect(), timeout=TEARDOWN_TIMEOUT)
            self._slot_freed.set()

    async def _peer_token(self, client: BleakClient, now: float) -> bytes:
        """A UUID-only peer's token, read over GATT; raises if we must not keep the link."""
        service = client.services.get_service(SERVICE_UUID)
        char = service.get_characteristic(TOKEN_UUID) if service is not None else None
        if char is None:
            raise LinkSetupError("a UUID-only advert, but no TOKEN characteristic")
        peer = parse_token_value(await client.read_gatt_char(char))
        own = self._own_token()
        if peer.token == own:
            raise LinkSetupError("that is ourselves")
        if peer.token in self.linked_tokens:
            raise LinkSetupError("already linked with this peer")
        if peer.central and own > peer.token:
            since = self.yielded.setdefault(peer.token, now)
            if now - since < self.yield_time:
                raise Yielded("the peer has the lower token: it connects")
        return peer.token

    def _check_duplicate(self, peer: bytes) -> None:
        """Raise `Duplicate` if the peer already linked to us as central (and wrote its token
        before we write ours): its link is kept, whichever token is lower, and the peer never
        learns of ours, so it keeps its own (rule 5)."""
        if peer in self._central_tokens():
            raise Duplicate("the peer is already linked to us as central")

    async def _write_own_token(self, client: BleakClient) -> None:
        """Tell the peer who we are this epoch (rule 4), so it can resolve two links."""
        service = client.services.get_service(SERVICE_UUID)
        char = service.get_characteristic(TOKEN_UUID) if service is not None else None
        if char is None or "write" not in char.properties:
            raise LinkSetupError("the peer has no writable TOKEN characteristic")
        value = encode_token_value(self._own_token(), central=True)
        await asyncio.wait_for(client.write_gatt_char(char, value, response=True),
                               timeout=self.config.call_timeout)

    async def on_central_token(self, token: bytes) -> None:
        """One of our centrals wrote `token` to our TOKEN: if we also hold a central link to
        that peer and ours is the higher token, our link is the one to go (rule 5)."""
        if not higher_keeps_nothing(self._own_token(), token):
            return
        for link_id in [i for i, t in self.link_tokens.items() if t == token]:
            log.info("BLE link %s: the peer also linked to us, with the lower token; "
                     "closing ours", link_id)
            await self.close(link_id, "duplicate link: the peer's (lower token) is kept")

    def _characteristics(self, client: BleakClient) -> tuple[
            BleakGATTCharacteristic, BleakGATTCharacteristic, BleakGATTCharacteristic | None]:
        service = client.services.get_service(SERVICE_UUID)
        if service is None:
            raise LinkSetupError("no meshnode GATT service")
        rx = service.get_characteristic(RX_UUID)
        tx = service.get_characteristic(TX_UUID)
        if rx is None or tx is None:
            raise LinkSetupError("meshnode service lacks RX or TX")
        if "write-without-response" not in rx.properties or "notify" not in tx.properties:
            raise LinkSetupError("RX must allow write-without-response and TX notify")
        return rx, tx, service.get_characteristic(INFO_UUID)

    async def _payload(self, rx: BleakGATTCharacteristic) -> int:
        """ATT MTU - 3 for this link: BlueZ's MTU property, waited for, else AcquireWrite."""
        props: Any = rx.obj[1] if isinstance(rx.obj, tuple) else {}
        if isinstance(props, dict) and "MTU" in props:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.config.mtu_wait
            while rx.max_write_without_response_size <= MIN_MTU and loop.time() < deadline:
                await asyncio.sleep(0.05)  # BlueZ updates MTU once the exchange completes
            return max(rx.max_write_without_response_size, MIN_MTU)
        path = rx.obj[0] if isinstance(rx.obj, tuple) else None
        mtu = await self._acquire_mtu(path) if isinstance(path, str) else None
        return fragment_size(mtu or DEFAULT_ATT_MTU)

    def _writer(self, client: BleakClient, rx: BleakGATTCharacteristic,
                gone: asyncio.Event) -> Callable[[bytes], Awaitable[None]]:
        async def write(fragment: bytes) -> None:
            try:
                await client.write_gatt_char(rx, fragment, response=False)
            except Exception as exc:  # bleak: BleakError, BleakDBusError, EOFError...
                gone.set()
                raise ConnectionError(f"write failed: {exc}") from exc
        return write

    def _failed(self, cand: Candidate, exc: BaseException) -> None:
        token = cand.token
        if isinstance(exc, Yielded):
            # A duplicate stays one while the peer's link lasts: look again only when we
            # would revisit a peer we synced with anyway.
            wait = self.config.revisit_after if isinstance(exc, Duplicate) else 0.0
            self.backoff_until[token] = (asyncio.get_running_loop().time() + max(
                self.yield_time, self.config.backoff_initial, wait))
            log.info("BLE peer %s: %s; leaving it the link", cand.device.address, exc)
            return
        count = self.failures[token] = self.failures.get(token, 0) + 1
        delay = backoff_delay(self.config.backoff_initial, self.config.backoff_max, count,
                              self._rng.uniform(*BACKOFF_JITTER))
        self.backoff_until[token] = asyncio.get_running_loop().time() + delay
        log.info("BLE connect to %s failed (%s: %s); retry in %.1f s", cand.device.address,
                 type(exc).__name__, exc, delay)

    # --- daemon commands -----------------------------------------------------------------

    def link(self, link_id: LinkId) -> BleLink | None:
        entry = self.links.get(link_id)
        return entry[0] if entry else None

    async def close(self, link_id: LinkId, reason: str) -> bool:
        entry = self.links.get(link_id)
        if entry is None:
            return False
        link, client = entry
        link.finish(reason)  # the session ends and disconnects
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), timeout=TEARDOWN_TIMEOUT)
        return True

    async def _teardown(self) -> None:
        for task in list(self._sessions):
            task.cancel()
        if self._sessions:
            await asyncio.wait(list(self._sessions), timeout=TEARDOWN_TIMEOUT * 2)
