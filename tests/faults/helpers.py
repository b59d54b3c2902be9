"""Shared parts of the fault tests: fast daemon configs, a small file system, log events."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from meshnode.daemon.config import DaemonConfig
from meshnode.daemon.localnet import LocalNode
from meshnode.store import SqliteStore
from tests import polling
from tests.daemons import fast_config

CAPACITY = 64 * 1024 * 1024
UNTIL_TIMEOUT = 30.0


async def until(what: str, predicate: Callable[[], bool]) -> None:
    """`tests.polling.until` with the fault tests' deadline (in-process daemons on trio)."""
    await polling.until(predicate, UNTIL_TIMEOUT, what)


def fault_config(**node: Any) -> DaemonConfig:
    """`fast_config` with abuse limits out of the way: the tests post many messages quickly."""
    limits: dict[str, Any] = {"author_posts_per_hour": 100_000, "post_rate": 10_000.0,
                              "post_burst": 10_000.0, "peer_rate": 10_000.0,
                              "peer_burst": 10_000.0, "serve_rate": 10_000.0,
                              "serve_burst": 10_000.0}
    return fast_config(**{**limits, **node})


def log_events(node: LocalNode, name: str | None = None) -> list[dict[str, Any]]:
    """The daemon's JSON log lines (all starts), optionally only those of one event."""
    path = Path(node.config.log.file)
    if not path.exists():
        return []
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [e for e in events if name is None or e["event"] == name]


def with_log_file(node: LocalNode, path: Path) -> LocalNode:
    """The node with its JSON log at `path` (outside its data directory)."""
    node.config = dataclasses.replace(node.config, log=dataclasses.replace(
        node.config.log, file=str(path), format="json"))
    return node


def store_ids(data_dir: Path) -> set[str]:
    """The ids in a stopped node's store, after SQLite's and the store's own checks pass."""
    store = SqliteStore(data_dir / "messages.db", CAPACITY)
    try:
        assert store.integrity_check() == []
        return {i.hex() for _, i in store.ids_since(0)}
    finally:
        store.close()


@contextmanager
def small_fs(mountpoint: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `mountpoint` (needs root); unmounted on exit, always."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                              str(mountpoint)], capture_output=True, text=True, timeout=30)
    assert mounted.returncode == 0, (f"cannot mount a tmpfs (the disk-full tests run as root, "
                                     f"as CI does): {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        done = subprocess.run(["umount", str(mountpoint)], capture_output=True, timeout=30)
        if done.returncode != 0:  # something still holds a file open: detach it anyway
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, timeout=30)


def fill(folder: Path) -> Path:
    """Write a file in `folder` until its file system has no room left; return it."""
    filler = folder / "filler"
    chunk = b"\xa5" * 65_536
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError:
                break
        while True:  # the last partial block
            try:
                os.write(fd, b"\xa5" * 512)
            except OSError:
                break
    finally:
        os.close(fd)
    return filler
