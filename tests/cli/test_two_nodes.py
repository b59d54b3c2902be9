"""docs/two-nodes.md as a test: two nodes on one machine set up with plain `meshnode init`,
`--data-dir` after the command, a contact added by fingerprint, a direct message delivered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshnode.daemon.localnet import free_udp_ports
from tests.daemons import wait_for


def mn(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MESHNODE_PASSPHRASE",
                                                              "MESHNODE_HOME")}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, timeout=60, env=env)


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    a, b = tmp_path / "a", tmp_path / "b"
    pa, pb = free_udp_ports(2)
    for home, port, peer in ((a, pa, pb), (b, pb, pa)):
        made = mn("init", "--data-dir", str(home), "--listen", f"127.0.0.1:{port}",
                  "--peer", f"127.0.0.1:{peer}", "--no-discovery", "--no-ble")
        assert made.returncode == 0, made.stderr
    procs = [subprocess.Popen([sys.executable, "-m", "cli.main", "run", "--data-dir",
                               str(home)], stdout=subprocess.DEVNULL,
                              stderr=(home / "stderr.log").open("wb"))
             for home in (a, b)]
    try:
        for home in (a, b):
            wait_for(f"{home.name} to answer", lambda h=home: mn(
                "status", "--data-dir", str(h)).returncode == 0, 30, every=0.2)
        yield a, b
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)


def test_plain_init_nodes_find_each_other_by_fingerprint_and_exchange_a_dm(
        two: tuple[Path, Path]) -> None:
    a, b = two
    b_fp = json.loads(mn("whoami", "--json", "--data-dir", str(b)).stdout)["fingerprint"]
    status = json.loads(mn("status", "--json", "--data-dir", str(b)).stdout)
    assert status["name"].startswith("node ")  # init gave it a card to announce

    def added() -> bool:
        return mn("contacts", "add", "Bea", "--fingerprint", b_fp, "--data-dir",
                  str(a)).returncode == 0

    wait_for("B's identity card at A", added, 60, every=0.5)
    sent = mn("dm", "Bea", "Hoe is het bij jou?", "--data-dir", str(a))
    assert sent.returncode == 0, sent.stderr
    wait_for("the DM at B", lambda: "Hoe is het bij jou?" in mn(
        "inbox", "--data-dir", str(b)).stdout, 60, every=0.5)


def test_a_fingerprint_nobody_announced_says_what_is_missing(two: tuple[Path, Path]) -> None:
    a, _ = two
    result = mn("contacts", "add", "Nobody", "--fingerprint",
                "AAAA BBBB CCCC DDDD EEEE FFFF GGGG HHHH", "--data-dir", str(a))
    assert result.returncode == 2
    assert "no identity card with that fingerprint" in result.stderr
    assert "--keys SIGN_KEY:DH_KEY" in result.stderr and "[node] name" in result.stderr
    dm = mn("dm", "Nobody", "hallo", "--data-dir", str(a))
    assert dm.returncode == 2
    assert "--fingerprint FP" in dm.stderr and "--keys SIGN_KEY:DH_KEY" in dm.stderr


def test_scripts_get_integer_times_and_people_get_readable_events(
        two: tuple[Path, Path]) -> None:
    a, b = two
    wait_for("the link", lambda: json.loads(mn("status", "--json", "--data-dir", str(a)).stdout
                                            )["links"] >= 1, 30, every=0.2)
    status = json.loads(mn("status", "--json", "--data-dir", str(a)).stdout)
    assert type(status["uptime"]) is int
    [peer] = json.loads(mn("peers", "--json", "--data-dir", str(a)).stdout)["peers"]
    assert type(peer["up_since"]) is int and type(peer["last_heard"]) is int
    follower = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "events", "--data-dir", str(b), "--only",
         "post_received", "--count", "1"], stdout=subprocess.PIPE, text=True)
    try:
        wait_for("the subscription", lambda: json.loads(mn(
            "status", "--json", "--data-dir", str(b)).stdout)["api"]["subscribers"] >= 1, 30)
        assert mn("post", "wijk-oost", "Stroom is terug", "--data-dir", str(a)).returncode == 0
        out, _ = follower.communicate(timeout=60)
    finally:
        follower.kill()
    assert " post_received " in out and 'text="Stroom is terug"' in out
    assert "channel=wijk-oost" in out and "{" not in out and "author=\"unknown " in out
