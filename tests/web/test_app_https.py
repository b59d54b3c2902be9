"""The steunpunt over HTTPS (`[web] tls_cert`, docs/steunpunt.md "HTTPS"), with real parts: a
test CA and a certificate for ``steunpunt.test`` made with `cryptography`; a real hub daemon
serving the board, the app and ``/sync`` over TLS on loopback, with its plain-HTTP redirect;
a real headless Chromium whose own certificate store (an NSS database in a temporary HOME,
made with `certutil`) trusts the test CA, and that resolves ``steunpunt.test`` to 127.0.0.1.

The point of HTTPS is a *secure context* on a name that is not localhost: the app's service
worker (its offline copy) and WebCrypto's Ed25519 exist only there. So these tests open the
app by name, as a phone would, never at 127.0.0.1 (which browsers treat as secure anyway).
"""

from __future__ import annotations

import dataclasses
import http.client
import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from meshnode.daemon import api
from meshnode.daemon.localnet import LocalNet, LocalNode
from meshnode.transport.udp import Endpoint
from tests.daemons import fast_config, wait_for
from tests.web.certs import NAME, Ca, make_ca, server_files
from tests.web.conftest import free_tcp_port, make_driver, meshnode, web_config

CERTUTIL = shutil.which("certutil") or "/usr/bin/certutil"
CHANNEL = "wijk-noord"


@dataclasses.dataclass(frozen=True)
class HttpsHub:
    hub: LocalNode
    url: str  # https://steunpunt.test:PORT
    redirect_port: int
    expired: LocalNode  # a second hub, whose certificate expired after a long outage
    expired_port: int


@pytest.fixture(scope="module")
def ca() -> Ca:
    return make_ca()


@pytest.fixture(scope="module")
def https_hub(tmp_path_factory: pytest.TempPathFactory, ca: Ca) -> Iterator[HttpsHub]:
    root = tmp_path_factory.mktemp("https")
    files = server_files(root, ca)
    old = server_files(root, ca, valid_from=datetime.now(UTC) - timedelta(days=100),
                       valid_days=90, stem="expired")
    port, redirect_port, expired_port = free_tcp_port(), free_tcp_port(), free_tcp_port()
    url = f"https://{NAME}:{port}"
    with LocalNet.line(root, ["hub", "expired"], fast_config()) as net:
        hub, expired = net["hub"], net["expired"]
        hub.config = dataclasses.replace(hub.config, web=dataclasses.replace(
            web_config(port), url=url + "/", tls_cert=str(files.cert), tls_key=str(files.key),
            redirect_listen=Endpoint("127.0.0.1", redirect_port)))
        expired.config = dataclasses.replace(expired.config, web=dataclasses.replace(
            web_config(expired_port), url=f"https://{NAME}:{expired_port}/",
            tls_cert=str(old.cert), tls_key=str(old.key)))
        net.start()
        wait_for("the HTTPS board", lambda: "web_redirect_ready" in hub.log_file.read_text())
        yield HttpsHub(hub, url, redirect_port, expired, expired_port)


def browser_home(directory: Path, ca: Ca | None) -> dict[str, str]:
    """An environment whose HOME holds an NSS certificate database, as Chromium on Linux
    reads it, that trusts `ca` for websites (or nothing, with None)."""
    db = directory / ".pki" / "nssdb"
    db.mkdir(parents=True)
    subprocess.run([CERTUTIL, "-d", f"sql:{db}", "-N", "--empty-password"], check=True,
                   capture_output=True, timeout=30)
    if ca is not None:
        pem = directory / "ca.pem"
        pem.write_bytes(ca.pem())
        subprocess.run([CERTUTIL, "-d", f"sql:{db}", "-A", "-t", "C,,", "-n", "steunpunt-ca",
                        "-i", str(pem)], check=True, capture_output=True, timeout=30)
    return {**os.environ, "HOME": str(directory)}


def phone(home: Path, ca: Ca | None) -> Any:
    return make_driver(390, 844, javascript=True, env=browser_home(home, ca),
                       args=(f"--host-resolver-rules=MAP {NAME} 127.0.0.1",))


@pytest.fixture(scope="module")
def trusting(tmp_path_factory: pytest.TempPathFactory, ca: Ca) -> Iterator[Any]:
    """A phone that trusts the test CA, as phones trust a public CA."""
    driver = phone(tmp_path_factory.mktemp("home"), ca)
    try:
        yield driver
    finally:
        driver.quit()


def page(driver: Any, script: str) -> Any:
    return driver.execute_script(script)


def promised(driver: Any, expression: str) -> Any:
    """The value of a promise in the page (its error's text if it fails)."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"Promise.resolve().then(() => {expression})"
        ".then((v) => done(v), (e) => done('error: ' + e))")


def open_app(driver: Any, url: str) -> None:
    driver.get(url + "/app/")
    wait_for("the app's node", lambda: len(str(page(
        driver, "return document.querySelector('#fp')?.innerText || ''"))) == 39)


def test_the_app_by_name_over_https_is_a_secure_context_with_a_service_worker(
        https_hub: HttpsHub, trusting: Any) -> None:
    open_app(trusting, https_hub.url)
    assert page(trusting, "return location.origin") == https_hub.url
    assert page(trusting, "return window.isSecureContext") is True
    wait_for("the service worker to control the page", lambda: page(
        trusting, "return navigator.serviceWorker.controller !== null"))
    assert page(trusting, "return navigator.serviceWorker.controller.scriptURL") == (
        https_hub.url + "/app/sw.js")
    assert promised(trusting, "crypto.subtle.generateKey({name: 'Ed25519'}, false, "
                              "['sign', 'verify']).then((k) => k.privateKey.algorithm.name)"
                    ) == "Ed25519"


def test_the_browser_node_syncs_over_wss_and_checks_with_the_browsers_ed25519(
        https_hub: HttpsHub, trusting: Any) -> None:
    open_app(trusting, https_hub.url)
    text = "Drinkwater bij de sporthal, via HTTPS"
    https_hub.hub.request(api.Post(CHANNEL, text))
    box = trusting.find_element("id", "channel-name")
    box.clear()
    box.send_keys(CHANNEL)
    trusting.execute_script("arguments[0].click()", trusting.find_element(
        "css selector", "#channel-form button[type=submit]"))
    wait_for("the hub's post in the browser", lambda: any(text in t for t in page(
        trusting, "return [...document.querySelectorAll('#posts li .text')]"
                  ".map((e) => e.innerText)")))
    assert page(trusting, "return window.meshnode.state.ws.url") == (
        f"wss://{NAME}:{https_hub.url.rsplit(':', 1)[1]}/sync")
    # The post was checked by the browser's own Ed25519 (the app's module, as loaded).
    assert promised(trusting, "import('/app/wire.js').then((m) => m.nativeEd25519())") is True


def test_plain_http_is_sent_on_to_the_https_name(https_hub: HttpsHub, trusting: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", https_hub.redirect_port, timeout=10)
    try:
        conn.request("GET", "/app/?lang=en")
        answer = conn.getresponse()
        assert (answer.status, answer.getheader("location")) == (
            302, https_hub.url + "/app/?lang=en")
        answer.read()
        conn.request("GET", "http://elsewhere.example/generate_204")  # a proxy-style target
        answer = conn.getresponse()
        assert (answer.status, answer.getheader("location")) == (302, https_hub.url + "/")
    finally:
        conn.close()
    # A phone that types the name without https:// lands on the HTTPS board.
    trusting.get(f"http://{NAME}:{https_hub.redirect_port}/")
    assert trusting.current_url == https_hub.url + "/"


def test_the_join_card_prints_the_https_name(https_hub: HttpsHub, trusting: Any) -> None:
    trusting.get(https_hub.url + "/card")
    assert https_hub.url + "/" in trusting.find_element("tag name", "body").text


def test_status_and_log_show_the_certificate_served(https_hub: HttpsHub) -> None:
    https = https_hub.hub.request(api.Status())["web"]["https"]
    assert https["names"] == [NAME]
    assert 78 <= https["days_left"] <= 80  # the test certificate is valid for 80 days
    # The test CA's certificate is not in the file: the hub says phones may miss it.
    assert [w for w in https["warnings"] if "fullchain.pem" in w]
    shown = meshnode("status", data_dir=https_hub.hub.data_dir)
    assert shown.returncode == 0, shown.stderr
    assert f"https       {NAME}: certificate valid until" in shown.stdout
    assert "WARNING     the certificate file holds no intermediate" in shown.stdout
    assert "web_certificate" in https_hub.hub.log_file.read_text()


def test_a_phone_that_does_not_trust_the_certificate_gets_no_service_worker(
        https_hub: HttpsHub, tmp_path: Path) -> None:
    """What a self-signed certificate gives: even a resident who clicks through the warning
    (here: DevTools' `Security.setIgnoreCertificateErrors`) gets no offline copy."""
    driver = phone(tmp_path, None)
    try:
        driver.execute_cdp_cmd("Security.setIgnoreCertificateErrors", {"ignore": True})
        open_app(driver, https_hub.url)
        registered = promised(driver, "navigator.serviceWorker.register('/app/sw.js', "
                                      "{scope: '/app/'}).then(() => 'registered')")
        assert str(registered).startswith("error: SecurityError"), registered
        assert page(driver, "return navigator.serviceWorker.controller") is None
    finally:
        driver.quit()


def test_an_expired_certificate_leaves_the_hub_relaying_and_says_what_to_do(
        https_hub: HttpsHub, ca: Ca) -> None:
    """After an outage longer than the certificate's life the daemon still starts and relays
    (it links with the other hub), warns, and serves the certificate a phone then refuses."""
    wait_for("the hubs to link", lambda: https_hub.expired.request(api.Status())["links"] >= 1)
    https = https_hub.expired.request(api.Status())["web"]["https"]
    assert https["days_left"] < 0
    assert [w for w in https["warnings"] if "EXPIRED" in w and "plain HTTP" in w]
    client = ssl.create_default_context(cadata=ca.pem().decode())  # a phone trusting the CA
    with (socket.create_connection(("127.0.0.1", https_hub.expired_port), timeout=10) as raw,
          pytest.raises(ssl.SSLCertVerificationError, match="expired")):
        client.wrap_socket(raw, server_hostname=NAME)
