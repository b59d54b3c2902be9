"""`meshnode tui --web` serves the app's page (textual-serve) on a loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


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
