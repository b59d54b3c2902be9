"""Proof-of-work stamps in the simulator (`routing.stamps`, `workload.attacker.stamps`): a
Sybil flood that does not pay is refused at the first honest node, one that pays passes, and
honest traffic flows either way. The figure is bench/bench_sim_stamps.py's."""

from __future__ import annotations

import dataclasses

import pytest

from meshnode.wire import Kind
from sim.driver import Simulation
from sim.scenario import AttackerSpec, Scenario, bundled

DURATION = 40 * 60.0
RATE = 360.0  # junk posts per hour: enough to be seen, few mints when the attacker pays


def scenario(stamps: bool, attacker_pays: bool) -> Scenario:
    base = bundled("small")
    return dataclasses.replace(
        base, scenario=dataclasses.replace(base.scenario, duration=DURATION),
        routing=dataclasses.replace(base.routing, stamps=stamps),
        workload=dataclasses.replace(base.workload, attacker=AttackerSpec(
            count=1, rate=RATE, start=0.0, stamps=attacker_pays)))


def junk_held(stamps: bool, attacker_pays: bool) -> tuple[int, int, int]:
    """(junk posts sent, the most junk an honest store holds, honest posts delivered)."""
    sim = Simulation(scenario(stamps, attacker_pays))
    out = sim.run()
    honest = set(out.post_created)
    bad = set(out.attackers.tolist())
    held = [sum(m.id not in honest for m in node.store.by_kind(int(Kind.POST)))
            for i, node in enumerate(sim.nodes) if i not in bad]
    delivered = sum(
        sum(m.id in honest for m in node.store.by_kind(int(Kind.POST)))
        for i, node in enumerate(sim.nodes) if i not in bad)
    return out.flood_posts, max(held), delivered


def test_an_unpaid_sybil_flood_reaches_no_honest_store_when_nodes_require_stamps() -> None:
    sent, most, delivered = junk_held(stamps=True, attacker_pays=False)
    assert sent > 100
    assert most == 0
    assert delivered > 0  # honest posts, stamped by their authors, still spread


@pytest.mark.slow
def test_a_sybil_flood_that_pays_for_its_stamps_passes_as_without_stamps() -> None:
    sent, most, _ = junk_held(stamps=True, attacker_pays=True)
    assert sent > 100 and most > sent // 2
