"""The 72-hour outage soak, CI-sized (issue 9, item 6): the bundled `soak-72h` scenario scaled
down to a few dozen nodes over the full 72 simulated hours. Memory held by meshnode stays
flat once every bounded structure is full (stores, the seen-id memory and the ghost book, both
made small here so that they fill within the run), every store stays within its capacity at
every sample, the per-DM bookkeeping stays within the stores' bound, no node counts a protocol
error (there are no hostile peers here: re-syncs crossing on the air must not look like one),
and the alert issued at hour 70 reaches as many residents as the oracle bound allows."""

from __future__ import annotations

import dataclasses
import tracemalloc

from sim.bench import scaled
from sim.driver import Simulation
from sim.metrics import summarise
from sim.scenario import bundled

NODES = 24
STEP = 20.0
HOUR = 3600.0
WARM_UP = 36 * HOUR  # every store, the hub's 4 MiB included, is full by about 30 h here
# Traced meshnode memory at any later sample vs the warm-up sample, once the stores and the
# seen memory are full; while they fill it grows several times over.
MEMORY_FACTOR = 1.25
SEEN = 256  # ids each store remembers: mostly full by the warm-up here (8,192 by default)
# Ghosts a node keeps (16,384 by default). A ghost lives 14 days from its message's creation,
# so over 72 h a node's ghosts only grow with the ids it hears of (~175 by 36 h, ~400 by 72 h
# here), until this bound: shrunk like the seen memory so that most books are full by 36 h.
GHOSTS = 128


def test_soak_72h_memory_and_stores_stay_bounded() -> None:
    base = bundled("soak-72h")
    scenario = scaled(base, NODES, None)
    scenario = dataclasses.replace(
        scenario, scenario=dataclasses.replace(scenario.scenario, step=STEP),
        routing=dataclasses.replace(scenario.routing, seen_capacity=SEEN,
                                    ghost_capacity=GHOSTS))
    assert scenario.scenario.duration == 72 * HOUR

    sim = Simulation(scenario)
    memory: list[tuple[float, int]] = []
    overfull: list[tuple[float, int, int, int]] = []
    bookkeeping: list[tuple[float, int, int]] = []
    fullest = [0.0]
    next_sample = [0.0]

    def progress(t: float, _events: int) -> None:
        for i, node in enumerate(sim.nodes):
            usage = node.store.usage()
            fullest[0] = max(fullest[0], usage.used_bytes / usage.capacity_bytes)
            if usage.used_bytes > usage.capacity_bytes:
                overfull.append((t, i, usage.used_bytes, usage.capacity_bytes))
        if t >= next_sample[0]:
            snap = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(True, "*meshnode*")])
            traced = sum(stat.size for stat in snap.statistics("filename"))
            memory.append((t, traced))
            statuses = [node.status(0) for node in sim.nodes]
            bookkeeping.append((t, sum(int(s["dm_bookkeeping"]) for s in statuses),  # type: ignore[call-overload]
                                sum(int(s["stored"]) for s in statuses)))  # type: ignore[call-overload]
            next_sample[0] = t + 6 * HOUR

    tracemalloc.start()
    try:
        out = sim.run(progress)
    finally:
        tracemalloc.stop()

    last = summarise(out, 1.0)["alerts"][-1]
    assert last["created"] == 70 * HOUR
    assert last["alive_at_issue"] > 0.8
    assert last["final_oracle"] > 0.25, "the bound reaches almost no one: nothing is tested"
    assert last["final_coverage"] >= 0.9 * last["final_oracle"], last
    seen = [node.store.seen_count() for node in sim.nodes]
    assert max(seen) <= SEEN
    assert sum(count == SEEN for count in seen) >= len(seen) / 2, seen  # the bound was reached
    ghosts = [int(node.status(0)["ghosts"]) for node in sim.nodes]  # type: ignore[call-overload]
    assert max(ghosts) <= GHOSTS
    assert sum(count == GHOSTS for count in ghosts) >= len(ghosts) / 2, ghosts

    assert overfull == []
    for t, entries, stored in bookkeeping:
        assert entries <= stored + 64 * len(sim.nodes), (t / HOUR, entries, stored)
    errors = {i: node.stats.rejected for i, node in enumerate(sim.nodes)
              if node.stats.rejected["malformed frame"]}
    assert errors == {}
    assert fullest[0] > 0.95, "the stores never filled: the soak does not exercise eviction"
    after = [(t, traced) for t, traced in memory if t >= WARM_UP]
    assert len(after) == 7  # 36, 42, ..., 72 h
    _, traced0 = after[0]
    for t, traced in after[1:]:
        assert traced <= MEMORY_FACTOR * traced0, (t / HOUR, traced, traced0)

