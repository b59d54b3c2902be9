"""`meshnode init` and `meshnode run`, and what every client command says without a daemon."""

from __future__ import annotations

import importlib.metadata
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from meshnode.daemon.config import load_config
from meshnode.transport.udp import Endpoint
from tests.cli.conftest import Run
from tests.daemons import wait_for


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
    ["post", "wijk-noord", "hi"], ["inbox"], ["status"], ["contacts", "list"], ["events"],
])
def test_client_commands_say_how_to_start_the_daemon(meshnode: Run, command: list[str]) -> None:
    result = meshnode(*command)
    assert result.returncode == 2
    assert "the daemon is not running" in result.stderr
    assert "start it with `meshnode run`" in result.stderr


def _start_and_read_log(tmp_path: Path, env: dict[str, str],
                        until: tuple[str, ...] = ('"ready"',)) -> list[dict[str, Any]]:
    """Run the real daemon until its log holds `until`, stop it (SIGTERM), return the lines."""
    log = tmp_path / "daemon.log"
    full_env = {k: v for k, v in os.environ.items() if k != "MESHNODE_PASSPHRASE"}
    full_env.update({"MESHNODE_HOME": str(tmp_path / "home"), **env})
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "run", "--log-format", "json",
                             "--log-file", str(log)], env=full_env)
    try:
        wait_for(f"{until} in the daemon's log", lambda: log.exists() and all(
            text in log.read_text() for text in until), timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_init_turns_bluetooth_on_and_the_daemon_says_what_it_lacks(meshnode: Run,
                                                                   tmp_path: Path) -> None:
    assert meshnode("init", "--listen", "127.0.0.1:0", "--no-discovery").returncode == 0
    config = load_config(tmp_path / "home" / "config.toml")
    assert config.ble is not None and config.ble.adapter == "hci0"
    missing_bus = {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path / 'no-such-bus'}"}
    lines = _start_and_read_log(tmp_path, missing_bus, ('"ready"', "system D-Bus"))
    [used] = [line for line in lines if line["event"] == "transports"]
    assert used["udp"].startswith("listening on 127.0.0.1:")
    assert used["ble"].startswith("on: adapter hci0, central and peripheral")
    problems = [line["event"] for line in lines if line["logger"] == "meshnode.transport.ble"]
    assert any("system D-Bus" in p for p in problems), lines


def test_a_node_without_bluetooth_says_why_at_start(meshnode: Run, tmp_path: Path) -> None:
    assert meshnode("init", "--listen", "127.0.0.1:0", "--no-discovery", "--no-ble"
                    ).returncode == 0
    assert load_config(tmp_path / "home" / "config.toml").ble is None
    assert "enabled = false" in (tmp_path / "home" / "config.toml").read_text()
    [used] = [line for line in _start_and_read_log(tmp_path, {})
              if line["event"] == "transports"]
    assert used["ble"].startswith("off: the config has no [transport.ble] section with "
                                  "enabled = true")


def test_errors_are_json_under_json(meshnode: Run) -> None:
    result = meshnode("status", "--json")
    assert result.returncode == 2 and result.stderr == ""
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "daemon_not_running" and "meshnode run" in error["message"]
    usage = meshnode("contacts", "ad", "Bram", "--json")
    assert usage.returncode == 2
    error = json.loads(usage.stdout)["error"]
    assert error["code"] == "usage" and "did you mean 'add'?" in error["message"]


@pytest.mark.parametrize(("typed", "meant"), [
    (["stauts"], "'status'"), (["status", "--jsno"], "'--json'"),
    (["trust", "lsit"], "'list'"), (["sim", "run", "small", "--plto"], "'--plot'"),
])
def test_typos_get_a_did_you_mean(meshnode: Run, typed: list[str], meant: str) -> None:
    result = meshnode(*typed)
    assert result.returncode == 2
    assert f"(did you mean {meant}?)" in result.stderr and "usage:" in result.stderr


HEAVY = ("numpy", "shapely", "sim", "textual", "meshnode.node", "meshnode.daemon.daemon",
         "meshnode.alerts", "cryptography")


@pytest.mark.parametrize("command", [["status"], ["post", "wijk-noord", "hi"], ["--version"],
                                     ["inbox", "--json"]])
def test_client_commands_load_no_simulator_core_or_crypto(tmp_path: Path,
                                                          command: list[str]) -> None:
    """What makes `meshnode status` cost over a second of CPU to start is never imported."""
    probe = ("import sys, contextlib\n"
             "from cli.main import main\n"
             "with contextlib.suppress(SystemExit):\n"
             f"    main({command!r})\n"
             "print('LOADED', sorted({m for m in sys.modules if m.startswith(" + repr(HEAVY)
             + ")}))\n")
    env = {**os.environ, "MESHNODE_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env=env, timeout=60)
    assert "LOADED []" in result.stdout, result.stdout + result.stderr


def test_version_matches_the_package(meshnode: Run) -> None:
    result = meshnode("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"meshnode {importlib.metadata.version('meshnode')}"
