"""Serving the board over HTTP on trio: hypercorn's trio worker running `BoardApp`.

`serve_web` is one task in the daemon's nursery. It binds `[web] listen` itself, so that a
port already taken (or a privileged port without the capability) is reported by us: it is
logged as ``web_unavailable`` with the fix and the task ends, while the daemon carries on
relaying alerts and messages. The board is a help to residents, never a reason for the mesh
to stop.

Hypercorn brings HTTP/1.1 parsing (h11), keep-alive, request-size and timeout limits, and TLS
(with `[web] tls_cert` and `tls_key`: the board, the app and the ``/sync`` WebSocket are then
served over HTTPS and WSS only); hand-written HTTP on raw sockets would be code of ours to get
wrong. With HTTPS, `[web] redirect_listen` adds a plain-HTTP listener that only redirects to
`[web] url` (`RedirectApp`). The certificate's dates and trust are logged at start as
``web_certificate`` warnings (and shown by `meshnode status`); they never stop the board.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from functools import partial
from typing import cast

import trio
from hypercorn.config import Config, Sockets
from hypercorn.trio.run import worker_serve
from hypercorn.typing import ASGIFramework
from hypercorn.utils import wrap_app

from meshnode.daemon.config import WebConfig
from meshnode.daemon.tls import Certificate, TlsError, read_certificate
from meshnode.daemon.web.app import BoardApp
from meshnode.daemon.web.redirect import RedirectApp
from meshnode.daemon.web.source import Call
from meshnode.transport.framing import DEFAULT_MAX_FRAME
from meshnode.transport.udp import Endpoint
from meshnode.transport.websocket import WsTransport

__all__ = ["bind_web", "serve_web"]

BACKLOG = 1024  # pending connections: a crowd arriving at once queues instead of failing
_log = logging.getLogger("meshnode.web")


def bind_web(listen: Endpoint) -> socket.socket:
    """A TCP socket bound to `listen` (IPv4, or IPv6 for a host with a colon)."""
    host = listen.host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, listen.port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _hypercorn_config(web: WebConfig | None = None) -> Config:
    """Hypercorn's settings; with `web` and its certificate, TLS on every socket served."""
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
    if web is not None and web.tls_cert:
        config.certfile, config.keyfile = web.tls_cert, web.tls_key
        # HTTP/1.1 only: HTTP/2 would bring its own stream and frame limits, and the sync
        # WebSocket over HTTP/2 another code path; phones are as fast on 1.1 for a few pages.
        config.alpn_protocols = ["http/1.1"]
        config.ssl_handshake_timeout = 10.0  # a client that stalls the handshake is dropped
    return config


async def serve_web(web: WebConfig, call: Call, mesh: WsTransport | None = None, *,
                    clock: Callable[[], float] = time.time,
                    task_status: trio.TaskStatus[Certificate | None] = trio.TASK_STATUS_IGNORED
                    ) -> None:
    """Serve the board on `web.listen` until cancelled (`call`: the daemon's API path;
    `mesh`: the transport whose links the ``/sync`` WebSockets become, if residents are on).
    Started with the certificate served over HTTPS (None: plain HTTP, or no board)."""
    certificate = _certificate(web, clock())
    if web.tls_cert and certificate is None:
        task_status.started(None)
        return
    try:
        sock = bind_web(web.listen)
    except OSError as exc:
        _unavailable(web.listen, exc, "web_unavailable", "the mesh runs on without the board")
        task_status.started(None)
        return
    app = BoardApp(web, call, mesh)
    address = sock.getsockname()
    try:
        _log.info("web_ready", extra={"fields": {
            "listen": f"{address[0]}:{address[1]}",
            "scheme": "https" if certificate is not None else "http"}})
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(
                worker_serve, wrap_app(cast(ASGIFramework, app), 0, "asgi"),
                _hypercorn_config(web), sockets=_sockets(sock, secure=certificate is not None)))
            if web.redirect_listen is not None:
                await nursery.start(_serve_redirect, web.redirect_listen, web.url)
            task_status.started(certificate)
    finally:
        sock.close()


def _certificate(web: WebConfig, now: float) -> Certificate | None:
    """The certificate to serve (None without HTTPS, or when it cannot be read: the config
    was checked at load, so that is a file changed since), its warnings logged."""
    if not web.tls_cert:
        return None
    try:
        certificate = read_certificate(web.tls_cert, web.tls_key)
    except TlsError as exc:
        _log.error("web_unavailable", extra={"fields": {
            "listen": str(web.listen), "error": str(exc),
            "fix": "fix [web] tls_cert and tls_key (docs/steunpunt.md, \"HTTPS\"); the mesh "
                   "runs on without the board"}})
        return None
    for warning in certificate.warnings(now):
        _log.warning("web_certificate", extra={"fields": {
            "names": ",".join(certificate.names), "warning": warning}})
    return certificate


async def _serve_redirect(listen: Endpoint, url: str, *,
                          task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
                          ) -> None:
    """The plain-HTTP listener that only redirects to `url`; if its port cannot be bound,
    that is logged and the board is served without it."""
    try:
        sock = bind_web(listen)
    except OSError as exc:
        _unavailable(listen, exc, "web_redirect_unavailable",
                     "the HTTPS board is served without the redirect")
        task_status.started([])
        return
    try:
        _log.info("web_redirect_ready", extra={"fields": {"listen": str(listen), "to": url}})
        await worker_serve(wrap_app(cast(ASGIFramework, RedirectApp(url)), 0, "asgi"),
                           _hypercorn_config(), sockets=_sockets(sock, secure=False),
                           task_status=task_status)
    finally:
        sock.close()


def _sockets(sock: socket.socket, *, secure: bool) -> Sockets:
    return Sockets([sock], [], []) if secure else Sockets([], [sock], [])


def _unavailable(listen: Endpoint, exc: OSError, event: str, carries_on: str) -> None:
    _log.error(event, extra={"fields": {
        "listen": str(listen), "error": exc.strerror or str(exc),
        "fix": "choose a free port (ports below 1024 need the CAP_NET_BIND_SERVICE "
               f"capability, docs/steunpunt.md); {carries_on}"}})
