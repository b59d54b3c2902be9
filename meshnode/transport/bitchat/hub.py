"""The daemon's bitchat gateway on trio: the sans-IO parts driven, the radio on asyncio.

The daemon builds it from `[gateway.bitchat]` and the hub's bitchat key file::

    identity = load_or_create_identity(data_dir / KEY_FILE, config.nickname)
    hub = BitchatHub(config, identity, clock=clock, post=post_to_channel)
    nursery.start_soon(hub.run)
    ...
    hub.observe(outputs, now)        # from the daemon's core, after every node step

`observe` feeds verified alerts (and, with `bridge_channel`, that channel's posts) to the
`AlertGateway`; `run` opens its own system-bus connection on an `AsyncioBridge` loop,
registers the radio, and then loops: send what the gateway says is due, look for phones,
and handle what phones send (`Listener`). Like the BLE transport it never fails the daemon:
a missing adapter or BlueZ is logged with the fix and tried again every `RECHECK` seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any

import trio

from meshnode.events import Output, PostReceived
from meshnode.transport.base import FrameReceived, LinkUp
from meshnode.transport.bitchat.codec import encode_packet
from meshnode.transport.bitchat.config import BitchatConfig
from meshnode.transport.bitchat.gateway import AlertGateway, GatewayConfig
from meshnode.transport.bitchat.identity import BitchatIdentity
from meshnode.transport.bitchat.inbound import Listener
from meshnode.transport.bitchat.radio import BitchatRadio
from meshnode.transport.bitchat.ratelimit import TokenBucket
from meshnode.transport.ble_bluez import check_adapter, connect_system_bus
from meshnode.transport.ble_bridge import AsyncioBridge, BridgeClosed, BridgeTimeout

__all__ = ["BRIDGE_MARK", "BitchatHub"]

RECHECK = 30.0
CALL_TIMEOUT = 20.0
RELAY_BURST, RELAY_RATE = 50.0, 20.0  # packets: a busy bitchat room, not a flood
BRIDGE_MARK = "[bitchat]"  # how a bridged bitchat message is marked in the meshnode channel

log = logging.getLogger(__name__)

Post = Callable[[str, str], Awaitable[None]]


class BitchatHub:
    def __init__(self, config: BitchatConfig, identity: BitchatIdentity, *,
                 clock: Callable[[], float] = time.time,
                 clock_floor: Callable[[], float | None] = lambda: None,
                 post: Post | None = None, own_author: bytes = b"") -> None:
        self.config = config
        self.identity = identity
        self._clock = clock
        self._floor = clock_floor
        self._post = post
        self._own_author = own_author
        self.gateway = AlertGateway(identity, GatewayConfig(
            first_repeat=config.first_repeat, max_repeat=config.max_repeat,
            announce_every=config.announce_every))
        self.listener = Listener(identity.peer_id)
        self.state = "starting"
        self.problems: tuple[str, ...] = ()
        self.relayed = 0
        self.relay_dropped = 0
        self._relay_budget = TokenBucket(RELAY_BURST, RELAY_RATE, RELAY_BURST, clock())
        self.bridged_in = 0
        self.bridged_out = 0
        self.radio: BitchatRadio | None = None
        self._wake = trio.Event()

    # --- from the daemon's core ----------------------------------------------------------------

    def observe(self, outputs: Iterable[Output], now: float) -> None:
        """The node's outputs: verified alerts in, removed alerts out, bridged posts out."""
        outputs = list(outputs)
        self.gateway.observe(outputs, now)
        channel = self.config.bridge_channel
        for out in outputs:
            if (channel and isinstance(out, PostReceived) and out.post.channel == channel
                    and out.post.author != self._own_author and self.gateway.say(out.post.text)):
                self.bridged_out += 1
        self._wake.set()

    def status(self) -> dict[str, Any]:
        """For the daemon's status API: residents check `fingerprint` in person."""
        radio = self.radio
        return {
            "state": self.state, "problems": list(self.problems),
            "nickname": self.identity.nickname,
            "peer_id": self.identity.peer_id.hex(),
            "fingerprint": self.identity.fingerprint,
            "alerts_in_force": len(self.gateway.in_force),
            "messages_sent": self.gateway.sent_messages,
            "queued": self.gateway.queued,
            "phones_heard": len(self.listener.peers),
            "refused": self.listener.refused,
            "relayed": self.relayed, "relay_dropped": self.relay_dropped,
            "limited": self.listener.limited, "bridged_in": self.bridged_in,
            "bridged_out": self.bridged_out,
            "links": 0 if radio is None else len(radio.phones) + int(radio.server.subscribed),
        }

    def _relay_room(self) -> bool:
        """A relay budget (`RELAY_BURST`, then `RELAY_RATE` per second): a phone that floods
        the hub with valid packets gets the hub to repeat only so much of it."""
        now = self._clock()
        if self._relay_budget.ready_at(now) > now:
            self.relay_dropped += 1
            return False
        self._relay_budget.take(now)
        return True

    # --- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until cancelled; retries every `RECHECK` s while BlueZ is unusable."""
        log.info("bitchat gateway: nickname %s, fingerprint %s (residents can check it in "
                 "bitchat's verify screen)", self.identity.nickname, self.identity.fingerprint)
        while True:
            try:
                async with AsyncioBridge(name="meshnode-bitchat") as bridge:
                    await self._serve(bridge)
            except Exception as exc:  # no bus or adapter, a BlueZ refusal, a bug: never
                self.state = "waiting"  # fail the daemon; say what happened and retry
                self.problems = _leaves(exc)
                log.warning("bitchat gateway not running: %s; trying again in %.0f s",
                            "; ".join(self.problems), RECHECK,
                            exc_info=not isinstance(exc, OSError | RuntimeError))
            await trio.sleep(RECHECK)

    async def _serve(self, bridge: AsyncioBridge) -> None:
        radio = await bridge.call(lambda: self._open(bridge), timeout=CALL_TIMEOUT)
        self.radio = radio
        self.state, self.problems = "running", ()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._inbound, bridge, radio)
                nursery.start_soon(self._scanner, bridge, radio)
                await self._outbound(bridge, radio)
        finally:
            self.radio = None
            with trio.CancelScope(shield=True):
                try:
                    await bridge.call(radio.stop, timeout=CALL_TIMEOUT)
                except (BridgeClosed, BridgeTimeout):
                    log.warning("bitchat radio did not stop cleanly")

    async def _open(self, bridge: AsyncioBridge) -> BitchatRadio:
        try:
            bus = await connect_system_bus()
        except Exception as exc:  # dbus-fast raises OSError or AuthError
            raise RuntimeError(f"cannot connect to the system D-Bus ({exc}); is dbus running "
                               "and BlueZ installed? (docs/bitchat.md)") from exc
        c = self.config
        status = await check_adapter(bus, c.adapter, want_central=c.central,
                                     want_peripheral=c.peripheral, passive=False)
        if status.path is None or not status.usable:
            bus.disconnect()
            raise RuntimeError("; ".join(status.problems) or "adapter unusable")
        for problem in status.problems:
            log.warning("bitchat gateway: %s", problem)
        radio = BitchatRadio(bus, status.path, emit=bridge.emit,
                             peripheral=status.peripheral, central=status.central,
                             max_links=c.max_links, scan_every=c.scan_every)
        try:
            await radio.start()
        except BaseException:
            await radio.stop()
            bus.disconnect()
            raise
        return radio

    async def _outbound(self, bridge: AsyncioBridge, radio: BitchatRadio) -> None:
        warned: set[str] = set()
        while True:
            # A fresh event before stepping: a wake-up (an alert, a new phone) that comes
            # while we send is kept for the wait below, not lost.
            wake = self._wake = trio.Event()
            now = self._clock()
            step = self.gateway.step(now, clock_floor=self._floor())
            for warning in step.warnings:
                if warning not in warned:  # once per kind, not once per step
                    warned.add(warning)
                    log.warning("bitchat gateway: %s", warning)
            for packet in step.packets:
                # Unpadded, as bitchat sends all but Noise frames (BLEOutboundPacketPolicy);
                # the signature still covers the padded form, as receivers re-encode it.
                data = encode_packet(packet, padded=False)
                await bridge.call(partial(radio.broadcast, data), timeout=CALL_TIMEOUT)
            with trio.move_on_after(max(0.0, step.wake_at - self._clock())):
                await wake.wait()

    async def _scanner(self, bridge: AsyncioBridge, radio: BitchatRadio) -> None:
        while True:
            await bridge.call(lambda: radio.scan(self._clock()), timeout=CALL_TIMEOUT * 3)
            await trio.sleep(self.config.scan_every)

    async def _inbound(self, bridge: AsyncioBridge, radio: BitchatRadio) -> None:
        while True:
            event = await bridge.next_event()
            if isinstance(event, LinkUp):
                self.gateway.announce_soon()
                self._wake.set()
            if not isinstance(event, FrameReceived):
                continue
            verdict = self.listener.handle(event.data, self._clock())
            if verdict.refused is not None:
                log.debug("bitchat: refused a packet from %s: %s", event.link, verdict.refused)
                continue
            if self.config.relay and verdict.relay is not None and self._relay_room():
                self.relayed += 1
                await bridge.call(partial(radio.broadcast, verdict.relay, exclude=event.link),
                                  timeout=CALL_TIMEOUT)
            text = verdict.text
            # A text that already crossed from meshnode (another hub's bridge) goes no
            # further: two hubs with overlapping bitchat islands must not ping-pong it.
            if (text is not None and self.config.bridge_channel and self._post is not None
                    and not text.text.startswith(BRIDGE_MARK)):
                self.bridged_in += 1
                await self._post(self.config.bridge_channel,
                                 f"{BRIDGE_MARK} {text.nickname}: {text.text}")


def _leaves(exc: BaseException) -> tuple[str, ...]:
    """The messages of an exception, or of every exception inside an exception group."""
    if isinstance(exc, BaseExceptionGroup):
        return tuple(m for e in exc.exceptions for m in _leaves(e))
    return (f"{type(exc).__name__}: {exc}",)
