"""The client commands against two real, linked daemons: post, read, channels, contacts, dm,
inbox, outbox, inject, alerts, status, peers, events — human and --json output — and what
the daemon keeps for them across a restart (read marks, alert history, sync times)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshnode.daemon import api
from meshnode.daemon.localnet import LocalNet, LocalNode
from tests.daemons import Authority, fast_config, links_up, make_authority, wait_for

pytestmark = pytest.mark.slow


def cli(node: LocalNode, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.run([sys.executable, "-m", "cli.main", "--data-dir", str(node.data_dir),
                           *args], capture_output=True, text=True, timeout=60, env=env)


def ok(node: LocalNode, *args: str) -> Any:
    result = cli(node, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalNet, Authority]]:
    root = tmp_path_factory.mktemp("cli")
    authority = make_authority(root / "authority")
    with LocalNet.line(root, ["A", "B"], fast_config()) as net:
        net.start(roots=[authority.root_pub])
        wait_for("the link", links_up(net["A"], 1))
        yield net, authority


def test_posts_travel_and_are_listed(pair: tuple[LocalNet, Authority]) -> None:
    net, _ = pair
    a, b = net["A"], net["B"]
    posted = ok(a, "post", "wijk-noord", "Water bij de sporthal")
    wait_for("the post at B", lambda: any(
        p["id"] == posted["id"] for p in b.request(api.Posts("wijk-noord"))["posts"]), 10)
    channels = ok(b, "channels")["channels"]
    assert [c["channel"] for c in channels] == ["wijk-noord"]
    human = cli(b, "read", "wijk-noord")
    assert "Water bij de sporthal" in human.stdout and "unknown" in human.stdout
    bad = cli(a, "post", "Wijk Noord!", "x")
    assert bad.returncode == 2 and "channel" in bad.stderr


def test_contacts_dm_inbox_and_outbox(pair: tuple[LocalNet, Authority]) -> None:
    net, _ = pair
    a, b = net["A"], net["B"]
    me = json.loads(cli(b, "whoami", "--json").stdout)
    shown = cli(b, "whoami", "--qr").stdout  # to compare in person, or scan
    assert me["fingerprint"] in shown and shown.count("█") > 50
    added = ok(a, "contacts", "add", "Bram", "--keys", f"{me['sign_key']}:{me['dh_key']}")
    assert added["contact"]["fingerprint"] == me["fingerprint"]
    refused = cli(a, "contacts", "add", "Bram", "--keys", f"{'ab' * 32}:{'cd' * 32}")
    assert refused.returncode == 2 and "compare fingerprints" in refused.stderr
    sent = ok(a, "dm", "Bram", "Gaat het goed?")
    assert sent["to"]["name"] == "Bram"
    wait_for("the DM", lambda: b.request(api.Inbox())["messages"], 10)
    [got] = ok(b, "inbox")["messages"]
    assert got["text"] == "Gaat het goed?" and got["id"] == sent["id"]
    assert "Gaat het goed?" in cli(b, "inbox").stdout
    wait_for("the receipt", lambda: a.request(api.Outbox())["messages"][0]["delivered"], 10)
    assert "delivered" in cli(a, "outbox").stdout
    listed = cli(a, "contacts", "list")
    assert "Bram" in listed.stdout and me["fingerprint"] in listed.stdout
    assert ok(a, "contacts", "remove", "Bram") == {"removed": "Bram"}
    missing = cli(a, "dm", "Bram", "hi")
    assert missing.returncode == 2 and "meshnode contacts add" in missing.stderr


def test_a_key_change_warning_is_dismissed_after_checking(pair: tuple[LocalNet,
                                                                         Authority]) -> None:
    net, _ = pair
    a, b = net["A"], net["B"]
    ok(a, "contacts", "add", "Carla", "--keys", f"{'ab' * 32}:{'cd' * 32}")
    b.request(api.Announce("Carla"))  # B claims a contact's name with other keys
    wait_for("the warning", lambda: a.request(api.Contacts())["warnings"], 10)
    assert "WARNING" in cli(a, "contacts", "list").stdout
    helped = cli(a, "contacts", "dismiss", "--help").stdout
    assert "in person" in " ".join(helped.split())
    assert ok(a, "contacts", "dismiss", "Carla") == {"name": "Carla", "dismissed": 1}
    assert "WARNING" not in cli(a, "contacts", "list").stdout
    assert "Dismissed 0" in cli(a, "contacts", "dismiss", "Carla").stdout
    unknown = cli(a, "contacts", "dismiss", "Nobody")
    assert unknown.returncode == 2 and "meshnode contacts list" in unknown.stderr
    ok(a, "contacts", "remove", "Carla")


def test_inject_verifies_and_alerts_list_what_arrived(pair: tuple[LocalNet, Authority],
                                                      tmp_path: Path) -> None:
    net, authority = pair
    a, b = net["A"], net["B"]
    good, forged = tmp_path / "alert.msg", tmp_path / "forged.msg"
    good.write_bytes(authority.alert(seq=7))
    data = bytearray(authority.alert(seq=8))
    data[len(data) // 2] ^= 1
    forged.write_bytes(bytes(data))
    result = cli(a, "inject", str(good), str(forged), "--json")
    assert result.returncode == 1
    first, second = json.loads(result.stdout)
    assert first["accepted"] is True and first["kind"] == "alert"
    assert second["accepted"] is False and "signature" in second["error"]
    wait_for("the alert at B", lambda: b.request(api.Alerts())["alerts"], 10)
    [alert] = ok(b, "alerts")["alerts"]
    assert alert["id"] == first["id"] and alert["issuer"] == "Test region"
    assert "Grote brand" in cli(b, "alerts").stdout
    again = cli(a, "inject", str(good))
    assert again.returncode == 0 and "already held" in again.stdout


def test_status_peers_and_events(pair: tuple[LocalNet, Authority]) -> None:
    net, _ = pair
    a, b = net["A"], net["B"]
    status = ok(a, "status")
    assert status["links"] == 1 and status["fingerprint"] == a.identity.fingerprint
    assert {"accepted_total", "rejected_total", "relayed", "duplicates"} <= set(
        status["counters"])
    assert status["store"]["capacity_bytes"] == 64 * 1024 * 1024
    assert "messages" in cli(a, "status").stdout
    [peer] = ok(a, "peers")["peers"]
    assert peer["state"] == "up" and peer["static"] is True and peer["transport"] == "udp"
    assert peer["address"] == str(b.config.udp.listen)
    wait_for("a sync", lambda: a.request(api.Status())["last_sync"] is not None, 10)
    [peer] = ok(a, "peers")["peers"]
    assert time.time() - 60 <= peer["last_sync"] <= time.time()
    assert ok(a, "status")["last_sync"] >= peer["last_sync"]
    assert "last sync" in cli(a, "peers").stdout and " udp " in cli(a, "peers").stdout
    follower = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "--data-dir", str(b.data_dir), "events", "--json",
         "--only", "post_received", "--count", "1"], stdout=subprocess.PIPE, text=True)
    try:
        wait_for("the subscription",
                 lambda: b.request(api.Status())["api"]["subscribers"] >= 1, 10)
        ok(a, "post", "wijk-oost", "Stroom is terug")
        out, _ = follower.communicate(timeout=20)
    finally:
        follower.kill()
    event = json.loads(out)
    assert event["event"] == "post_received" and event["data"]["text"] == "Stroom is terug"
    assert follower.returncode == 0


def test_what_the_daemon_keeps_for_its_apps_survives_a_restart(
        pair: tuple[LocalNet, Authority], tmp_path: Path) -> None:
    """Unread counts and read marks, alert history with superseded alerts, refused alerts."""
    net, authority = pair
    a, b = net["A"], net["B"]
    ok(a, "post", "wijk-zuid", "Aggregaat draait bij de kerk")

    def unread(node: LocalNode) -> int | None:
        return next((c["unread"] for c in node.request(api.Channels())["channels"]
                     if c["channel"] == "wijk-zuid"), None)

    wait_for("the post at B", lambda: unread(b) == 1, 10)
    assert unread(a) == 0  # one's own posts are read
    assert "wijk-zuid  1 post(s), 1 unread" in cli(b, "channels").stdout
    with b.client() as listener:  # a second app on the same daemon hears about the mark
        listener.request(api.Subscribe(("read_marked",)))
        shown = ok(b, "read", "wijk-zuid", "--mark-read")
        event = next(listener.events())
    assert shown["read"] == event.data == {"channel": "wijk-zuid", "unread": 0,
                                           "read_upto": shown["posts"][-1]["received"]}
    assert unread(b) == 0
    forged = tmp_path / "forged.msg"
    data = bytearray(authority.alert(seq=30))
    data[len(data) // 2] ^= 1
    forged.write_bytes(bytes(data))
    assert cli(b, "inject", str(forged)).returncode == 1
    synced = b.request(api.Status())["last_sync"]
    history = ok(b, "alerts", "--history")
    b.stop()
    b.start()
    b.wait_ready()
    assert unread(b) == 0
    assert ok(b, "status")["last_sync"] >= synced
    assert ok(b, "alerts", "--history") == history
    [refused] = ok(b, "alerts", "--rejected")["rejected"]
    assert "signature" in refused["reason"] and refused["link"] is None
    assert "NOT VERIFIED" in cli(b, "alerts").stdout
    wait_for("the link again", links_up(a, 1), 20)
