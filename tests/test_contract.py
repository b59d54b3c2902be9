"""The driving contract: `meshnode.testing.CheckedNode` catches drivers that break it, and every
driver this project ships keeps it (the in-memory mesh, the simulator, the daemon)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import trio
import trio.testing

from meshnode.crypto.authority import TrustStore
from meshnode.crypto.identity import Identity
from meshnode.daemon import api
from meshnode.daemon.config import DaemonConfig
from meshnode.daemon.daemon import Daemon
from meshnode.events import SyncFinished
from meshnode.node import Node, NodeConfig
from meshnode.store.memory import MemoryStore
from meshnode.testing import CheckedNode, ContractViolation, Mesh
from meshnode.transport.memory import MemoryNetwork, MemoryTransport
from sim.driver import EPOCH, Simulation
from sim.scenario import bundled
from tests.daemons import fast_config

NOW = 1_790_000_000


def _checked(seed: int = 1) -> CheckedNode:
    return CheckedNode(Identity.generate(), MemoryStore(1 << 20), TrustStore(()), NOW,
                       NodeConfig(seed=seed))


def test_the_memory_mesh_keeps_the_contract_through_posts_dms_and_resyncs() -> None:
    mesh = Mesh(node_factory=CheckedNode)
    for name in "ABC":
        mesh.add(name, NOW)
    for i in range(30):
        mesh.local("A", mesh.nodes["A"].post("wijk", f"bericht {i}", NOW), NOW)
    mesh.connect("A", "B", NOW)
    mesh.connect("B", "C", NOW + 1)
    mesh.local("C", mesh.nodes["C"].send_dm(mesh.nodes["A"].identity.public, "hoi", NOW + 2),
               NOW + 2)
    mesh.advance(NOW + 2_000, start=NOW + 2)  # past the 15-minute re-sync, twice
    assert len(mesh.of("B", SyncFinished)) >= 4
    assert {m.id for m in mesh.nodes["C"].store.by_kind(1)} == {
        m.id for m in mesh.nodes["A"].store.by_kind(1)}
    for node in mesh.nodes.values():
        assert isinstance(node, CheckedNode)
        node.finish(NOW + 2_000)


def test_time_going_backwards_is_caught() -> None:
    node = _checked()
    node.link_up("p", NOW + 10)
    with pytest.raises(ContractViolation, match="rule 1"):
        node.ready("p", NOW + 9)


def test_calls_for_a_link_that_is_not_up_are_caught() -> None:
    node = _checked()
    with pytest.raises(ContractViolation, match="rule 2"):
        node.receive("p", b"\x92\x05\xc0", NOW)
    node.link_up("p", NOW)
    with pytest.raises(ContractViolation, match="rule 2"):
        node.link_up("p", NOW)


def test_ready_per_frame_instead_of_per_burst_is_caught() -> None:
    node = _checked()
    assert len(node.link_up("p", NOW)) == 1  # a burst of one frame: the Hello
    node.ready("p", NOW)  # the Hello was the burst: fine
    with pytest.raises(ContractViolation, match="rule 3"):
        node.ready("p", NOW)


def test_an_overdue_timer_is_caught_at_the_next_call() -> None:
    node = _checked()
    node.link_up("p", NOW)
    node.ready("p", NOW)
    due = node.get_timer()
    assert due == NOW + NodeConfig().session_timeout
    with pytest.raises(ContractViolation, match="rule 4"):
        node.link_down("p", due + 1)


def test_polling_the_timer_is_caught() -> None:
    node = _checked()
    node.link_up("p", NOW)
    with pytest.raises(ContractViolation, match="poll"):
        for t in range(NOW, NOW + 10):
            node.handle_timer(t)


def test_a_burst_never_confirmed_is_caught_when_the_driver_is_quiet() -> None:
    node = _checked()
    node.link_up("p", NOW)
    with pytest.raises(ContractViolation, match="rule 5"):
        node.finish(NOW + 1)


def test_the_simulator_keeps_the_contract() -> None:
    scenario = bundled("small")
    scenario = dataclasses.replace(
        scenario, scenario=dataclasses.replace(scenario.scenario, duration=1_800.0))
    sim = Simulation(scenario, node_factory=CheckedNode)
    out = sim.run()
    assert out.msg_frames > 0 and out.links_made > 0
    end = EPOCH + int(scenario.scenario.duration)
    for node, alive in zip(sim.nodes, sim.alive, strict=True):
        assert isinstance(node, CheckedNode)
        assert node.calls["handle_timer"] <= node.calls["link_up"] * 40 + 10
        if alive:
            node.finish(end)


def test_the_daemon_keeps_the_contract(tmp_path: Path) -> None:
    """Two daemons in one process over the in-memory transport, in virtual time (trio's
    MockClock); the daemons read the same virtual clock. Housekeeping ticks at the shipped
    interval, not fast_config's 0.2 s: each tick is a jump of the mock clock, which waits for
    the run to be idle for `autojump_threshold` of real time, and 5,000 of them (1,000 virtual
    seconds) cost most of a minute while proving nothing about the node's timer."""
    net = MemoryNetwork()
    config = fast_config()
    config = dataclasses.replace(config, node=dataclasses.replace(
        config.node, session_timeout=60, resync_interval=300, tick=DaemonConfig().node.tick))

    def clock() -> float:
        return NOW + trio.current_time()

    def checked(*args: object, **kwargs: object) -> Node:
        return CheckedNode(*args, timer_slack=1, **kwargs)  # type: ignore[arg-type]

    async def scenario() -> None:
        daemons = []
        for name in ("a", "b"):
            data_dir = tmp_path / name
            data_dir.mkdir(mode=0o700)
            daemons.append(Daemon(data_dir, config, Identity.generate(),
                                  transports=[MemoryTransport(net, name)], clock=clock,
                                  handle_signals=False, node_factory=checked))
        async with trio.open_nursery() as nursery:
            for d in daemons:
                await nursery.start(d.run)
            net.connect("a", "b")
            reply = await daemons[0].call(api.Post("wijk", "hallo"))
            post = bytes.fromhex(reply["id"])
            with trio.fail_after(60):
                while not daemons[1].node.store.has(post):
                    await trio.sleep(0.5)
            await trio.sleep(1_000)  # virtual: three re-syncs and every timer in between
            for d in daemons:
                node = d.node
                assert isinstance(node, CheckedNode)
                assert node.calls["handle_timer"] >= 3
                node.finish(int(clock()))
            nursery.cancel_scope.cancel()

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0.01))
