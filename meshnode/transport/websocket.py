"""WebSocket links: a resident's browser at the steunpunt is a peer like any other.

The hub's web server (`meshnode.daemon.web`) hands each accepted WebSocket to `WsTransport.
serve`; from then on it is a link of this transport, and the daemon drives it exactly as it
drives a UDP or BLE link: the same `Node` session (Hello, reconciliation, Want, Msg), the same
per-link rate limits, quotas and malformed-frame budget, and `Close` when the node gives up on
the peer. One sync frame (docs/protocol.md §10) is one binary WebSocket message, so a
WebSocket needs no link framing (§11): the WebSocket itself delimits and orders frames.

A browser peer gets nothing else: the socket carries sync frames only, never an API call, and
the hub's identity, inbox and contacts are not reachable from it.

Limits (`WsConfig`), kept here because the node cannot see them: at most `max_links` browser
links at once and `max_per_host` from one address (a crowd behind one NAT gets several, one
host cannot take every slot); new links from one host are rate-limited across links (a
bucket of `relink_burst`, one more every `relink_interval` seconds) so that reconnecting does
not reset the node's per-link budgets; after the node closed a host's link for misbehaviour
that host gets no link for `penalty` seconds. A text message, or a binary one larger than
`max_frame`, is a broken peer: the link is closed with a WebSocket close code saying why.
After this side closed a link it still reads (and drops) what the peer sends, for at most
`close_timeout` seconds, until the peer's close reply: the web server stops feeding an
application that stopped reading, and so would never see that reply nor end the connection.

Nothing here decides what to send; frames in and out are whole.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import trio

from meshnode.routing.limits import Buckets, Rate
from meshnode.transport.base import FrameReceived, LinkDown, LinkId, LinkUp, TransportEvent
from meshnode.transport.framing import DEFAULT_MAX_FRAME

__all__ = ["COUNTERS", "PROTOCOL", "WsConfig", "WsTransport"]

_log = logging.getLogger("meshnode.websocket")

PROTOCOL = "meshnode.sync.v1"  # the WebSocket subprotocol a peer may ask for
COUNTERS = ("links_up_total", "links_down_total", "frames_in", "frames_out", "bytes_in",
            "bytes_out", "refused", "penalized", "malformed", "oversized")

# WebSocket close codes (RFC 6455 §7.4.1).
_POLICY = 1008  # refused: over a limit, or the node closed the link
_UNSUPPORTED = 1003  # a text message where only binary frames belong
_TOO_BIG = 1009

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WsConfig:
    """Limits of the WebSocket transport; times in seconds."""

    max_links: int = 64
    max_per_host: int = 8
    max_frame: int = DEFAULT_MAX_FRAME
    queue: int = 32  # frames waiting for one browser before the node's sender waits
    relink_burst: int = 8
    relink_interval: float = 10.0
    penalty: float = 60.0
    close_timeout: float = 10.0


@dataclass(eq=False)
class _Link:
    id: str
    host: str
    outgoing: trio.MemorySendChannel[bytes]
    closing: trio.CancelScope = field(default_factory=trio.CancelScope)
    close_code: int | None = None  # set when this side ends the link
    reason: str = "peer closed the link"


class WsTransport:
    """The `Transport` interface over WebSockets accepted by the hub's web server."""

    def __init__(self, config: WsConfig = WsConfig()) -> None:
        self.config = config
        self.counters: Counter[str] = Counter(dict.fromkeys(COUNTERS, 0))
        self._links: dict[str, _Link] = {}
        self._ids = itertools.count(1)
        self._events_in, self._events_out = trio.open_memory_channel[TransportEvent](0)
        self._relinks = Buckets(Rate(1 / config.relink_interval, config.relink_burst))
        self._banned: OrderedDict[str, float] = OrderedDict()

    # --- the Transport interface -------------------------------------------------------------

    async def run(self, events: trio.MemorySendChannel[TransportEvent]) -> None:
        async with self._events_out:
            async for event in self._events_out:
                await events.send(event)

    async def send(self, link: LinkId, frame: bytes) -> None:
        state = self._links.get(link) if isinstance(link, str) else None
        if state is None:
            await trio.lowlevel.checkpoint()
            return
        try:
            await state.outgoing.send(frame)  # waits while the browser is slow: backpressure
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return  # the link went down meanwhile; its LinkDown is reported

    async def close(self, link: LinkId, reason: str) -> None:
        state = self._links.get(link) if isinstance(link, str) else None
        if state is not None:
            # The node closes a link only for misbehaviour: the host waits to link again.
            self._ban(state.host, trio.current_time())
            state.close_code, state.reason = _POLICY, reason
            state.closing.cancel()
        await trio.lowlevel.checkpoint()

    # --- introspection -----------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counters: frames and bytes each way, links refused, frames refused."""
        return {**self.counters, "links_up": len(self._links)}

    def peers(self) -> list[dict[str, str]]:
        return [{"link": link.id, "address": link.host, "state": "up"}
                for link in self._links.values()]

    # --- serving one WebSocket ---------------------------------------------------------------

    async def serve(self, host: str, receive: Receive, send: Send,
                    subprotocols: list[str] | None = None) -> None:
        """Serve one ASGI WebSocket connection (after its ``websocket.connect``) as a link,
        until either side closes it. A connection over the limits is refused (close 1008)."""
        now = trio.current_time()
        if not self._admit(host, now):
            await send({"type": "websocket.close", "code": _POLICY})
            return
        accept: Message = {"type": "websocket.accept"}
        if subprotocols and PROTOCOL in subprotocols:
            accept["subprotocol"] = PROTOCOL
        await send(accept)
        outgoing, queued = trio.open_memory_channel[bytes](self.config.queue)
        link = _Link(f"ws:{next(self._ids)}", host, outgoing)
        self._links[link.id] = link
        self.counters["links_up_total"] += 1
        try:
            await self._events_in.send(LinkUp(link.id, self.config.max_frame))
            with link.closing:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._writer, link, queued, send)
                    await self._reader(link, receive)
                    nursery.cancel_scope.cancel()
        finally:
            del self._links[link.id]
            outgoing.close()
            self.counters["links_down_total"] += 1
            with trio.CancelScope(shield=True):
                # A transport that stopped (the daemon going down) takes no LinkDown.
                with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await self._events_in.send(LinkDown(link.id, link.reason))
                if link.close_code is not None:
                    await _quiet_close(send, link.close_code)
        if link.close_code is not None:  # not when the daemon is going down: it cancels this
            await self._drain(receive)

    async def _reader(self, link: _Link, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message["type"] != "websocket.receive":
                continue
            data = message.get("bytes")
            if data is None:
                self.counters["malformed"] += 1
                self._misbehaved(link, _UNSUPPORTED, "text message on a sync link")
                return
            if len(data) > self.config.max_frame:
                self.counters["oversized"] += 1
                self._misbehaved(link, _TOO_BIG, f"frame of {len(data)} bytes")
                return
            self.counters["frames_in"] += 1
            self.counters["bytes_in"] += len(data)
            await self._events_in.send(FrameReceived(link.id, bytes(data)))

    async def _drain(self, receive: Receive) -> None:
        """Drop what the peer still sends after our close, until it disconnects or
        `close_timeout` passes (a peer that never answers the close is not waited for)."""
        with trio.move_on_after(self.config.close_timeout):
            while (await receive())["type"] != "websocket.disconnect":
                pass

    async def _writer(self, link: _Link, queued: trio.MemoryReceiveChannel[bytes],
                      send: Send) -> None:
        async for frame in queued:
            await send({"type": "websocket.send", "bytes": frame})
            self.counters["frames_out"] += 1
            self.counters["bytes_out"] += len(frame)

    def _misbehaved(self, link: _Link, code: int, reason: str) -> None:
        self._ban(link.host, trio.current_time())
        link.close_code, link.reason = code, reason

    # --- admission ---------------------------------------------------------------------------

    def _admit(self, host: str, now: float) -> bool:
        until = self._banned.get(host)
        if until is not None and now < until:
            self.counters["penalized"] += 1
            return False
        if (len(self._links) >= self.config.max_links
                or sum(1 for link in self._links.values() if link.host == host)
                >= self.config.max_per_host
                or not self._relinks.take(host, now)):
            self.counters["refused"] += 1
            return False
        return True

    def _ban(self, host: str, now: float) -> None:
        self._banned.pop(host, None)
        self._banned[host] = now + self.config.penalty
        if len(self._banned) > 4096:
            self._banned.popitem(last=False)


async def _quiet_close(send: Send, code: int) -> None:
    """Close the WebSocket if it is still open (the peer may already have gone)."""
    try:
        await send({"type": "websocket.close", "code": code})
    except Exception:  # a connection already gone has nothing to close
        _log.debug("close_after_disconnect", extra={"fields": {"code": code}})
