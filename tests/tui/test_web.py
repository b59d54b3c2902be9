"""`meshnode tui --web` serves the app's page (textual-serve) on a loopback port."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_web_mode_serves_the_page(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "MESHNODE_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "tui", "--web", "--lang", "nl", "--host",
         "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
                    status, page = reply.status, reply.read().decode("utf-8", "replace")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "the web server did not start"
                time.sleep(0.1)
        assert status == 200
        assert "meshnode" in page
        assert "textual" in page.lower()
        assert f"127.0.0.1:{port}" in page  # the page's websocket goes back to this server
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _app_sessions(marker: str) -> list[int]:
    """Pids of the processes of app sessions (not the web server) whose command line has
    `marker` (the test's data directory)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        line = b" ".join(argv).decode(errors="replace")
        # The app, or a shell left around it: anything with the data directory but the server.
        if marker in line and " tui" in line and "--web" not in line:
            pids.append(int(proc.name))
    return pids


def _until(what: str, predicate: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, as a 412-pixel-wide phone (through chromedriver)."""
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_experimental_option("mobileEmulation", {
        "deviceMetrics": {"width": 412, "height": 915, "pixelRatio": 2.6}})
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_page_fits_a_phone_loads_nothing_from_outside_and_leaves_no_process(
        tmp_path: Path, browser: Any) -> None:
    port = free_port()
    home = str(tmp_path / "home")
    server = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "--data-dir", home, "tui", "--web", "--host",
         "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        _until("the web server", lambda: _answers(url))
        browser.get(url)
        _until("the app's first screen", lambda: "-first-byte" in str(
            browser.execute_script("return document.body.className")))
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 412
        right = browser.execute_script(
            "return document.querySelector('.xterm-screen').getBoundingClientRect().right")
        assert 0 < right <= 412
        hosts = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => new URL(e.name).host)")
        assert hosts and set(hosts) <= {f"127.0.0.1:{port}"}, hosts
        _until("the app session", lambda: _app_sessions(home))
        [app] = _app_sessions(home)
        os.kill(app, signal.SIGTERM)  # the app itself ends on SIGTERM
        _until("the app to end on SIGTERM", lambda: app not in _app_sessions(home))
        browser.get(url)
        _until("a new app session", lambda: _app_sessions(home))
        server.kill()  # not even a clean stop: no session may outlive the server
        server.wait(timeout=30)
        _until("the app to end with the server", lambda: not _app_sessions(home))
    finally:
        server.kill()
        server.wait()
        for pid in _app_sessions(home):
            os.kill(pid, signal.SIGKILL)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, ConnectionError):
        return False
