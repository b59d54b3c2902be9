"""The board's HTTP surface against a real daemon process on loopback: security headers on
every answer, nothing but GET and HEAD, unknown pages refused, and a port that cannot be bound
costs the board, never the daemon."""

from __future__ import annotations

import dataclasses
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshnode.daemon import api
from meshnode.daemon.localnet import LocalNet, LocalNode
from tests.daemons import fast_config, wait_for
from tests.web.conftest import Steunpunt, answers, free_tcp_port, web_config

PAGES = ("/", "/?lang=en", "/kiosk", "/kiosk?i=7&lang=en", "/card", "/c/nowhere", "/nope")


@pytest.fixture(scope="module")
def spot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Steunpunt]:
    root = tmp_path_factory.mktemp("http")
    port = free_tcp_port()
    with LocalNet.line(root, ["hub"], fast_config()) as net:
        hub = net["hub"]
        hub.config = dataclasses.replace(hub.config, web=web_config(port))
        net.start()
        spot = Steunpunt(net, hub, hub, f"http://127.0.0.1:{port}")
        wait_for("the board", lambda: answers(spot))
        yield spot


def test_every_answer_carries_a_strict_content_security_policy(spot: Steunpunt) -> None:
    for path in PAGES:
        status, headers, _ = spot.get(path)
        assert status in (200, 404), path
        policy = headers["content-security-policy"]
        assert "default-src 'none'" in policy and "style-src 'self'" in policy, path
        assert "script-src" not in policy  # scripts fall under default-src: none
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "server" not in {k.lower() for k in headers}


def test_pages_are_html_and_the_style_sheet_is_css(spot: Steunpunt) -> None:
    status, headers, body = spot.get("/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert b"<script" not in body and b"http://" not in body.split(b"</head>")[0]
    status, headers, body = spot.get("/static/board.css")
    assert status == 200 and headers["content-type"].startswith("text/css")
    assert b"@import" not in body and b"url(" not in body  # nothing fetched from elsewhere


def test_only_get_and_head_are_answered(spot: Steunpunt) -> None:
    before = spot.hub.request(api.Status())["store"]["messages"]
    for method in ("POST", "PUT", "DELETE"):
        req = urllib.request.Request(spot.url + "/", data=b"channel=x&text=y", method=method)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 405 and err.value.headers["allow"] == "GET, HEAD"
    head = urllib.request.urlopen(urllib.request.Request(spot.url + "/", method="HEAD"),
                                  timeout=10)
    assert head.status == 200 and head.read() == b""
    assert spot.hub.request(api.Status())["store"]["messages"] == before


def test_unknown_pages_and_channels_are_not_found(spot: Steunpunt) -> None:
    for path in ("/nope", "/c/nowhere", "/c/" + "x" * 400, "/c/%3Cscript%3E", "/../etc/passwd"):
        status, _, body = spot.get(path)
        assert status == 404, path
        assert b"<script" not in body
    assert spot.get("/kiosk?i=-1")[0] == 200  # a bad rotation index starts from the first
    assert spot.get("/kiosk?i=99999999999999999999")[0] == 200


def test_a_port_that_cannot_be_bound_leaves_the_daemon_running(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with LocalNet.line(tmp_path, ["hub"], fast_config()) as net:
            hub: LocalNode = net["hub"]
            hub.config = dataclasses.replace(hub.config, web=web_config(port))
            net.start()
            wait_for("the log line", lambda: "web_unavailable" in hub.log_file.read_text())
            assert hub.request(api.Post("wijk-noord", "still relaying"))["channel"] == "wijk-noord"
            assert hub.process is not None and hub.process.poll() is None


def test_with_web_off_nothing_listens_on_its_port(tmp_path: Path) -> None:
    port = free_tcp_port()
    with LocalNet.line(tmp_path, ["hub"], fast_config()) as net:
        hub = net["hub"]
        hub.config = dataclasses.replace(
            hub.config, web=dataclasses.replace(web_config(port), enabled=False))
        net.start()
        assert hub.request(api.Hello())["node_id"]
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_the_kiosk_without_a_language_shows_each_screen_in_dutch_then_english(
        spot: Steunpunt) -> None:
    first = spot.page("/kiosk")
    assert 'lang="nl"' in first and 'url=/kiosk?i=1"' in first
    second = spot.page("/kiosk?i=1")
    assert 'lang="en"' in second and "No alerts in force" in second
    assert 'url=/kiosk?i=0"' in second  # one screen (no alerts, no notices), two languages
