"""An asyncio client of the daemon's local API (docs/api.md) for the TUI.

One Unix-socket connection carries requests and, after `subscribe`, the event stream: a reader
task routes each answer to its request by id and each event to `on_event`. `request` raises
`ApiError` for the daemon's refusals and `ConnectionError` when the daemon is gone; `closed`
completes when the connection ends, whatever the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meshnode.daemon import api
from meshnode.daemon.api import ApiError, ErrorCode, ErrorReply, EventMessage, Response

__all__ = ["ApiLink"]

EventHandler = Callable[[str, dict[str, Any]], None]


class ApiLink:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 on_event: EventHandler) -> None:
        self._reader = reader
        self._writer = writer
        self._on_event = on_event
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 1
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, path: Path, on_event: EventHandler, *, timeout: float = 5.0) -> ApiLink:
        """Connect; raises ConnectionError (FileNotFoundError, refused, ...) or TimeoutError."""
        with api.socket_path(path) as address:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(address, limit=api.MAX_REPLY), timeout)
        return cls(reader, writer, on_event)

    async def request(self, request: api.Request, *, timeout: float = 15.0) -> dict[str, Any]:
        if self.closed.done():
            raise ConnectionError("not connected to the daemon")
        request_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self._writer.write(api.encode_request(request, request_id))
            await self._writer.drain()
            return await asyncio.wait_for(future, timeout)
        except OSError as exc:
            raise ConnectionError(str(exc)) from exc
        finally:
            self._pending.pop(request_id, None)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await self._task
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    async def _read(self) -> None:
        try:
            while True:
                line = await self._reader.readline()
                if not line.endswith(b"\n"):
                    break  # EOF (or a line cut short): the daemon went away
                try:
                    reply = api.decode_reply(line)
                except ApiError:
                    continue
                if isinstance(reply, EventMessage):
                    self._on_event(reply.event, reply.data)
                    continue
                future = self._pending.get(reply.id) if isinstance(reply.id, int) else None
                if future is None or future.done():
                    continue
                if isinstance(reply, ErrorReply):
                    try:
                        code = ErrorCode(reply.code)
                    except ValueError:
                        code = ErrorCode.INTERNAL
                    future.set_exception(ApiError(code, reply.message, reply.id))
                elif isinstance(reply, Response):
                    future.set_result(reply.result)
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("the daemon closed the connection"))
            if not self.closed.done():
                self.closed.set_result(None)
