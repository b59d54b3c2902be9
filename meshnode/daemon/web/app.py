"""The board's routes: a small ASGI application (served by hypercorn on trio, `server`).

Routes, all GET or HEAD (anything else is 405):

* ``/``: the information board; ``/c/CHANNEL``: a neighbourhood channel's newest posts;
* ``/kiosk?i=N``: screen N of the kiosk rotation, which refreshes itself to N+1 (meta refresh,
  no script); ``/card``: the printable join card; ``/static/board.css``: the style sheet;
* with `[web] residents` on, ``/app/`` and its files, and ``/vendor/``: the resident's app
  (the browser node, `appfiles`), under its own Content-Security-Policy (`APP_CSP`), and
  ``/app/roots.json``: the roots this hub pins (`roots_json`), which a phone pins on its first
  visit and keeps (docs/steunpunt.md, "Alerts in the app").

With `[web] residents` on, a WebSocket at ``/sync`` is a mesh link of the hub's
`WsTransport` (the browser node's sync link, docs/steunpunt.md); every other WebSocket is
refused.

``?lang=nl|en`` picks the language, else the browser's Accept-Language, else `[web] language`.
Every other response carries a Content-Security-Policy that allows nothing but the hub's own
style sheet (no script, no frame, no form, no other origin); all carry ``nosniff`` and
``no-referrer``.
The daemon's state is read through its API request path (`source`), kept `FRESH_FOR` seconds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from meshnode.daemon.api import ApiError
from meshnode.daemon.config import WebConfig
from meshnode.daemon.web import strings
from meshnode.daemon.web.appfiles import APP_CSP, AppFiles
from meshnode.daemon.web.board import Board, Snapshot, build_board, channel_posts, kiosk_items
from meshnode.daemon.web.render import Renderer
from meshnode.daemon.web.source import FRESH_FOR, Call, Memo, read_posts, read_snapshot
from meshnode.transport.websocket import WsTransport

__all__ = ["CSP", "ROOTS_PATH", "BoardApp", "Receive", "Scope", "Send", "lifespan", "roots_json"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_HTML = b"text/html; charset=utf-8"
ROOTS_PATH = "/app/roots.json"
_MAX_PATH = 256
_KIOSK_MAX = 10_000
_log = logging.getLogger("meshnode.web")


def _css() -> bytes:
    return resources.files("meshnode.daemon.web").joinpath("static/board.css").read_bytes()


class BoardApp:
    """The ASGI application of one steunpunt: `call` is the daemon's API request path."""

    def __init__(self, web: WebConfig, call: Call, mesh: WsTransport | None = None) -> None:
        self.web = web
        self.call = call
        self.mesh = mesh
        self.app = AppFiles.load() if mesh is not None else AppFiles({})
        self.render = Renderer(web)
        self.pages: Memo[bytes] = Memo(FRESH_FOR)
        self.snapshots: Memo[Snapshot] = Memo(FRESH_FOR, size=1)
        self.css = _css()
        self.served = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "http":
            status, content_type, body, extra = await self._respond(scope)
            await _reply(send, status, content_type,
                         b"" if scope["method"] == "HEAD" else body, extra, len(body))
            self.served += 1

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``/sync`` is a mesh link (when residents are on); anything else is refused."""
        connect = await receive()
        if connect["type"] != "websocket.connect":
            return
        if self.mesh is None or scope.get("path") != "/sync":
            await send({"type": "websocket.close", "code": 1008})
            return
        client = scope.get("client") or ("?", 0)
        await self.mesh.serve(str(client[0]), receive, send, list(scope.get("subprotocols", [])))

    async def _respond(self, scope: Scope) -> tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), max_num_fields=8)
        accept = _header(scope, b"accept-language")
        lang = strings.pick_language(query.get("lang", [None])[0], accept, self.web.language)
        if scope["method"] not in ("GET", "HEAD"):
            return 405, _HTML, self._message("not_found", lang), [
                _board_csp(), (b"allow", b"GET, HEAD")]
        path = scope.get("path", "/")
        if path == "/static/board.css":
            return 200, b"text/css; charset=utf-8", self.css, [
                _board_csp(), (b"cache-control", b"public, max-age=3600")]
        if path == ROOTS_PATH and self.mesh is not None:
            body = roots_json((await self._snapshot()).status)
            return 200, b"application/json", body, [
                (b"content-security-policy", APP_CSP.encode()), (b"cache-control", b"no-store")]
        if (file := self.app.get(path)) is not None:
            # no-cache: the service worker, not the HTTP cache, keeps the app for offline use
            return 200, file.content_type, file.body, [
                (b"content-security-policy", APP_CSP.encode()), (b"cache-control", b"no-cache")]
        return await self._board_response(path, query, lang)

    async def _board_response(self, path: str, query: dict[str, list[str]], lang: str
                              ) -> tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]:
        try:
            page = await self._page(path, query, lang)
        except ApiError as exc:
            _log.warning("web_unavailable", extra={"fields": {"path": path[:_MAX_PATH],
                                                              "error": exc.message}})
            return 503, _HTML, self._message("unavailable", lang), [
                _board_csp(), (b"retry-after", b"30")]
        if page is None:
            return 404, _HTML, self._message("not_found", lang), [_board_csp()]
        return 200, _HTML, page, [_board_csp(), (b"cache-control", b"no-cache")]

    async def _page(self, path: str, query: dict[str, list[str]], lang: str) -> bytes | None:
        """The page at `path`, or None if there is none."""
        if path == "/":
            return await self.pages.get(("board", lang), lambda: self._board_page(lang))
        if path == "/card":
            return await self.pages.get(("card", lang), lambda: self._card_page(lang))
        if path == "/kiosk":
            return await self._kiosk_page(query, lang)
        if path.startswith("/c/") and len(path) <= _MAX_PATH:
            return await self._channel_page(unquote(path[3:]), lang)
        return None

    async def _snapshot(self) -> Snapshot:
        return await self.snapshots.get("snapshot", lambda: read_snapshot(self.call))

    async def _board(self, lang: str) -> Board:
        return build_board(await self._snapshot(), lang)

    async def _board_page(self, lang: str) -> bytes:
        return self._encode(self.render.board(await self._board(lang), lang))

    async def _card_page(self, lang: str) -> bytes:
        return self._encode(self.render.card(lang))

    async def _kiosk_page(self, query: dict[str, list[str]], lang: str) -> bytes:
        raw = query.get("i", ["0"])[0]
        index = int(raw) % _KIOSK_MAX if raw.isdigit() and len(raw) < 9 else 0
        fixed = "lang" in query
        board = await self._board(lang)
        items = kiosk_items(board)
        total = len(items)
        # Without ?lang= the rotation shows each item in Dutch, then in English.
        screens = max(total, 1) * (1 if fixed else 2)
        index %= screens
        item_index = index if fixed else index // 2
        if not fixed:
            lang = "nl" if index % 2 == 0 else "en"
            board = await self._board(lang)
            items = kiosk_items(board)
        nxt = f"/kiosk?i={(index + 1) % screens}" + (f"&lang={lang}" if fixed else "")

        async def render() -> bytes:
            item = items[item_index] if item_index < len(items) else None
            return self._encode(self.render.kiosk(board, item, item_index, total, lang, nxt))

        return await self.pages.get(("kiosk", lang, index, fixed), render)

    async def _channel_page(self, channel: str, lang: str) -> bytes | None:
        board = await self._board(lang)
        # Only channels the hub holds (and never the notice channel) have a page.
        if channel not in {c.name for c in board.channels}:
            return None

        async def render() -> bytes:
            posts = channel_posts(await read_posts(self.call, channel))
            return self._encode(self.render.channel(channel, posts, board.generated, lang))

        return await self.pages.get(("channel", quote(channel), lang), render)

    def _message(self, key: str, lang: str) -> bytes:
        return self._encode(self.render.message(key, lang))

    @staticmethod
    def _encode(html: str) -> bytes:
        return html.encode("utf-8")


def roots_json(status: Mapping[str, Any]) -> bytes:
    """The hub's pinned roots, as the app pins them: key (hex), name, fingerprint, and for a
    root handed over to a successor the moment it was retired (unix seconds; null for a root
    in service). A phone pinning after a rotation pins the retired root as retired: it still
    verifies the certificates that root issued before the handover (issuer certificates last
    a year), and none from after it. A phone that pinned before follows a rotation itself,
    checking its signatures (app/alerts.js)."""
    roots = [{"key": r["key"], "name": r["name"], "fingerprint": r["fingerprint"],
              "retired": r.get("retired")} for r in status.get("trust", [])]
    return json.dumps({"roots": roots}, ensure_ascii=False).encode("utf-8")


def _board_csp() -> tuple[bytes, bytes]:
    return (b"content-security-policy", CSP.encode())


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value[:512]).decode("latin-1")
    return ""


async def lifespan(receive: Receive, send: Send) -> None:
    """Answer the ASGI lifespan protocol: nothing to set up or tear down."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _reply(send: Send, status: int, content_type: bytes, body: bytes,
                 extra: list[tuple[bytes, bytes]], length: int) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(length).encode()),
               *_HEADERS, *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
