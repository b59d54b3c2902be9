"""`meshnode keygen` / `whoami` as a user runs them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from meshnode.crypto.identity import fingerprint
from tests.cli.conftest import Run


def test_keygen_then_whoami(meshnode: Run, tmp_path: Path) -> None:
    made = meshnode("keygen")
    assert made.returncode == 0, made.stderr
    key_file = tmp_path / "home" / "identity.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    shown = meshnode("whoami", "--json")
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["fingerprint"] == fingerprint(bytes.fromhex(info["sign_key"]))
    assert info["fingerprint"] in made.stdout
    assert len(bytes.fromhex(info["node_id"])) == 16


def test_second_keygen_refuses_and_keeps_the_identity(meshnode: Run) -> None:
    meshnode("keygen")
    before = meshnode("whoami", "--json").stdout
    again = meshnode("keygen")
    assert again.returncode == 2
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert meshnode("whoami", "--json").stdout == before


def test_passphrase_protected_identity(meshnode: Run) -> None:
    pw = {"MESHNODE_PASSPHRASE": "zandzakken"}
    assert meshnode("keygen", "--passphrase", env=pw).returncode == 0
    assert meshnode("whoami", env=pw).returncode == 0
    wrong = meshnode("whoami", env={"MESHNODE_PASSPHRASE": "dijken"})
    assert wrong.returncode == 2
    assert "wrong passphrase" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_whoami_without_identity_says_how_to_make_one(meshnode: Run) -> None:
    result = meshnode("whoami")
    assert result.returncode == 2
    assert "meshnode keygen" in result.stderr


def _without_terminal(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """As a service or a pipe runs it: no controlling terminal, standard input empty."""
    env = {k: v for k, v in os.environ.items() if k != "MESHNODE_PASSPHRASE"}
    env["MESHNODE_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, env=env, stdin=subprocess.DEVNULL, start_new_session=True,
                          timeout=60, cwd=home.parent)


@pytest.mark.parametrize("command", [
    ["keygen", "--passphrase"], ["init", "--passphrase"],
    ["authority", "init-root", "--dir", "root", "--name", "Test root", "--passphrase"],
])
def test_a_new_passphrase_without_a_terminal_is_a_clear_error(tmp_path: Path,
                                                              command: list[str]) -> None:
    result = _without_terminal(tmp_path / "home", *command)
    assert result.returncode == 2
    assert "no terminal to ask for the passphrase" in result.stderr
    assert "MESHNODE_PASSPHRASE" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "home" / "identity.key").exists()
    assert not list((tmp_path / "root").glob("*.key")) if (tmp_path / "root").exists() else True


@pytest.mark.parametrize("command", [["whoami"], ["run"]])
def test_an_encrypted_key_without_a_terminal_is_a_clear_error(meshnode: Run, tmp_path: Path,
                                                              command: list[str]) -> None:
    assert meshnode("keygen", "--passphrase", env={"MESHNODE_PASSPHRASE": "dijk"}
                    ).returncode == 0
    result = _without_terminal(tmp_path / "home", *command)
    assert result.returncode == 2
    assert "no terminal to ask for the passphrase" in result.stderr
    assert "Traceback" not in result.stderr
