"""Daemons in network namespaces: a real chain A–B–C in which A cannot reach C.

The test creates three namespaces (``mn-test-<pid>-a`` …) joined by veth pairs, addresses in
10.250.x.0/24 that exist only inside them, and runs one daemon per namespace with
``ip netns exec``; the finalizer stops the daemons and deletes the namespaces. A lossy, slow
link is made with `tc netem` where the kernel has it, else with `tc tbf` (rate) plus an
nftables rule that drops 20 % of the link's datagrams at random (`numgen random`).
Needs root and iproute2 (and nftables where netem is missing).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshnode.daemon import api
from meshnode.daemon.config import DaemonConfig, LogConfig
from meshnode.daemon.localnet import LocalNode
from meshnode.transport.udp import Endpoint
from tests.daemons import (
    DM_TEXT,
    fast_config,
    links_up,
    make_authority,
    make_posts,
    prefill,
    relay_killed_mid_transfer,
    wait_for,
)

pytestmark = pytest.mark.slow
PORT = 4917


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check,
                          timeout=30)


def _namespaces_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "`ip` (iproute2) is not installed: apt-get install iproute2"
    probe = f"mn-test-{os.getpid()}-probe"
    result = _ip("netns", "add", probe, check=False)
    if result.returncode != 0:
        return f"cannot create a network namespace here: {result.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


@dataclasses.dataclass
class Chain:
    """Namespaces a, b, c; a–b on 10.250.1.0/24, b–c on 10.250.2.0/24."""

    ns: dict[str, str]
    addr: dict[str, str]  # the address each node is reached at by its neighbours

    def exec(self, name: str, *cmd: str, check: bool = True,
             stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.ns[name], *cmd], capture_output=True,
                              text=True, check=check, timeout=30, input=stdin)

    def node(self, name: str, root: Path, peers: list[str], base: DaemonConfig) -> LocalNode:
        listen = Endpoint("0.0.0.0", PORT)
        config = dataclasses.replace(
            base, udp=dataclasses.replace(base.udp, listen=listen, peers=tuple(
                Endpoint(self.addr[p], PORT) for p in peers)),
            log=LogConfig(level="info", format="json", file=str(root / name / "daemon.log")))
        return LocalNode(name, root / name, config,
                         prefix=("ip", "netns", "exec", self.ns[name]))

    def impair(self, *links: tuple[str, str]) -> str:
        """Make each named interface lossy (20 %) and slow; returns how it was done."""
        for name, dev in links:
            netem = self.exec(name, "tc", "qdisc", "add", "dev", dev, "root", "netem",
                              "loss", "20%", "delay", "50ms", check=False)
            if netem.returncode == 0:
                continue
            if shutil.which("nft") is None:
                pytest.skip("the kernel has no sch_netem and nftables is not installed "
                            "(apt-get install nftables) to drop datagrams instead")
            self.exec(name, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate",
                      "2mbit", "burst", "16kb", "latency", "100ms")
            rules = (f"table inet mnloss {{\n chain input {{\n"
                     f"  type filter hook input priority 0; policy accept;\n"
                     f"  iifname \"{dev}\" numgen random mod 100 < 20 drop\n }}\n}}\n")
            self.exec(name, "nft", "-f", "-", stdin=rules)
        return "netem" if netem.returncode == 0 else "tbf+nft"


@pytest.fixture
def chain() -> Iterator[Chain]:
    reason = _namespaces_unavailable()
    if reason is not None:
        pytest.skip(reason)
    ns = {n: f"mn-test-{os.getpid()}-{n}" for n in "abc"}
    try:
        for name in ns.values():
            _ip("netns", "add", name)
        for name in ns.values():
            _ip("-n", name, "link", "set", "lo", "up")
        for left, right, net in (("a", "b", 1), ("b", "c", 2)):
            _ip("link", "add", f"{left}{right}0", "netns", ns[left], "type", "veth", "peer",
                "name", f"{right}{left}0", "netns", ns[right])
            _ip("-n", ns[left], "addr", "add", f"10.250.{net}.1/24", "dev", f"{left}{right}0")
            _ip("-n", ns[right], "addr", "add", f"10.250.{net}.2/24", "dev", f"{right}{left}0")
            _ip("-n", ns[left], "link", "set", f"{left}{right}0", "up")
            _ip("-n", ns[right], "link", "set", f"{right}{left}0", "up")
        # B reaches A at 10.250.1.1 and C at 10.250.2.2; both reach B at .1.2 / .2.1.
        yield Chain(ns, {"a": "10.250.1.1", "b_for_a": "10.250.1.2", "b_for_c": "10.250.2.1",
                         "c": "10.250.2.2"})
    finally:
        for name in ns.values():
            _ip("netns", "del", name, check=False)


def _nodes(chain: Chain, root: Path, base: DaemonConfig) -> tuple[LocalNode, ...]:
    return (chain.node("a", root, ["b_for_a"], base), chain.node("b", root, ["a", "c"], base),
            chain.node("c", root, ["b_for_c"], base))


def _stop(*nodes: LocalNode) -> list[int | None]:
    codes = []
    for node in nodes:
        try:
            codes.append(node.stop(timeout=10))
        except Exception:
            node.kill()
            raise
    return codes


def test_a_cannot_reach_c_directly(chain: Chain) -> None:
    assert chain.exec("a", "ip", "route", "get", "10.250.2.2", check=False).returncode != 0
    assert chain.exec("a", "ip", "route", "get", "10.250.1.2").returncode == 0


def test_alert_and_dm_cross_the_chain_and_survive_a_killed_relay(chain: Chain,
                                                                 tmp_path: Path) -> None:
    authority = make_authority(tmp_path / "authority")
    a, b, c = _nodes(chain, tmp_path, fast_config())
    try:
        for node in (a, b, c):
            node.setup([authority.root_pub])
        relay_killed_mid_transfer(a, b, c, authority, posts=1000)
        assert _stop(a, b, c) == [0, 0, 0]
    finally:
        for node in (a, b, c):
            node.kill()


def test_a_lossy_slow_link_still_converges(chain: Chain, tmp_path: Path) -> None:
    how = chain.impair(("b", "bc0"), ("c", "cb0"))
    authority = make_authority(tmp_path / "authority")
    a, b, c = _nodes(chain, tmp_path, fast_config())
    try:
        for node in (a, b, c):
            node.setup([authority.root_pub])
        prefill(a, make_posts(300))
        for node in (a, b, c):
            node.start()
        for node in (a, b, c):
            node.wait_ready()
        wait_for("links", lambda: links_up(b, 2)() and links_up(c, 1)(), 30)
        whoami = c.request(api.Whoami())
        a.request(api.ContactAdd("C", sign_key=bytes.fromhex(whoami["sign_key"]),
                                 dh_key=bytes.fromhex(whoami["dh_key"])))
        a.request(api.Inject(authority.alert()))
        a.request(api.SendDm("C", DM_TEXT))

        def converged() -> bool:
            s = c.request(api.Status())
            return bool(s["store"]["by_kind"].get("post", 0) == 300
                        and s["store"]["by_kind"].get("alert", 0) == 1
                        and c.request(api.Inbox())["messages"])

        wait_for(f"convergence over the impaired link ({how})", converged, 90)
        [dm] = c.request(api.Inbox())["messages"]
        assert dm["text"] == DM_TEXT
        resent = c.request(api.Status())["transport"]["resent"]
        resent += b.request(api.Status())["transport"]["resent"]
        assert resent > 0, "the link lost nothing: the impairment did not work"
        assert _stop(a, b, c) == [0, 0, 0]
    finally:
        for node in (a, b, c):
            node.kill()
