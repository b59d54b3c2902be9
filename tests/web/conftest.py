"""Real parts for the board tests: an authority made with the `meshnode authority` command,
a hub daemon with `[web]` on and a mesh peer (separate processes on loopback), and a real
headless Chromium (Debian's `chromium` and `chromium-driver`) driven by selenium.

Set MESHNODE_SCREENSHOTS=1 to have the browser tests write the docs' screenshots
(docs/screenshots/steunpunt-*.png).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meshnode.daemon.config import WebConfig
from meshnode.daemon.localnet import LocalNet, LocalNode
from meshnode.transport.udp import Endpoint
from tests.daemons import fast_config, wait_for

REGION = "52.05,3.9 52.05,4.65 51.75,4.65 51.75,3.9"  # the issuer's certified scope
BOTLEK = "51.9,4.26 51.9,4.35 51.86,4.35 51.86,4.26"  # an alert area inside it
HUB_AT = (51.88, 4.30)  # the steunpunt, inside BOTLEK
SCREENSHOTS = Path(__file__).parent.parent.parent / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def meshnode(*args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real `meshnode` command."""
    prefix = ["--data-dir", str(data_dir)] if data_dir is not None else []
    env = {k: v for k, v in os.environ.items() if k != "MESHNODE_PASSPHRASE"}
    return subprocess.run([sys.executable, "-m", "cli.main", *prefix, *args],
                          capture_output=True, text=True, timeout=60, env=env)


@dataclass(frozen=True)
class AuthorityDirs:
    root: Path  # holds root.pub
    issuer: Path
    cert: Path

    def sign(self, out: Path, *options: str) -> Path:
        r = meshnode("authority", "sign-alert", "--issuer-dir", str(self.issuer), "--cert",
                     str(self.cert), "--out", str(out), *options)
        assert r.returncode == 0, r.stderr
        return out


def fire_alert(*extra: str) -> tuple[str, ...]:
    return ("--event", "Grote brand", "--event-en", "Large fire", "--category", "Fire",
            "--area-desc", "Rotterdam-Botlek", "--polygon", BOTLEK, "--severity", "Severe",
            "--headline-nl", "Grote brand in de Botlek: sluit ramen en deuren",
            "--instruction-nl", "Ga naar binnen. Sluit ramen en deuren.",
            "--headline-en", "Large fire in the Botlek: close windows and doors",
            "--instruction-en", "Go indoors. Close windows and doors.", *extra)


def make_authority(d: Path, root_name: str, issuer_id: str = "nl-vr17") -> AuthorityDirs:
    """A root named `root_name` in `d`, certifying "Veiligheidsregio Test" (`issuer_id`) for
    the test sender and REGION, all made with the `meshnode authority` command."""
    assert meshnode("authority", "init-root", "--dir", str(d / "root"),
                    "--name", root_name).returncode == 0
    assert meshnode("authority", "init-issuer", "--dir", str(d / "vr17"),
                    "--name", "Veiligheidsregio Test").returncode == 0
    made = meshnode("authority", "issue-cert", "--root-dir", str(d / "root"),
                    "--issuer-pub", str(d / "vr17" / "issuer.pub"), "--issuer-id", issuer_id,
                    "--sender", "nl-alert@vrr.example", "--polygon", REGION,
                    "--out", str(d / "cert.msg"))
    assert made.returncode == 0, made.stderr
    return AuthorityDirs(d / "root", d / "vr17", d / "cert.msg")


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> AuthorityDirs:
    return make_authority(tmp_path_factory.mktemp("authority"), "Test root (NOT REAL)")


@dataclass
class Steunpunt:
    """A hub serving the board, linked to one mesh peer."""

    net: LocalNet
    hub: LocalNode
    peer: LocalNode
    url: str

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.url + path, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def page(self, path: str) -> str:
        status, _, body = self.get(path)
        assert status == 200, (status, body[:300])
        return body.decode("utf-8")


def web_config(port: int, **overrides: Any) -> WebConfig:
    return WebConfig(enabled=True, listen=Endpoint("127.0.0.1", port),
                     place="Sporthal De Ark, Kerkstraat 1", url=f"http://127.0.0.1:{port}/",
                     wifi_name="Steunpunt-De-Ark", **overrides)


@pytest.fixture(scope="module")
def steunpunt(tmp_path_factory: pytest.TempPathFactory,
              authority: AuthorityDirs) -> Iterator[Steunpunt]:
    root = tmp_path_factory.mktemp("mesh")
    port = free_tcp_port()
    with LocalNet.line(root, ["hub", "peer"], fast_config()) as net:
        hub = net["hub"]
        hub.config = dataclasses.replace(
            hub.config, web=web_config(port, kiosk_seconds=5),  # the kiosk test waits one rotation
            node=dataclasses.replace(hub.config.node, name="Steunpunt De Ark",
                                     location=HUB_AT))
        net.start([authority.root / "root.pub"])
        spot = Steunpunt(net, hub, net["peer"], f"http://127.0.0.1:{port}")
        wait_for("the board", lambda: answers(spot))
        yield spot


def answers(spot: Steunpunt) -> bool:
    """Whether the board answers yet."""
    try:
        return spot.get("/")[0] == 200
    except OSError:
        return False


# --- the browser -------------------------------------------------------------------------------


@dataclass
class Browser:
    driver: Any
    base: str

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def open_until(self, path: str, what: str, predicate: Callable[[], bool],
                   timeout: float = 30.0) -> None:
        """Load `path` again until `predicate` holds (the board refreshes every few seconds)."""
        def loaded() -> bool:
            self.open(path)
            return predicate()

        wait_for(what, loaded, timeout, every=0.5)

    def text(self) -> str:
        return str(self.driver.find_element("tag name", "body").text)

    def requests(self) -> list[str]:
        """URLs the browser requested since the last call (DevTools performance log)."""
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def screenshot(self, name: str) -> Path | None:
        """With MESHNODE_SCREENSHOTS=1, the whole page into docs/screenshots/NAME.png."""
        if not os.environ.get("MESHNODE_SCREENSHOTS"):
            return None
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics["cssContentSize"]
        width = int(self.driver.execute_cdp_cmd("Runtime.evaluate", {
            "expression": "window.innerWidth", "returnByValue": True})["result"]["value"])
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": size["height"], "scale": 1}})
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def make_driver(width: int, height: int, *, javascript: bool, scale: float = 2.0,
                args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> Any:
    """A headless Chromium as a phone; `args` are more command-line switches and `env` the
    browser's environment (a HOME with its own certificate store: test_app_https.py)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--lang=nl-NL", *args):
        options.add_argument(arg)
    options.add_experimental_option("mobileEmulation", {"deviceMetrics": {
        "width": width, "height": height, "pixelRatio": scale}})
    options.add_experimental_option("prefs", {
        "profile.managed_default_content_settings.javascript": 1 if javascript else 2})
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER, env=env))


@pytest.fixture(scope="module")
def phone(steunpunt: Steunpunt) -> Iterator[Browser]:
    """A 320 px wide phone with JavaScript switched off."""
    driver = make_driver(320, 640, javascript=False)
    try:
        yield Browser(driver, steunpunt.url)
    finally:
        driver.quit()
