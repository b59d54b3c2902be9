"""`meshnode keygen` / `whoami` as a user runs them."""

from __future__ import annotations

import json
import stat
from pathlib import Path

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
