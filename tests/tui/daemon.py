"""A real `meshnode run` daemon in a subprocess, on its own data directory, for the TUI tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from meshnode.daemon import api
from meshnode.daemon.client import ApiClient, DaemonNotRunning

START_TIMEOUT = 20.0


class DaemonProcess:
    """`meshnode init` once, then `run`/`stop` as often as a test likes."""

    def __init__(self, home: Path, name: str = "") -> None:
        self.home = home
        self.socket = home / "api.sock"
        self.env = {k: v for k, v in os.environ.items() if k != "MESHNODE_PASSPHRASE"}
        self.env["MESHNODE_HOME"] = str(home)
        self.proc: subprocess.Popen[bytes] | None = None
        args = ["init", "--listen", "127.0.0.1:0", "--no-discovery", "--no-ble", "--name", name]
        self.cli(*args)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "cli.main", *args], env=self.env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done

    def start(self, *extra: str) -> None:
        log = open(self.home / "daemon.log", "ab")  # noqa: SIM115 - the process owns it
        self.proc = subprocess.Popen([sys.executable, "-m", "cli.main", "run", *extra],
                                     env=self.env, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.home / "daemon.log").read_text()
            try:
                self.request(api.Hello())
                return
            except (DaemonNotRunning, ConnectionError):
                time.sleep(0.05)
        raise AssertionError("the daemon did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.proc = None

    def request(self, request: api.Request) -> dict[str, Any]:
        with ApiClient(self.socket, timeout=10) as client:
            return client.request(request)
