"""The plain-HTTP side of an HTTPS steunpunt (`[web] redirect_listen`): every request is sent
on to the same path at the board's https:// address (`[web] url`), and nothing else is served.

Phones check for internet with plain http:// requests after joining a Wi-Fi network, and
residents type addresses without https://; both land here and are sent to the name the
certificate is for. 302 (not 301): a browser does not keep it, so a steunpunt that falls back
to plain HTTP when its certificate expires is not hidden behind a remembered redirect.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from meshnode.daemon.web.app import Receive, Scope, Send, lifespan

__all__ = ["RedirectApp"]

_MAX_TARGET = 1024  # a longer path is sent to the board's front page


class RedirectApp:
    """ASGI: a redirect to `url`'s scheme and host, with the request's own path and query."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.redirected = 0

    def location(self, scope: Scope) -> bytes:
        """Where to send a request: the same path and query at `origin`. The raw target is
        passed on as sent (percent-encoded) when it is a plain path; anything else (an
        absolute-form target, control or non-ASCII bytes) goes to the front page."""
        path = bytes(scope.get("raw_path") or b"/")
        query = bytes(scope.get("query_string") or b"")
        target = path + (b"?" + query if query else b"")
        if (not path.startswith(b"/") or path.startswith(b"//") or len(target) > _MAX_TARGET
                or any(b <= 0x20 or b >= 0x7F for b in target)):
            target = b"/"
        return self.origin.encode("ascii") + target

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
        elif scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1008})
        elif scope["type"] == "http":
            await send({"type": "http.response.start", "status": 302, "headers": [
                (b"location", self.location(scope)), (b"content-length", b"0"),
                (b"cache-control", b"no-store")]})
            await send({"type": "http.response.body", "body": b""})
            self.redirected += 1
