"""Fixtures for the TUI tests: real daemons in subprocesses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tui.daemon import DaemonProcess


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    proc = DaemonProcess(tmp_path / "alice", name="alice")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
