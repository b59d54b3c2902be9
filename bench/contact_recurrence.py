"""How soon the same two residents meet again, against PRoPHET's aging (issue 22).

Moves a bundled scenario's residents for `--hours` simulated hours (its mobility and contact
detection only: no nodes, no messages), then, for every pair of residents that met more than
once, the gaps between the end of one meeting and the start of the next (gaps of at most
`--merge` seconds are the same meeting, broken by a step). Prints the gaps' quartiles and the
share over one and three hours, and what PRoPHET's aging (`meshnode.routing.policy.
ProphetTable`: γ per aging unit) leaves of a predictability at the next meeting.

    python bench/contact_recurrence.py small --seed 7 --hours 24
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from meshnode.routing.policy import ProphetTable
from sim.bench import scaled
from sim.contacts import ContactDetector, ContactRecorder
from sim.rng import Streams
from sim.scenario import bundled
from sim.world import build_world

HOUR = 3600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", help="a bundled scenario name")
    parser.add_argument("--nodes", type=int, default=None, help="scale to this many devices")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--merge", type=float, default=60.0)
    args = parser.parse_args()
    scenario = bundled(args.scenario)
    pop = scenario.population
    scenario = scaled(scenario, args.nodes or pop.hubs + pop.residents, args.hours * HOUR)
    seed = scenario.scenario.seed if args.seed is None else args.seed
    world = build_world(scenario, Streams(seed))
    mobility = world.mobility
    assert mobility is not None, "a mobility model, not a trace"
    detector = ContactDetector(scenario.ble.range, scenario.ble.indoor_range)
    recorder = ContactRecorder(world.size)
    end, step = args.hours * HOUR, scenario.scenario.step
    for k in range(int(end // step) + 1):
        t = k * step
        recorder.step(t, detector.pairs(mobility.positions(t), mobility.indoors()))
    contacts = recorder.intervals(end)
    residents = (world.kinds[contacts.a] == 1) & (world.kinds[contacts.b] == 1)
    key = contacts.a[residents] * world.size + contacts.b[residents]
    up, down = contacts.up[residents], contacts.down[residents]
    order = np.lexsort((up, key))
    key, up, down = key[order], up[order], down[order]
    gaps = (up[1:] - down[:-1])[key[1:] == key[:-1]]
    gaps = gaps[gaps > args.merge]
    table = ProphetTable()
    half_life = table.unit * math.log(0.5) / math.log(table.gamma)
    left = table.gamma ** (gaps / table.unit)
    q1, median, q3 = np.percentile(gaps, [25, 50, 75])
    print(f"{args.scenario}, {world.size} devices, seed {seed}, {args.hours:g} h: "
          f"{len(key)} resident contacts, {len(np.unique(key))} pairs")
    print(f"gaps between meetings of one pair: {len(gaps)}; quartiles {q1:.0f} / {median:.0f} "
          f"/ {q3:.0f} s; over 1 h {np.mean(gaps > HOUR):.2f}, over 3 h "
          f"{np.mean(gaps > 3 * HOUR):.2f}")
    print(f"PRoPHET aging (γ {table.gamma} per {table.unit} s, half-life {half_life:.0f} s): "
          f"left at the next meeting, median {np.median(left):.2f}; share of next meetings "
          f"with under a tenth left {np.mean(left < 0.1):.2f}")


if __name__ == "__main__":
    main()
