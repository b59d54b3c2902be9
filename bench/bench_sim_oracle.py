"""The oracle's cost at city scale without running the protocol (issue 17, oracle lever).

Moves the bundled `neighbourhood` scenario scaled to `--nodes` devices for `--hours` simulated
hours through its mobility model and contact detector alone (no nodes: every pair in range is
a contact, which is at least the contacts a run records), then times what `summarise` does
with them: building the `Adjacency` once, one full search per alert, and the DM check on
`DM_SAMPLE` random DMs (source, recipient, creation time drawn uniformly) both ways: the whole
city searched up to the DM's 7-day expiry (before) and the search stopped at the recipient or
the run's end (now). Each is timed `--runs` times in a row (CPU and wall seconds), and
the two DM checks alternate `--rounds` times; both ways must give every
recipient the same time, which the script checks.

    python bench/bench_sim_oracle.py --nodes 1000 --hours 24 --rounds 3
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np

from meshnode.crypto.sealing import DEFAULT_DM_TTL
from sim import linkmodel
from sim.bench import scaled
from sim.contacts import ContactDetector, ContactRecorder
from sim.metrics import DM_SAMPLE
from sim.oracle import Adjacency, earliest_arrival
from sim.rng import Streams
from sim.scenario import bundled
from sim.world import build_world

HOUR = 3600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--runs", type=int, default=1, help="timed repeats in a row")
    parser.add_argument("--rounds", type=int, default=3,
                        help="before/after alternations of the DM check")
    args = parser.parse_args()
    scenario = scaled(bundled("neighbourhood"), args.nodes, args.hours * HOUR)
    end = scenario.scenario.duration
    world = build_world(scenario, Streams(scenario.scenario.seed))
    mobility = world.mobility
    assert mobility is not None
    detector = ContactDetector(scenario.ble.range, scenario.ble.indoor_range)
    recorder = ContactRecorder(world.size)
    cpu = time.process_time()
    t = 0.0
    while t <= end:
        recorder.step(t, detector.pairs(mobility.positions(t), mobility.indoors()))
        t += scenario.scenario.step
    contacts = recorder.intervals(end)
    print(f"{world.size} nodes, {args.hours:g} h: {len(contacts.up):,} "
          f"contacts, detected in {time.process_time() - cpu:.1f} CPU s")

    setup, delay = scenario.ble.setup_min, linkmodel.transfer_time(2_000, scenario.ble)
    rng = np.random.default_rng(1)
    dms = [(int(rng.integers(world.size)), int(rng.integers(world.size)),
            float(rng.uniform(0, end))) for _ in range(DM_SAMPLE)]
    alerts = [float(a.at) for a in scenario.workload.alerts if a.at <= end]

    def timed(label: str, job: Callable[[], object]) -> object:
        cpu_s, wall_s = [], []
        result = None
        for _ in range(args.runs):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            result = job()
            cpu_s.append(time.process_time() - cpu0)
            wall_s.append(time.perf_counter() - wall0)
        print(f"{label}: CPU {min(cpu_s):.2f}-{max(cpu_s):.2f} s, wall {min(wall_s):.2f}-"
              f"{max(wall_s):.2f} s over {args.runs} runs")
        return result

    graph = timed("Adjacency, built once", lambda: Adjacency(contacts))
    assert isinstance(graph, Adjacency)
    timed(f"{len(alerts)} alert(s), whole city each",
          lambda: [earliest_arrival(graph, 0, at, delay, setup=setup) for at in alerts])

    def whole_city() -> list[float]:
        return [float(earliest_arrival(graph, s, at, delay, at + DEFAULT_DM_TTL,
                                       setup=setup)[r]) for s, r, at in dms]

    def to_recipient() -> list[float]:
        return [float(earliest_arrival(graph, s, at, delay, min(at + DEFAULT_DM_TTL, end),
                                       setup=setup, target=r)[r]) for s, r, at in dms]

    # Before and after alternate, so a change in the machine's load hits both alike.
    before: object = None
    after: object = None
    for _ in range(args.rounds):
        before = timed(f"{DM_SAMPLE} DMs, whole city to expiry (before)", whole_city)
        after = timed(f"{DM_SAMPLE} DMs, to the recipient or the run's end (now)", to_recipient)
    assert isinstance(before, list) and isinstance(after, list)
    # Within the run both must agree: a time after the end counts as never.
    assert [b if b <= end else math.inf for b in before] == after, "searches disagree"
    print("both ways give every sampled recipient the same time within the run")


if __name__ == "__main__":
    main()
