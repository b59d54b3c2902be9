"""Real daemons as separate processes on one machine: for the demo, benchmarks and tests.

`LocalNode` prepares a data directory (identity, config, pinned roots), starts
``python -m cli.main run`` (optionally behind a command prefix such as
``ip netns exec NS``), waits until its API answers, and stops it with SIGTERM or kills it with
SIGKILL. `LocalNet` owns several and stops them all on exit, whatever happened.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from meshnode.crypto.identity import Identity
from meshnode.crypto.keyfile import save_identity
from meshnode.crypto.trustfile import install_root
from meshnode.daemon import api
from meshnode.daemon.client import ApiClient, DaemonNotRunning
from meshnode.daemon.config import CONFIG_FILE, DaemonConfig, LogConfig, render_config
from meshnode.daemon.paths import IDENTITY_FILE
from meshnode.transport.udp import Endpoint

__all__ = ["LocalNet", "LocalNode", "NodeFailed", "free_udp_ports"]


class NodeFailed(Exception):
    """A daemon exited or did not become ready; the message carries its last log lines."""


def free_udp_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports free for UDP on `host` right now (held open together, so all distinct)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass(eq=False)
class LocalNode:
    """One daemon's data directory and process."""

    name: str
    data_dir: Path
    config: DaemonConfig
    prefix: tuple[str, ...] = ()
    identity: Identity = field(default_factory=Identity.generate)
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.data_dir / self.config.api.socket

    @property
    def log_file(self) -> Path:
        return self.data_dir / "daemon.log"

    def setup(self, roots: Sequence[Path] = ()) -> None:
        """Write the identity, the config and the pinned roots (idempotent)."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = self.data_dir / IDENTITY_FILE
        if not key.exists():
            save_identity(self.identity, key)
        (self.data_dir / CONFIG_FILE).write_text(render_config(self.config), encoding="utf-8")
        for root in roots:
            install_root(self.data_dir, root)

    def start(self, *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "MESHNODE_PASSPHRASE"}
        stderr = open(self.data_dir / "stderr.log", "ab")  # noqa: SIM115 (the child owns it)
        try:
            self.process = subprocess.Popen(
                [*self.prefix, sys.executable, "-m", "cli.main", "--data-dir",
                 str(self.data_dir), "run", *extra],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        finally:
            stderr.close()

    def client(self, *, timeout: float | None = 10.0) -> ApiClient:
        return ApiClient(self.socket, timeout=timeout)

    def request(self, request: api.Request, *, timeout: float = 10.0) -> dict[str, Any]:
        with self.client(timeout=timeout) as c:
            return c.request(request)

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise NodeFailed(f"{self.name} exited with {self.process.returncode}:\n"
                                 f"{self.tail()}")
            try:
                self.request(api.Hello(), timeout=2.0)
                return
            except (DaemonNotRunning, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise NodeFailed(f"{self.name} not ready after {timeout} s:\n{self.tail()}")
            time.sleep(0.02)

    def tail(self, lines: int = 20) -> str:
        out = []
        for path in (self.data_dir / "stderr.log", self.log_file):
            if path.exists():
                out += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(out)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not stop in time. Returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash or a power cut would end it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class LocalNet:
    """Daemons linked by static UDP peer lists; `line` builds a chain A–B–C–…"""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.nodes: list[LocalNode] = []

    @classmethod
    def line(cls, root: Path, names: Sequence[str], config: DaemonConfig | None = None,
             host: str = "127.0.0.1") -> LocalNet:
        """Nodes on `host`, each knowing only its neighbours; `config` is the template."""
        base = config or DaemonConfig()
        ports = free_udp_ports(len(names), host)
        net = cls(root)
        for i, name in enumerate(names):
            peers = tuple(Endpoint(host, ports[j]) for j in (i - 1, i + 1)
                          if 0 <= j < len(names))
            cfg = replace(base, udp=replace(base.udp, listen=Endpoint(host, ports[i]),
                                            peers=peers, discovery=False),
                          log=LogConfig(level=base.log.level, format="json",
                                        file=str(root / name / "daemon.log")))
            net.nodes.append(LocalNode(name, root / name, cfg))
        return net

    def __getitem__(self, name: str) -> LocalNode:
        return next(n for n in self.nodes if n.name == name)

    def start(self, roots: Sequence[Path] = (), timeout: float = 20.0) -> None:
        for node in self.nodes:
            node.setup(roots)
            node.start()
        for node in self.nodes:
            node.wait_ready(timeout)

    def stop(self) -> dict[str, int | None]:
        return {node.name: node.stop() for node in self.nodes}

    def __enter__(self) -> LocalNet:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for node in self.nodes:
            try:
                node.stop(timeout=5.0)
            except Exception:  # one stuck node must not leave the others running
                node.kill()
