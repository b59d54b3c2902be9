"""The steunpunt's public web pages, served by the hub daemon (`[web]`, docs/steunpunt.md).

Modules, one job each: `board` (what the pages show, from the local API's results),
`source` (reading those results through the daemon's API path, and keeping them briefly),
`strings` (Dutch and English), `qr` (the join card's QR codes), `render` (HTML templates),
`app` (the routes and security headers), `server` (hypercorn on trio).
"""

from meshnode.daemon.web.server import serve_web

__all__ = ["serve_web"]
