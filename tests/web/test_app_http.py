"""The hub serves the resident's app (docs/steunpunt.md) over real HTTP from a real daemon:
every file the app loads, under a Content-Security-Policy that lets it reach only this hub;
the service worker keeps exactly the files the app loads; the roots the hub pins are handed
out for phones to pin (/app/roots.json); nothing else is reachable."""

from __future__ import annotations

import json
import re

import trio

from meshnode.crypto.identity import fingerprint
from meshnode.crypto.trustfile import read_public_key
from meshnode.daemon.config import WebConfig
from meshnode.daemon.web.app import BoardApp
from meshnode.daemon.web.appfiles import APP_CSP, AppFiles
from tests.web.conftest import AuthorityDirs, Steunpunt

IMPORT = re.compile(r"""(?:from|import)\s+'(\.{1,2}/[^']+)'""")


def _shell() -> list[str]:
    sw = AppFiles.load().files["/app/sw.js"].body.decode()
    match = re.search(r"const SHELL = \[(.*?)\];", sw, re.S)
    assert match
    return re.findall(r"'([^']+)'", match.group(1))


def _loaded_by_the_app() -> set[str]:
    """Every file the page and its modules load, followed from /app/ (index.html)."""
    files = AppFiles.load().files
    page = files["/app/"].body.decode()
    found = set(re.findall(r'(?:href|src)="(/[^"]+)"', page)) | {"/app/"}
    todo = [p for p in found if p.endswith(".js")]
    while todo:
        path = todo.pop()
        base = path.rsplit("/", 1)[0] + "/"
        for rel in IMPORT.findall(files[path].body.decode()):
            parts = (base + rel).split("/")
            resolved: list[str] = []
            for part in parts:
                if part == "..":
                    resolved.pop()
                elif part != ".":
                    resolved.append(part)
            target = "/".join(resolved)
            if target not in found:
                found.add(target)
                todo.append(target)
    manifest = files["/app/manifest.webmanifest"].body.decode()
    found |= set(re.findall(r'"src": "(/[^"]+)"', manifest))
    return found


def test_the_service_worker_keeps_exactly_the_files_the_app_loads() -> None:
    assert set(_shell()) == _loaded_by_the_app()


def test_every_app_file_is_served_under_the_app_policy(steunpunt: Steunpunt) -> None:
    for path in [*_shell(), "/app/sw.js"]:
        status, headers, body = steunpunt.get(path)
        assert status == 200, path
        assert headers["content-security-policy"] == APP_CSP
        assert headers["x-content-type-options"] == "nosniff"
        assert body == AppFiles.load().files[path].body
    assert "connect-src 'self'" in APP_CSP and "default-src 'none'" in APP_CSP
    # The board keeps its own policy (no script at all) and links to the app.
    status, headers, board = steunpunt.get("/")
    assert "script-src" not in headers["content-security-policy"]
    assert b'<a href="/app/">' in board


def test_the_hub_hands_out_the_roots_it_pins_for_phones_to_pin(
        steunpunt: Steunpunt, authority: AuthorityDirs) -> None:
    status, headers, body = steunpunt.get("/app/roots.json")
    assert status == 200 and headers["cache-control"] == "no-store"
    assert headers["content-security-policy"] == APP_CSP
    name, key = read_public_key(authority.root / "root.pub", role="root")
    assert json.loads(body) == {"roots": [{
        "key": key.hex(), "name": name, "fingerprint": fingerprint(key), "retired": None}]}


def test_nothing_but_the_app_is_reachable_under_its_paths(steunpunt: Steunpunt) -> None:
    for path in ("/app/selftest.js", "/vendor/vendor.lock.json", "/app/../static/board.css",
                 "/app/index.html", "/app/%2e%2e/board.py", "/vendor/", "/app/sw.js/x"):
        assert steunpunt.get(path)[0] == 404, path


def test_without_residents_the_hub_serves_no_app() -> None:
    async def call(request: object) -> dict[str, object]:
        raise AssertionError("the app's files never ask the daemon")

    async def get(path: str) -> int:
        app = BoardApp(WebConfig(enabled=True, residents=False), call, None)
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        await app({"type": "http", "method": "GET", "path": path, "headers": []},
                  receive, send)
        return int(str(sent[0]["status"]))

    for path in ("/app/", "/app/ui.js", "/vendor/crypto.js"):
        assert trio.run(get, path) == 404
