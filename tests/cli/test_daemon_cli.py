"""`meshnode init` and `meshnode run`, and what every client command says without a daemon."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from meshnode.daemon.config import load_config
from meshnode.transport.udp import Endpoint
from tests.cli.conftest import Run


def test_init_creates_an_identity_and_a_commented_config(meshnode: Run, tmp_path: Path) -> None:
    result = meshnode("init", "--name", "Hub Noord", "--listen", "127.0.0.1:5000",
                      "--peer", "127.0.0.1:5001", "--no-discovery")
    assert result.returncode == 0, result.stderr
    home = tmp_path / "home"
    assert "Fingerprint:" in result.stdout and "meshnode run" in result.stdout
    config = load_config(home / "config.toml")
    assert config.node.name == "Hub Noord"
    assert config.udp.peers == (Endpoint("127.0.0.1", 5001),) and not config.udp.discovery
    assert stat.S_IMODE((home / "config.toml").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    key = (home / "identity.key").read_bytes()
    again = meshnode("init")
    assert again.returncode == 0
    assert "Identity kept" in again.stdout and "Config kept" in again.stdout
    assert (home / "identity.key").read_bytes() == key
    assert load_config(home / "config.toml").node.name == "Hub Noord"


def test_run_without_an_identity_says_to_init(meshnode: Run) -> None:
    result = meshnode("run")
    assert result.returncode == 2
    assert "no identity" in result.stderr and "meshnode init" in result.stderr


def test_run_with_a_broken_config_names_the_key(meshnode: Run, tmp_path: Path) -> None:
    assert meshnode("init").returncode == 0
    (tmp_path / "home" / "config.toml").write_text("[udp]\nkeepalive = 'often'\n")
    result = meshnode("run")
    assert result.returncode == 2
    assert "udp.keepalive: must be a number" in result.stderr


def test_bad_flags_are_refused_before_anything_starts(meshnode: Run) -> None:
    result = meshnode("run", "--listen", "nowhere")
    assert result.returncode == 2 and "HOST:PORT" in result.stderr


@pytest.mark.parametrize("command", [
    ["post", "wijk-noord", "hi"], ["inbox"], ["status", "--json"], ["contacts", "list"],
    ["events"],
])
def test_client_commands_say_how_to_start_the_daemon(meshnode: Run, command: list[str]) -> None:
    result = meshnode(*command)
    assert result.returncode == 2
    assert "the daemon is not running" in result.stderr
    assert "start it with `meshnode run`" in result.stderr
