"""The daemon as separate processes on loopback: a relay killed mid-transfer, clean shutdown,
one daemon per data directory, hostile datagrams, file permissions."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshnode.daemon import api
from meshnode.daemon.localnet import LocalNet, LocalNode
from meshnode.transport import udpwire
from tests.daemons import (
    Events,
    fast_config,
    links_up,
    make_authority,
    make_posts,
    prefill,
    relay_killed_mid_transfer,
    stored_ids,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def net(tmp_path: Path) -> Iterator[LocalNet]:
    with LocalNet.line(tmp_path, ["A", "B", "C"], fast_config()) as n:
        yield n


def _log_events(node: LocalNode) -> list[dict[str, object]]:
    return [json.loads(line) for line in node.log_file.read_text().splitlines()]


def test_chain_on_loopback_survives_a_relay_killed_mid_transfer(net: LocalNet,
                                                                tmp_path: Path) -> None:
    authority = make_authority(tmp_path / "authority")
    for node in net.nodes:
        node.setup([authority.root_pub])
    relay_killed_mid_transfer(net["A"], net["B"], net["C"], authority, posts=1500)
    assert net.stop() == {"A": 0, "B": 0, "C": 0}
    for node in net.nodes:
        stopped = [e for e in _log_events(node) if e["event"] == "stopped"]
        assert stopped and stopped[-1]["tasks_left"] == 0


def test_sigterm_mid_transfer_stops_cleanly_and_the_sync_resumes(tmp_path: Path) -> None:
    """B is stopped as soon as it holds 150 of A's 4,000 posts (its store, not its events,
    which the API delivers later): however quickly B takes posts in, the stop comes in the
    middle of the transfer. What B published before it stopped is kept, and it fetches the
    rest once started again."""
    backlog = 4000
    with LocalNet.line(tmp_path, ["A", "B"], fast_config()) as net:
        a, b = net.nodes
        for node in net.nodes:
            node.setup()
        prefill(a, make_posts(backlog))
        b.start()
        b.wait_ready()
        # Subscribed before A (who holds the backlog) starts: none of it can have passed yet.
        events = Events(b, ("post_received",))
        try:
            a.start()
            a.wait_ready()
            wait_for("B holding 150 posts", lambda: _posts(b) >= 150, 60, every=0.01)
            assert b.stop(timeout=10) == 0
            events.join(10)
        finally:
            events.close()
        accepted = {e["id"] for e in events.of("post_received")}
        assert not b.socket.exists()
        stopped = [e for e in _log_events(b) if e["event"] in ("stopping", "stopped")]
        assert [e["event"] for e in stopped] == ["stopping", "stopped"]
        assert stopped[0]["signal"] == "SIGTERM" and stopped[1]["tasks_left"] == 0
        held = {i.hex() for i in stored_ids(b)}  # also runs SQLite's integrity check
        assert accepted <= held and 150 <= len(held) < backlog
        b.start()
        b.wait_ready()
        wait_for("the rest of the posts", lambda: _posts(b) == backlog, 60)
        counters = b.request(api.Status())["transport"]
        # Where B's core spent the catching up: batches were run, and committed.
        assert counters["commits"] >= 1 and counters["core_run_ms"] > 0
        assert counters["commit_wait_ms"] >= 0 and counters["sealed_waits"] >= 0


def _posts(node: LocalNode) -> int:
    return int(node.request(api.Status())["store"]["by_kind"].get("post", 0))


def test_sigint_stops_the_daemon_cleanly(tmp_path: Path) -> None:
    with LocalNet.line(tmp_path, ["A"], fast_config()) as net:
        [a] = net.nodes
        a.setup()
        a.start()
        a.wait_ready()
        assert a.process is not None
        a.process.send_signal(signal.SIGINT)
        assert a.process.wait(10) == 0
        assert [e["event"] for e in _log_events(a)][-2:] == ["stopping", "stopped"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    """Two linked daemons shared by the tests below (which leave them as they found them)."""
    with LocalNet.line(tmp_path_factory.mktemp("pair"), ["A", "B"], fast_config()) as net:
        net.start()
        wait_for("the link", links_up(net["A"], 1))
        yield net


def test_a_second_daemon_on_the_same_data_dir_is_refused(pair: LocalNet) -> None:
    a = pair["A"]
    assert a.process is not None
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "--data-dir", str(a.data_dir), "run"],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"already running on {a.data_dir}" in result.stderr
    assert f"pid {a.process.pid}" in result.stderr
    assert a.request(api.Hello())["node_id"] == a.identity.node_id.hex()


def test_files_and_the_api_socket_are_owner_only(pair: LocalNet) -> None:
    a = pair["A"]
    assert stat.S_IMODE(a.data_dir.stat().st_mode) == 0o700
    assert stat.S_ISSOCK(a.socket.stat().st_mode)
    assert stat.S_IMODE(a.socket.stat().st_mode) == 0o600
    for name in ("messages.db", "inbox.db", "contacts.db", "daemon.lock", "identity.key"):
        assert stat.S_IMODE((a.data_dir / name).stat().st_mode) == 0o600, name


def test_garbage_truncated_and_oversized_datagrams_are_counted_and_ignored(
        pair: LocalNet) -> None:
    a, b = pair["A"], pair["B"]
    before = a.request(api.Status())["transport"]
    port = a.config.udp.listen.port
    me = os.urandom(8)
    datagrams = {
        "malformed": [b"", b"\x00", b"GET / HTTP/1.0\r\n\r\n", os.urandom(300),
                      udpwire.encode(udpwire.Datagram(udpwire.NO_CID, udpwire.Probe(me)))[:-1],
                      b"MN\x01" + bytes(40)],
        "oversized": [bytes(a.config.udp.datagram_size + 1), bytes(9000)],
        # DATA for a connection id the daemon never chose: dropped without an answer.
        "stale": [udpwire.encode(udpwire.Datagram(me, udpwire.Data(0, (b"\x30\x00\x00hello",))))],
    }
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for group in datagrams.values():
            for d in group:
                s.sendto(d, ("127.0.0.1", port))

    def counted() -> bool:
        t = a.request(api.Status())["transport"]
        return all(t.get(k, 0) - before.get(k, 0) == len(v) for k, v in datagrams.items())

    wait_for("the counters", counted, 10)
    # Still serving: the link stays up and a post crosses it.
    post = b.request(api.Post("wijk-zuid", "still here"))
    wait_for("the post", lambda: any(
        p["id"] == post["id"] for p in a.request(api.Posts("wijk-zuid"))["posts"]), 10)
    assert a.request(api.Status())["links"] == 1


def test_a_udp_port_in_use_is_reported_with_the_fix(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        node = LocalNode("X", tmp_path / "x", fast_config())
        node.setup()
        result = subprocess.run(
            [sys.executable, "-m", "cli.main", "--data-dir", str(node.data_dir), "run",
             "--listen", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"cannot listen on UDP 127.0.0.1:{port}" in result.stderr
    assert "--listen" in result.stderr
