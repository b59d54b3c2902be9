"""Pinning a root on a running daemon: it takes effect at once, names roots by fingerprint,
and old refusals of alerts under that root do not stay flagged as NOT VERIFIED."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshnode.crypto.authority import RootKey, root_label
from meshnode.crypto.identity import fingerprint
from meshnode.crypto.trustfile import install_root, read_public_key
from meshnode.daemon import api
from meshnode.daemon.localnet import LocalNet, LocalNode
from tests.daemons import Authority, fast_config, make_authority


def cli(node: LocalNode, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.run([sys.executable, "-m", "cli.main", "--data-dir", str(node.data_dir),
                           *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def lone(tmp_path: Path) -> Iterator[tuple[LocalNode, Authority]]:
    authority = make_authority(tmp_path / "authority")
    with LocalNet.line(tmp_path, ["A"], fast_config()) as net:
        net.start()  # no root pinned
        yield net["A"], authority


def test_a_root_pinned_on_a_running_daemon_verifies_at_once(
        lone: tuple[LocalNode, Authority], tmp_path: Path) -> None:
    node, authority = lone
    alert = tmp_path / "alert.msg"
    alert.write_bytes(authority.alert(seq=3))
    refused = cli(node, "inject", str(alert))
    assert refused.returncode == 1
    name, key = read_public_key(authority.root_pub, role="root")
    label = root_label(RootKey(key, name).id)
    assert f"{label} is not pinned here" in refused.stdout
    assert "meshnode trust list" in refused.stdout
    assert node.request(api.RejectedAlerts())["rejected"]

    added = cli(node, "trust", "add-root", str(authority.root_pub))
    assert added.returncode == 0, added.stderr
    assert "The running daemon verifies alerts under this root from now on." in added.stdout
    assert fingerprint(key) in added.stdout and label in added.stdout
    listed = cli(node, "trust", "list").stdout
    assert fingerprint(key) in listed and label in listed
    # The refusal was about this root: it is no longer shown as NOT VERIFIED.
    assert node.request(api.RejectedAlerts())["rejected"] == []
    assert "NOT VERIFIED" not in cli(node, "alerts").stdout
    accepted = json.loads(cli(node, "inject", str(alert), "--json").stdout)
    assert accepted[0]["accepted"] is True
    again = json.loads(cli(node, "trust", "reload", "--json").stdout)
    assert again["added"] == [] and [r["fingerprint"] for r in again["roots"]] == [
        fingerprint(key)]


def test_a_root_file_pinned_by_another_user_is_taken_at_the_next_inject(
        lone: tuple[LocalNode, Authority], tmp_path: Path) -> None:
    node, authority = lone
    install_root(node.data_dir, authority.root_pub)  # behind the daemon's back
    alert = tmp_path / "alert.msg"
    alert.write_bytes(authority.alert(seq=4))
    result = cli(node, "inject", str(alert), "--json")
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)[0]["accepted"] is True


def test_a_broken_root_file_changes_nothing_and_says_which(
        lone: tuple[LocalNode, Authority]) -> None:
    node, _ = lone
    roots = node.data_dir / "roots"
    roots.mkdir(exist_ok=True)
    (roots / "bad.toml").write_text('role = "root"\nname = "x"\nkey = "zz"\n')
    result = cli(node, "trust", "reload")
    assert result.returncode == 2
    assert "bad.toml" in result.stderr and "nothing changed" in result.stderr
    assert node.request(api.Status())["roots"] == []


def test_cap_xml_handed_to_inject_says_to_sign_it_first(
        lone: tuple[LocalNode, Authority], tmp_path: Path) -> None:
    node, _ = lone
    xml = tmp_path / "alert.xml"
    xml.write_text('<?xml version="1.0" encoding="UTF-8"?>\n'
                   '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"></alert>\n')
    result = cli(node, "inject", str(xml))
    assert result.returncode == 1
    assert "this is CAP XML" in result.stdout
    assert "meshnode authority sign-alert --cap" in result.stdout
