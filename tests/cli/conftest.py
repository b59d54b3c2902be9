"""Run the real `meshnode` command in a subprocess with its own data directory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def meshnode(tmp_path: Path) -> Run:
    home = tmp_path / "home"

    def run(*args: str, env: dict[str, str] | None = None,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {k: v for k, v in os.environ.items() if k != "MESHNODE_PASSPHRASE"}
        full_env.update({"MESHNODE_HOME": str(home), "COLUMNS": "100", **(env or {})})
        return subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            capture_output=True, text=True, env=full_env, input=input, timeout=60,
        )

    return run
