"""Attacks on the UDP link layer, against real daemons on loopback.

An off-path attacker can put any source address on a datagram but sees nothing sent to
others: it must not tear down, take over or crowd out links. A hostile peer that does receive
its replies must not renew its budgets by linking again, and a listener must find no
identifier that outlives a link.
"""

from __future__ import annotations

import dataclasses
import os
import random
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshnode.daemon import api
from meshnode.daemon.localnet import LocalNet, LocalNode, free_udp_ports
from meshnode.transport.udp import Endpoint
from meshnode.transport.udpwire import (
    NO_CID,
    Announce,
    Challenge,
    Close,
    Connect,
    Data,
    Datagram,
    Probe,
    decode,
    encode,
)
from tests.attacks.linkpeer import LinkClient, Spoofer
from tests.daemons import fast_config, links_up, wait_for


def transport(node: LocalNode) -> dict[str, int]:
    return dict(node.request(api.Status())["transport"])


def address(node: LocalNode) -> tuple[str, int]:
    return node.config.udp.listen.host, node.config.udp.listen.port


def newcomer(root: Path, victim: LocalNode, host: str) -> LocalNode:
    """An honest daemon on `host` that knows `victim` as its static peer."""
    base = fast_config()
    cfg = dataclasses.replace(base, udp=dataclasses.replace(
        base.udp, listen=Endpoint(host, free_udp_ports(1, host)[0]),
        peers=(victim.config.udp.listen,)))
    node = LocalNode("N", root / "N", cfg)
    node.setup()
    node.start()
    node.wait_ready()
    return node


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[LocalNet]:
    with LocalNet.line(tmp_path, ["A", "B"], fast_config()) as net:
        net.start()
        wait_for("the link", lambda: all(links_up(n, 1)() for n in net.nodes), 20)
        yield net


@pytest.fixture
def victim(tmp_path: Path) -> Iterator[LocalNode]:
    with LocalNet.line(tmp_path, ["V"], fast_config()) as net:
        net.start()
        yield net.nodes[0]


def test_forged_handshakes_and_closes_from_a_peers_address_leave_its_link_up(
        pair: LocalNet) -> None:
    a, b = pair.nodes
    before = {n.name: transport(n) for n in pair.nodes}
    spoofer = Spoofer()
    try:
        for _ in range(10):
            cid = os.urandom(8)
            for forged in (Datagram(NO_CID, Probe(cid)),
                           Datagram(NO_CID, Connect(cid, os.urandom(16))),
                           Datagram(os.urandom(8), Close()),
                           Datagram(os.urandom(8), Data(0, (b"\x30\x00\x00junk",)))):
                spoofer.send(encode(forged), address(b), address(a))
    finally:
        spoofer.close()

    def all_counted() -> bool:
        now = transport(a)
        return (now["bad_cookie"] - before["A"]["bad_cookie"] >= 10
                and now["stale"] - before["A"]["stale"] >= 20)

    wait_for("A to count the forgeries", all_counted, 10)
    for node in pair.nodes:
        after = transport(node)
        assert after["links_down_total"] == before[node.name]["links_down_total"], node.name
        assert after["links_up"] == 1, node.name
    # B was sent a CHALLENGE for each forged PROBE: one it never asked for, dropped.
    wait_for("B to drop the unasked challenges",
             lambda: transport(b)["stale"] - before["B"]["stale"] >= 10, 10)


def test_forged_sources_get_no_link_and_an_honest_newcomer_links(tmp_path: Path,
                                                                 victim: LocalNode) -> None:
    spoofer = Spoofer()
    sources = [(f"127.0.{i // 200}.{10 + i % 200}", 40_000 + i) for i in range(64)]
    try:
        for source in sources:
            cid = os.urandom(8)
            spoofer.send(encode(Datagram(NO_CID, Probe(cid))), source, address(victim))
            spoofer.send(encode(Datagram(NO_CID, Connect(cid, os.urandom(16)))), source,
                         address(victim))
    finally:
        spoofer.close()
    wait_for("the forged CONNECTs", lambda: transport(victim)["bad_cookie"] >= len(sources), 10)
    node = newcomer(tmp_path, victim, "127.0.0.5")
    try:
        wait_for("the newcomer's link", links_up(node, 1), 20)
        # Not one link ever came up with a forged source: only the newcomer's.
        assert transport(victim)["links_up_total"] == 1
    finally:
        node.stop()


def test_many_ports_of_one_host_do_not_crowd_out_an_honest_newcomer(
        tmp_path: Path, victim: LocalNode) -> None:
    clients = [LinkClient(address(victim), host="127.0.0.3") for _ in range(40)]
    linked = []
    refused_in_a_row = 0
    for client in clients:
        if client.handshake(timeout=1.0):
            linked.append(client)
            refused_in_a_row = 0
        else:
            refused_in_a_row += 1
            if refused_in_a_row == 3:
                break
    assert 0 < len(linked) <= victim.config.udp.max_links_per_host
    node = newcomer(tmp_path, victim, "127.0.0.5")

    def newcomer_linked_while_the_attacker_holds_on() -> bool:
        for client in linked:
            client.keepalive()
        return links_up(node, 1)()

    try:
        wait_for("the newcomer's link", newcomer_linked_while_the_attacker_holds_on, 20)
    finally:
        node.stop()
        for client in clients:
            client.sock.close()


def _garbage_until_closed(client: LinkClient) -> bool:
    """Malformed frames until the daemon closes the link; True if it did."""
    client.frames([b"\xc1 not a frame"] * 25)
    while (reply := client.receive(5.0)) is not None:
        if isinstance(reply.payload, Close):
            return True
    return False


def test_a_host_closed_for_malformed_frames_cannot_link_again_at_once(
        victim: LocalNode) -> None:
    first = LinkClient(address(victim), host="127.0.0.4")
    assert first.handshake()
    assert _garbage_until_closed(first), "the daemon never closed the link"
    # A new port on the same host, at once: a fresh link would be a fresh error budget.
    second = LinkClient(address(victim), host="127.0.0.4")
    try:
        assert not second.handshake(timeout=1.0)
        assert transport(victim)["penalized"] > 0
    finally:
        first.sock.close()
        second.sock.close()


def test_linking_again_and_again_gets_a_host_few_fresh_links(victim: LocalNode) -> None:
    accepted = 0
    for _ in range(10):
        client = LinkClient(address(victim), host="127.0.0.6")
        if client.handshake(timeout=1.0):
            accepted += 1
        client.close()  # and link again at once, from another port
    # The host's allowance, plus at most one refill over the few seconds this took.
    assert 0 < accepted <= victim.config.udp.relink_burst + 1
    assert transport(victim)["relinks_refused"] > 0


def test_no_identifier_on_the_air_outlives_a_link(tmp_path: Path) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("", 0))
    group = Endpoint(f"239.255.{random.randrange(256)}.{random.randrange(1, 255)}",
                     probe.getsockname()[1])
    probe.close()
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("", group.port))
    listener.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack(
        "4s4s", socket.inet_aton(group.host), socket.inet_aton("127.0.0.1")))
    listener.settimeout(10)
    base = fast_config()
    cfg = dataclasses.replace(base, udp=dataclasses.replace(
        base.udp, discovery=True, group=group, discovery_interval=0.1))
    with LocalNet.line(tmp_path, ["V"], cfg) as net:
        node = net.nodes[0]
        node.config = dataclasses.replace(node.config, udp=dataclasses.replace(
            node.config.udp, discovery=True))
        net.start()
        nonces = []
        while len(nonces) < 4:
            data, _ = listener.recvfrom(100)
            announce = decode(data).payload
            assert isinstance(announce, Announce)
            nonces.append(announce.nonce)
        seen = []
        for _ in range(3):
            client = LinkClient(address(node), host="127.0.0.7")
            assert client.handshake()
            assert client.peer is not None
            seen.append(client.peer)
            seen += [d.payload.cookie for d in client.received
                     if isinstance(d.payload, Challenge)]
            client.close()
    listener.close()
    values = nonces + seen
    assert len(set(values)) == len(values), "a value repeats across announcements or links"
