"""Serving the board over HTTP on trio: hypercorn's trio worker running `BoardApp`.

`serve_web` is one task in the daemon's nursery. It binds `[web] listen` itself, so that a
port already taken (or a privileged port without the capability) is reported by us: it is
logged as ``web_unavailable`` with the fix and the task ends, while the daemon carries on
relaying alerts and messages. The board is a help to residents, never a reason for the mesh
to stop.

Hypercorn brings HTTP/1.1 parsing (h11), keep-alive, request-size and timeout limits;
hand-written HTTP on raw sockets would be code of ours to get wrong.
"""

from __future__ import annotations

import logging
import socket
from functools import partial
from typing import cast

import trio
from hypercorn.config import Config, Sockets
from hypercorn.trio.run import worker_serve
from hypercorn.typing import ASGIFramework
from hypercorn.utils import wrap_app

from meshnode.daemon.config import WebConfig
from meshnode.daemon.web.app import BoardApp
from meshnode.daemon.web.source import Call
from meshnode.transport.framing import DEFAULT_MAX_FRAME
from meshnode.transport.websocket import WsTransport

__all__ = ["bind_web", "serve_web"]

BACKLOG = 1024  # pending connections: a crowd arriving at once queues instead of failing
_log = logging.getLogger("meshnode.web")


def bind_web(web: WebConfig) -> socket.socket:
    """A TCP socket bound to `web.listen` (IPv4, or IPv6 for a host with a colon)."""
    host = web.listen.host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, web.listen.port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _hypercorn_config() -> Config:
    config = Config()
    config.errorlog = _log
    config.accesslog = None
    config.include_server_header = False
    config.keep_alive_timeout = 5.0
    config.read_timeout = 10  # a client that stops sending mid-request is dropped
    config.graceful_timeout = 1.0
    config.h11_max_incomplete_size = 8 * 1024  # request line and headers
    config.backlog = BACKLOG
    # A sync frame is one WebSocket message: larger ones are refused by hypercorn (close
    # 1009) before they are buffered. Pings keep a phone's idle link from being cut by NAT.
    config.websocket_max_message_size = DEFAULT_MAX_FRAME
    config.websocket_ping_interval = 20.0
    return config


async def serve_web(web: WebConfig, call: Call, mesh: WsTransport | None = None, *,
                    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the board on `web.listen` until cancelled (`call`: the daemon's API path;
    `mesh`: the transport whose links the ``/sync`` WebSockets become, if residents are on)."""
    try:
        sock = bind_web(web)
    except OSError as exc:
        _log.error("web_unavailable", extra={"fields": {
            "listen": str(web.listen), "error": exc.strerror or str(exc),
            "fix": "choose a free [web] listen port (ports below 1024 need the "
                   "CAP_NET_BIND_SERVICE capability, docs/steunpunt.md); the mesh runs on "
                   "without the board"}})
        task_status.started()
        return
    app = BoardApp(web, call, mesh)
    address = sock.getsockname()
    try:
        _log.info("web_ready", extra={"fields": {"listen": f"{address[0]}:{address[1]}"}})
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(
                worker_serve, wrap_app(cast(ASGIFramework, app), 0, "asgi"),
                _hypercorn_config(), sockets=Sockets([], [sock], [])))
            task_status.started()
    finally:
        sock.close()
