"""Idle and greedy clients of the local control API cannot hold every slot: a connection that
sends no request for `idle_timeout` is closed with an `idle` error (its slot freed), and one
client process may hold at most `max_per_client` connections while other processes still get
in. A real `ApiServer` on a real Unix socket; time is trio's `MockClock`, moved by hand."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
import trio.testing

from meshnode.daemon import api
from meshnode.daemon.apiserver import ApiServer, EventHub
from tests.polling import until_settled

IDLE = 300.0


async def _answer(request: api.Request) -> dict[str, Any]:
    return {"op": api.op_name(request)}


@asynccontextmanager
async def _server(**limits: Any) -> AsyncIterator[ApiServer]:
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        server = ApiServer(Path(tmp) / "api.sock", _answer, EventHub(), **limits)
        server.bind()
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(server.serve)
                yield server
                nursery.cancel_scope.cancel()
        finally:
            server.close()


async def _connect(server: ApiServer) -> trio.SocketStream:
    with api.socket_path(server.path) as address:
        return await trio.open_unix_socket(address)


async def _reply(stream: trio.SocketStream) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = await stream.receive_some(65_536)
        if not chunk:
            break
        data += chunk
    return data


async def _ask(stream: trio.SocketStream, request: api.Request) -> Any:
    await stream.send_all(api.encode_request(request, 1))
    return api.decode_reply(await _reply(stream))


def test_an_idle_connection_is_closed_after_the_timeout_and_its_slot_freed() -> None:
    clock = trio.testing.MockClock()

    async def main() -> None:
        async with _server(max_clients=2, idle_timeout=IDLE) as server:
            quiet, busy = await _connect(server), await _connect(server)
            assert isinstance(await _ask(busy, api.Hello()), api.Response)
            await until_settled(lambda: server.stats()["clients"] == 2)
            # Full: a third is refused while both hold their slots.
            third = await _connect(server)
            refused = api.decode_reply(await _reply(third))
            assert isinstance(refused, api.ErrorReply) and refused.code == "busy"
            clock.jump(IDLE / 2)
            assert isinstance(await _ask(busy, api.Hello()), api.Response)  # resets its wait
            clock.jump(IDLE / 2 + 1)
            await until_settled(lambda: server.stats()["idle_closed"] == 1)
            idle = api.decode_reply(await _reply(quiet))
            assert isinstance(idle, api.ErrorReply) and idle.code == "idle"
            assert await quiet.receive_some(10) == b""  # closed
            await until_settled(lambda: server.stats()["clients"] == 1)
            # The freed slot serves a new client; the active one was never cut off.
            fresh = await _connect(server)
            assert isinstance(await _ask(fresh, api.Hello()), api.Response)
            assert isinstance(await _ask(busy, api.Hello()), api.Response)
            for s in (quiet, busy, third, fresh):
                await s.aclose()

    trio.run(main, clock=clock)


def test_a_client_trickling_a_partial_line_is_closed_too() -> None:
    clock = trio.testing.MockClock()

    async def main() -> None:
        async with _server(idle_timeout=IDLE) as server:
            slow = await _connect(server)
            await slow.send_all(b'{"v": 1, "id": 1, ')
            await until_settled(lambda: server.stats()["clients"] == 1)
            clock.jump(IDLE + 1)
            await until_settled(lambda: server.stats()["idle_closed"] == 1)
            idle = api.decode_reply(await _reply(slow))
            assert isinstance(idle, api.ErrorReply) and idle.code == "idle"
            await slow.aclose()

    trio.run(main, clock=clock)


def test_a_subscriber_may_listen_quietly_beyond_the_idle_timeout() -> None:
    clock = trio.testing.MockClock()

    async def main() -> None:
        hub = EventHub()
        with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
            server = ApiServer(Path(tmp) / "api.sock", _answer, hub, idle_timeout=IDLE)
            server.bind()
            async with trio.open_nursery() as nursery:
                await nursery.start(server.serve)
                listener = await _connect(server)
                assert isinstance(await _ask(listener, api.Subscribe()), api.Response)
                clock.jump(IDLE * 10)
                await until_settled(lambda: len(hub) == 1)
                hub.publish(api.EVENTS[0], {"id": "ab"})
                event = api.decode_reply(await _reply(listener))
                assert isinstance(event, api.EventMessage)
                assert server.stats()["idle_closed"] == 0
                await listener.aclose()
                nursery.cancel_scope.cancel()
            server.close()

    trio.run(main, clock=clock)


_OTHER_PROCESS = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"v": 1, "id": 1, "op": "hello"}\\n')
print(s.recv(65536).decode().strip())
"""


def test_one_process_cannot_take_every_slot_and_others_still_get_in() -> None:
    async def main() -> None:
        async with _server(max_clients=6, max_per_client=3) as server:
            held = [await _connect(server) for _ in range(3)]
            for s in held:
                assert isinstance(await _ask(s, api.Hello()), api.Response)
            greedy = await _connect(server)
            with contextlib.suppress(trio.BrokenResourceError):  # it may be closed already
                await greedy.send_all(api.encode_request(api.Hello(), 1))
            refused = api.decode_reply(await _reply(greedy))
            assert isinstance(refused, api.ErrorReply) and refused.code == "busy"
            assert "this process already holds 3 connections" in refused.message
            # Another process is served while this one holds its share.
            with api.socket_path(server.path) as address:
                other = await trio.run_process([sys.executable, "-c", _OTHER_PROCESS, address],
                                               capture_stdout=True)
            reply = api.decode_reply(other.stdout)
            assert isinstance(reply, api.Response) and reply.result == {"op": "hello"}
            # Closing one of ours lets this process connect again.
            await held.pop().aclose()
            await until_settled(lambda: server.stats()["clients"] == 2)
            again = await _connect(server)
            assert isinstance(await _ask(again, api.Hello()), api.Response)
            for s in (*held, greedy, again):
                await s.aclose()

    trio.run(main)
