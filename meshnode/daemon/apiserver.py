"""The local control API's server: a Unix socket, one task per client, and the event fan-out.

The socket lives in the data directory with mode 0600 and only the daemon's own user (or root)
may talk to it (checked with SO_PEERCRED as well). Each client's requests are answered in order
through `call` (the daemon's core). A `subscribe` request turns on the event stream for that
connection; events come from `EventHub.publish`, which never blocks the core: a subscriber that
falls `EventHub.buffer` events behind gets an ``overflow`` event and loses its subscription.
Malformed requests are answered with an error, counted, and the connection carries on; a line
longer than `MAX_REQUEST` ends the connection.

Slots are bounded: at most `max_clients` connections, at most `max_per_client` of them from one
client process (by the pid SO_PEERCRED reports), and a connection that sends no complete
request for `idle_timeout` seconds (not subscribed to events) is closed with an `idle` error, so
forgotten or stalled clients free their slots by themselves. Times are trio's clock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import struct
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from meshnode.daemon.api import (
    EVENTS,
    MAX_REQUEST,
    ApiError,
    ErrorCode,
    Request,
    Subscribe,
    decode_request,
    encode_error,
    encode_event,
    encode_response,
    socket_path,
)

__all__ = ["ApiServer", "EventHub", "Subscription"]

_log = logging.getLogger("meshnode.api")
_READ = 65_536


@dataclass(eq=False)
class Subscription:
    events: frozenset[str]
    send: trio.MemorySendChannel[tuple[str, dict[str, Any]]]
    receive: trio.MemoryReceiveChannel[tuple[str, dict[str, Any]]]
    overflowed: bool = False


@dataclass
class EventHub:
    """Fan-out of API events to subscribers, each with a bounded queue."""

    buffer: int = 1024
    _subs: set[Subscription] = field(default_factory=set)

    def subscribe(self, events: frozenset[str]) -> Subscription:
        send, receive = trio.open_memory_channel[tuple[str, dict[str, Any]]](self.buffer)
        sub = Subscription(events or frozenset(EVENTS), send, receive)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        sub.send.close()

    def listens(self, name: str) -> bool:
        """Whether any subscriber takes events called `name` (views for nobody are not built)."""
        return any(name in sub.events for sub in self._subs)

    def publish(self, name: str, data: dict[str, Any]) -> None:
        for sub in list(self._subs):
            if name not in sub.events:
                continue
            try:
                sub.send.send_nowait((name, data))
            except trio.WouldBlock:
                sub.overflowed = True
                self.unsubscribe(sub)

    def __len__(self) -> int:
        return len(self._subs)


class _TooLarge(Exception):
    pass


class _Idle(Exception):
    pass


def _peer_creds(stream: trio.SocketStream) -> tuple[int, int, int] | None:
    """(pid, uid, gid) of the process at the other end (SO_PEERCRED); None if unknown."""
    try:
        creds = stream.socket.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                         struct.calcsize("3i"))
    except OSError:
        return None
    pid, uid, gid = struct.unpack("3i", creds)
    return pid, uid, gid


def _peer_pid(stream: trio.SocketStream) -> int | None:
    creds = _peer_creds(stream)
    return None if creds is None else creds[0]


class _LineReader:
    """Newline-terminated lines from a stream, each at most `limit` bytes."""

    def __init__(self, stream: trio.SocketStream, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._buf = bytearray()
        self.eof = False

    async def next_line(self) -> bytes | None:
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                if end + 1 > self._limit:
                    raise _TooLarge
                line = bytes(self._buf[:end + 1])
                del self._buf[:end + 1]
                return line
            if len(self._buf) > self._limit:
                raise _TooLarge
            if self.eof:
                rest, self._buf = bytes(self._buf), bytearray()
                return rest if rest.strip() else None
            data = await self._stream.receive_some(_READ)
            if not data:
                self.eof = True
            self._buf += data


class ApiServer:
    def __init__(self, path: Path, call: Callable[[Request], Awaitable[dict[str, Any]]],
                 hub: EventHub, *, max_clients: int = 16, max_per_client: int = 8,
                 idle_timeout: float = 300.0) -> None:
        self.path = path
        self.max_clients = max_clients
        self.max_per_client = max_per_client
        self.idle_timeout = idle_timeout
        self.counters: Counter[str] = Counter(dict.fromkeys(
            ("connections", "requests", "bad_requests", "errors", "refused", "idle_closed"), 0))
        self._call = call
        self._hub = hub
        self._clients = 0
        self._per_pid: Counter[int] = Counter()
        self._sock: socket.socket | None = None
        self._inode = -1

    def stats(self) -> dict[str, int]:
        return {**self.counters, "clients": self._clients, "subscribers": len(self._hub)}

    def bind(self) -> None:
        """Create the socket (mode 0600), replacing one a crashed daemon left behind."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with socket_path(self.path) as address:
                if os.path.lexists(self.path):
                    os.unlink(self.path)  # we hold the data directory's lock: it is stale
                old = os.umask(0o177)
                try:
                    sock.bind(address)
                finally:
                    os.umask(old)
            os.chmod(self.path, 0o600)
            self._inode = os.stat(self.path).st_ino
            sock.listen(self.max_clients)
        except BaseException:
            sock.close()
            raise
        self._sock = sock

    def close(self) -> None:
        """Close the socket and remove its file (if it is still ours)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        with contextlib.suppress(FileNotFoundError):
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                    ) -> None:
        """Accept clients until cancelled; `bind` first."""
        assert self._sock is not None, "bind() first"
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(self._sock))
        task_status.started()
        async with trio.open_nursery() as nursery:
            while True:
                stream = await listener.accept()
                self.counters["connections"] += 1
                pid = _peer_pid(stream)
                if self._clients >= self.max_clients:
                    nursery.start_soon(self._refuse, stream, f"more than {self.max_clients} "
                                       "clients; try again shortly")
                elif pid is not None and self._per_pid[pid] >= self.max_per_client:
                    nursery.start_soon(self._refuse, stream, f"this process already holds "
                                       f"{self.max_per_client} connections; close one first")
                else:
                    nursery.start_soon(self._client, stream, pid)

    async def _refuse(self, stream: trio.SocketStream, why: str) -> None:
        self.counters["refused"] += 1
        async with stream:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(encode_error(None, ErrorCode.BUSY, why))

    @staticmethod
    def _allowed(stream: trio.SocketStream) -> bool:
        creds = _peer_creds(stream)
        return creds is not None and creds[1] in (os.getuid(), 0)

    async def _next_line(self, reader: _LineReader, subscribed: bool) -> bytes | None:
        """The next request line; raises `_Idle` if none comes within `idle_timeout`
        (a subscribed connection may stay silent: it is listening)."""
        if subscribed:
            return await reader.next_line()
        with trio.move_on_after(self.idle_timeout):
            return await reader.next_line()
        raise _Idle

    async def _client(self, stream: trio.SocketStream, pid: int | None) -> None:
        self._clients += 1
        if pid is not None:
            self._per_pid[pid] += 1
        sub: Subscription | None = None
        lock = trio.Lock()

        async def write(data: bytes) -> None:
            async with lock:
                await stream.send_all(data)

        try:
            async with stream, trio.open_nursery() as nursery:
                if not self._allowed(stream):
                    self.counters["refused"] += 1
                    return
                reader = _LineReader(stream, MAX_REQUEST)
                while True:
                    try:
                        line = await self._next_line(reader, sub is not None)
                    except _Idle:
                        self.counters["idle_closed"] += 1
                        await write(encode_error(None, ErrorCode.IDLE, (
                            f"no request for {self.idle_timeout:g} s: connection closed; "
                            "connect again when there is something to ask")))
                        break
                    except _TooLarge:
                        self.counters["bad_requests"] += 1
                        await write(encode_error(None, ErrorCode.TOO_LARGE,
                                                 f"request line over {MAX_REQUEST} bytes"))
                        break
                    if line is None:
                        break
                    if not line.strip():
                        continue
                    self.counters["requests"] += 1
                    try:
                        request_id, request = decode_request(line)
                    except ApiError as exc:
                        self.counters["bad_requests"] += 1
                        await write(encode_error(exc.request_id, exc.code, exc.message))
                        continue
                    if isinstance(request, Subscribe):
                        if sub is None:
                            sub = self._hub.subscribe(frozenset(request.events))
                            await write(encode_response(request_id,
                                                        {"events": sorted(sub.events)}))
                            nursery.start_soon(self._forward, sub, write)
                        else:
                            await write(encode_error(request_id, ErrorCode.INVALID,
                                                     "already subscribed on this connection"))
                        continue
                    try:
                        result = await self._call(request)
                    except ApiError as exc:
                        self.counters["errors"] += 1
                        await write(encode_error(request_id, exc.code, exc.message))
                        continue
                    await write(encode_response(request_id, result))
                # The client hung up (a subscriber keeps its side open while it listens).
                nursery.cancel_scope.cancel()
        except* (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
            pass  # the client went away mid-reply
        except* Exception:
            # A bug in serving one client must not take the daemon down.
            self.counters["errors"] += 1
            _log.exception("api_client_failed")
        finally:
            self._clients -= 1
            if pid is not None:
                self._per_pid[pid] -= 1
                if not self._per_pid[pid]:
                    del self._per_pid[pid]
            if sub is not None:
                self._hub.unsubscribe(sub)

    async def _forward(self, sub: Subscription,
                       write: Callable[[bytes], Awaitable[None]]) -> None:
        async for name, data in sub.receive:
            await write(encode_event(name, data))
        if sub.overflowed:
            await write(encode_event("overflow", {"reason": "events arrived faster than this "
                                                            "client read them; subscribe again"}))
