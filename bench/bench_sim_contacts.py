"""Simulator building blocks: mobility and contact detection, milliseconds per time step.

Usage: python bench/bench_sim_contacts.py [--steps N] [--sizes 1000,5000,10000]

Neighbourhood layout at 5,000 residents/km² with 20 hubs, 20 m range (8 m between two
buildings), 5 s steps starting one hour into the day (08:00 + 1 h, residents out and about).
Columns: mobility `positions(t)`; `pairs_grid` (full recomputation); `ContactDetector`
(incremental, what a run uses); and, for contrast, `pairs_grid` on random-waypoint walkers in
the same area (everyone moving). The last column projects mobility + detector over 24 h.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import header

from sim.contacts import ContactDetector, pairs_grid
from sim.mobility import (
    Composite,
    Neighbourhood,
    NeighbourhoodParams,
    RandomWaypoint,
    RandomWaypointParams,
    Stationary,
    make_layout,
)
from sim.rng import Streams

HUBS, RANGE, INDOOR, STEP, WARMUP = 20, 20.0, 8.0, 5.0, 3600.0


def bench(residents: int, steps: int) -> tuple[float, float, float, float, int]:
    params = NeighbourhoodParams()
    streams = Streams(1)
    layout = make_layout(residents, HUBS, params, streams.generator("layout"))
    model = Composite([Stationary(layout.hubs.pos),
                       Neighbourhood(layout, params, streams.generator("mobility"))])
    detector = ContactDetector(RANGE, INDOOR)
    detector.pairs(model.positions(WARMUP), model.indoors())
    mobility = grid = incremental = 0.0
    pairs = 0
    for k in range(1, steps + 1):
        t = WARMUP + k * STEP
        start = time.perf_counter()
        positions = model.positions(t)
        indoors = model.indoors()
        moved = time.perf_counter()
        found = detector.pairs(positions, indoors)
        detected = time.perf_counter()
        pairs_grid(positions, RANGE)
        mobility += moved - start
        incremental += detected - moved
        grid += time.perf_counter() - detected
        pairs += len(found)
    walkers = RandomWaypoint(residents, RandomWaypointParams(width=layout.width,
                                                             height=layout.width),
                             streams.generator("walkers"))
    walking = 0.0
    for k in range(steps):
        positions = walkers.positions(k * STEP)
        start = time.perf_counter()
        pairs_grid(positions, RANGE)
        walking += time.perf_counter() - start
    ms = 1000.0 / steps
    return mobility * ms, grid * ms, incremental * ms, walking * ms, pairs // steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--sizes", default="1000,5000,10000")
    args = parser.parse_args()
    header("simulator: mobility and contact detection per step")
    print(f"numpy {np.__version__}; {args.steps} steps of {STEP:.0f} s, range {RANGE:.0f} m "
          f"(indoor {INDOOR:.0f} m)")
    print()
    print("| nodes | blocks | pairs/step | mobility ms | pairs_grid ms | detector ms "
          "| RWP pairs_grid ms | 24 h mobility+detector s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        residents = size - HUBS
        mobility, grid, incremental, walking, pairs = bench(residents, args.steps)
        blocks = make_layout(residents, HUBS, NeighbourhoodParams(),
                             Streams(1).generator("layout")).blocks
        day = (mobility + incremental) * 86_400 / STEP / 1000
        print(f"| {size:,} | {blocks}x{blocks} | {pairs:,} | {mobility:.2f} | {grid:.2f} "
              f"| {incremental:.2f} | {walking:.2f} | {day:.0f} |")


if __name__ == "__main__":
    main()
