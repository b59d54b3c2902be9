"""A blocking client for the local control API (docs/api.md), for the CLI and scripts.

    with ApiClient(data_dir / "api.sock") as client:
        client.request(api.Post("wijk-noord", "Water at the gym"))
        client.request(api.Subscribe())
        for event in client.events():
            ...

`request` returns the result object or raises `ApiError` carrying the daemon's code and
message; a daemon that is not there raises `DaemonNotRunning`.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from meshnode.daemon import api
from meshnode.daemon.api import ApiError, ErrorCode, ErrorReply, EventMessage, Response

__all__ = ["ApiClient", "DaemonNotRunning"]


class DaemonNotRunning(Exception):
    """Nothing answers on the API socket."""


class ApiClient:
    def __init__(self, path: Path, *, timeout: float | None = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._file: BinaryIO | None = None
        self._next_id = 1
        self._pending: list[EventMessage] = []

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            with api.socket_path(self.path) as address:
                sock.connect(address)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            raise DaemonNotRunning(f"no daemon answers at {self.path}") from exc
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._file = sock.makefile("rb")

    def shutdown(self) -> None:
        """End the connection from any thread; a thread blocked reading it sees the end."""
        if self._sock is not None:
            with contextlib.suppress(OSError):  # already closed by the other side
                self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._file = None

    def __enter__(self) -> ApiClient:
        if self._sock is None:
            self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (tests use it to send malformed requests)."""
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        self._sock.sendall(data)

    def read_reply(self) -> api.Reply:
        assert self._file is not None, "not connected"
        line = self._file.readline(api.MAX_REPLY + 1)
        if not line:
            raise ConnectionError("the daemon closed the connection")
        if not line.endswith(b"\n"):
            raise ApiError(ErrorCode.TOO_LARGE, "reply line too long or cut short")
        return api.decode_reply(line)

    def request(self, request: api.Request) -> dict[str, Any]:
        request_id = self._next_id
        self._next_id += 1
        self.send_raw(api.encode_request(request, request_id))
        while True:
            reply = self.read_reply()
            if isinstance(reply, EventMessage):
                self._pending.append(reply)  # an event overtook the answer: keep it
                continue
            if isinstance(reply, ErrorReply) and reply.id is None:
                raise _error(reply)  # about the connection, not a request: busy, too large
            if reply.id != request_id:
                raise ApiError(ErrorCode.INTERNAL, f"answer to request {reply.id!r}, expected "
                                                   f"{request_id}")
            if isinstance(reply, ErrorReply):
                raise _error(reply)
            assert isinstance(reply, Response)
            return reply.result

    def events(self) -> Iterator[EventMessage]:
        """Events after a `Subscribe` request, as they come; ends when the daemon hangs up."""
        while self._pending:
            yield self._pending.pop(0)
        while True:
            try:
                reply = self.read_reply()
            except ConnectionError:
                return
            if isinstance(reply, EventMessage):
                yield reply


def _error(reply: ErrorReply) -> ApiError:
    try:
        code = ErrorCode(reply.code)
    except ValueError:
        code = ErrorCode.INTERNAL  # a newer daemon's code
    return ApiError(code, reply.message, reply.id)
