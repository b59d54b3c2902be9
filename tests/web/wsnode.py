"""A `Node` in this test process linked to a hub daemon over a real WebSocket (trio-websocket):
the smallest correct driver of one WebSocket link, as a browser node is one.

One sync frame is one binary WebSocket message. The driver keeps the driving contract of
`meshnode.node`: frames handed out are sent in order, then `ready`; timers are run when due.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    open_websocket_url,
    wrap_client_stream,
)

from meshnode.crypto.authority import TrustStore
from meshnode.crypto.identity import Identity
from meshnode.events import Close, Event, Output, Send
from meshnode.node import Node, NodeConfig
from meshnode.store.memory import MemoryStore
from meshnode.testing import CAPACITY
from meshnode.transport.websocket import PROTOCOL

LINK = "hub"


def new_node(trust: TrustStore | None = None) -> Node:
    return Node(Identity.generate(), MemoryStore(CAPACITY), trust or TrustStore(()),
                int(time.time()), NodeConfig())


@dataclass
class WsPeer:
    """`node` linked to the hub at `url` (``ws://HOST:PORT/sync``) while `until` is false."""

    node: Node
    url: str
    events: list[Event] = field(default_factory=list)
    closed_by_node: str | None = None

    async def sync(self, until: Callable[[], bool], timeout: float = 30.0) -> None:
        """Link, exchange until `until()` holds, unlink; TimeoutError after `timeout`."""
        with trio.fail_after(timeout):
            async with open_websocket_url(self.url, subprotocols=[PROTOCOL]) as ws:
                await self._flush(ws, self.node.link_up(LINK, _now()))
                while not until():
                    with trio.move_on_after(0.2):  # wake for timers and `until`
                        data = await ws.get_message()
                        if isinstance(data, str):
                            raise AssertionError("the hub sent a text message")
                        await self._flush(ws, self.node.receive(LINK, data, _now()))
                    if self.node.get_timer() <= _now():
                        await self._flush(ws, self.node.handle_timer(_now()))
            self.node.link_down(LINK, _now())

    async def _flush(self, ws: WebSocketConnection, outputs: list[Output]) -> None:
        while True:
            sent = False
            for out in outputs:
                if isinstance(out, Send):
                    await ws.send_message(out.data)
                    sent = True
                elif isinstance(out, Close):
                    self.closed_by_node = out.reason
                    await ws.aclose()
                    return
                else:
                    self.events.append(out)
            if not sent:
                return
            outputs = self.node.ready(LINK, _now())


async def send_raw(port: int, messages: list[bytes | str], *, source: str,
                   timeout: float = 20.0) -> int | None:
    """From loopback address `source` (127.0.0.0/8: each one is a different host to the hub),
    send `messages` on a fresh WebSocket to ``/sync`` and read until the hub closes it; the
    close code (None if it stayed open until `timeout`; 403 if refused at the handshake)."""
    status: int | None = None
    try:
        return await _send_raw(port, messages, source, timeout)
    except* ConnectionRejected as group:
        rejected = group.exceptions[0]
        assert isinstance(rejected, ConnectionRejected)
        status = int(rejected.status_code)
    return status


async def _send_raw(port: int, messages: list[bytes | str], source: str,
                    timeout: float) -> int | None:
    code: int | None = None
    with trio.move_on_after(timeout) as waited:
        async with trio.open_nursery() as nursery:  # its exit waits for the TCP close
            stream = await trio.open_tcp_stream("127.0.0.1", port, local_address=source)
            ws = await wrap_client_stream(nursery, stream, "127.0.0.1", "/sync",
                                          subprotocols=[PROTOCOL])
            try:
                for m in messages:
                    await ws.send_message(m)
                while True:
                    await ws.get_message()
            except ConnectionClosed as exc:
                code = None if exc.reason is None else exc.reason.code
            finally:
                await ws.aclose()
    if waited.cancelled_caught and code is not None:
        # RFC 6455 §7.1.1: after the close handshake the server closes the TCP connection.
        raise AssertionError(f"the hub sent close {code} but kept the TCP connection open")
    return code


def _now() -> int:
    return int(time.time())
