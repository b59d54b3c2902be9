"""The simulator originates exactly as the daemon does: same routing for posts, DMs and alerts
under every forwarding policy, and the delivery states a resident would see."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from meshnode.crypto.authority import TrustStore
from meshnode.crypto.identity import Identity
from meshnode.daemon import api
from meshnode.daemon.config import NodeSettings
from meshnode.daemon.contacts import ContactBook
from meshnode.daemon.inbox import Inbox
from meshnode.daemon.service import Service, ServiceInfo
from meshnode.node import Node, NodeConfig
from meshnode.routing.policy import PolicyName
from meshnode.store.memory import MemoryStore
from meshnode.wire import Kind, Routing, decode_message
from sim.driver import EPOCH, Outcome, Simulation
from sim.metrics import summarise
from sim.scenario import RoutingSpec, Scenario, bundled

HOP_LIMIT, POST_HOPS, COPIES = 11, 9, 5


def _scenario(policy: str, hop_limit: int = HOP_LIMIT, hours: float = 1.0) -> Scenario:
    scenario = bundled("small")
    routing = dataclasses.replace(scenario.routing, policy=policy, hop_limit=hop_limit,
                                  post_hops=POST_HOPS, spray_copies=COPIES)
    meta = dataclasses.replace(scenario.scenario, duration=hours * 3600.0)
    workload = dataclasses.replace(scenario.workload, dms_per_day=48.0, posts_per_hour=2.0)
    return dataclasses.replace(scenario, scenario=meta, routing=routing, workload=workload)


def _stored_routing(sim: Simulation, origin: int, msg_id: bytes) -> Routing:
    stored = sim.nodes[origin].store.get(msg_id)
    assert stored is not None
    return decode_message(stored.raw).routing


def _daemon_routing(routing: RoutingSpec, trust: TrustStore, alert: bytes,
                    tmp_path: Any) -> dict[Kind, Routing]:
    """What a daemon configured like the scenario stores when its API posts, sends a DM and
    injects the alert."""
    settings = NodeSettings(hop_limit=routing.hop_limit, post_hops=routing.post_hops,
                            dm_policy=routing.policy, spray_copies=routing.spray_copies)
    node = Node(Identity.generate(), MemoryStore(1 << 20), trust, EPOCH,
                settings.node_config())
    service = Service(node, Inbox(tmp_path / "inbox.db"), ContactBook(tmp_path / "c.db"),
                      ServiceInfo(str(tmp_path), lambda: [], lambda: {}, lambda: {}))
    peer = Identity.generate().public
    service.handle(api.ContactAdd("peer", sign_key=peer.sign_key, dh_key=peer.dh_key), EPOCH)
    post = bytes.fromhex(service.handle(api.Post("wijk", "hallo"), EPOCH)[0]["id"])
    dm = bytes.fromhex(service.handle(api.SendDm("peer", "hoi"), EPOCH)[0]["id"])
    injected = bytes.fromhex(service.handle(api.Inject(alert), EPOCH)[0]["id"])
    result: dict[Kind, Routing] = {}
    for kind, msg_id in ((Kind.POST, post), (Kind.DM, dm), (Kind.ALERT, injected)):
        stored = node.store.get(msg_id)
        assert stored is not None
        result[kind] = decode_message(stored.raw).routing
    return result


@pytest.mark.parametrize("policy", [p.value for p in PolicyName])
def test_simulated_posts_dms_and_alerts_carry_the_daemons_routing(policy: str,
                                                                  tmp_path: Any) -> None:
    scenario = _scenario(policy)
    sim = Simulation(scenario)
    out = sim.run()
    assert out.post_created and out.dm_created and out.alert_origin
    [alert] = sim.nodes[out.alert_origin[0]].store.by_kind(int(Kind.ALERT))
    daemon = _daemon_routing(scenario.routing, sim.trust, alert.raw, tmp_path)
    assert daemon[Kind.POST] == Routing(min(HOP_LIMIT, POST_HOPS), 1)
    assert daemon[Kind.DM].hops_left == HOP_LIMIT
    posts = {_stored_routing(sim, origin, msg_id) for msg_id, (_, origin)
             in out.post_created.items() if sim.nodes[origin].store.has(msg_id)}
    dms = {_stored_routing(sim, origin, msg_id) for msg_id, (_, origin, _target)
           in out.dm_created.items() if sim.nodes[origin].store.has(msg_id)}
    assert posts == {daemon[Kind.POST]}
    assert dms == {daemon[Kind.DM]}
    assert decode_message(alert.raw).routing == daemon[Kind.ALERT]
    assert daemon[Kind.ALERT].hops_left == NodeConfig().max_hops


def test_the_scenarios_hop_limit_reaches_simulated_posts() -> None:
    hops = []
    for limit in (3, 7):
        sim = Simulation(_scenario("spray-and-wait", hop_limit=limit, hours=0.5))
        out = sim.run()
        msg_id, (_, origin) = next((i, o) for i, o in out.post_created.items()
                                   if sim.nodes[o[1]].store.has(i))
        hops.append(_stored_routing(sim, origin, msg_id).hops_left)
    assert hops == [3, 7]


def _sender_states(out: Outcome) -> dict[str, Any]:
    return summarise(out, 1.0)["dms"]["sender_sees"]  # type: ignore[no-any-return]


def test_the_simulator_reports_dm_delivery_states_as_senders_see_them() -> None:
    out = Simulation(_scenario("spray-and-wait", hours=2.0)).run()
    states = _sender_states(out)
    assert out.dm_carried, "no DM was handed over in two hours"
    assert states["carried"] == sum(1 for i in out.dm_created if i in out.dm_carried) > 0
    # A receipt comes back only for a delivered DM, and only after it was delivered.
    assert set(out.dm_acknowledged) <= set(out.dm_delivered)
    assert all(out.dm_acknowledged[i] >= out.dm_delivered[i] for i in out.dm_acknowledged)
    assert states["acknowledged"] == len(out.dm_acknowledged)
    assert all(out.dm_handovers[i] >= 1 for i in out.dm_carried)
