"""The population of a scenario: which nodes are hubs and residents, and how they move.

`build_world` turns a `Scenario` into node kinds plus either a mobility model (positions at
any t) or a replayed contact trace. Node indices: hubs first (0..hubs-1), then residents. It
draws only from the "layout" and "mobility" streams, so changing the workload never moves
anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from sim.config import ScenarioError
from sim.mobility import (
    Composite,
    Layout,
    Mobility,
    Neighbourhood,
    RandomWaypoint,
    Stationary,
    make_layout,
)
from sim.rng import Streams
from sim.scenario import Scenario
from sim.traces import Trace, TraceError, read_trace

__all__ = ["Kind", "World", "build_world"]


class Kind(IntEnum):
    HUB = 0
    RESIDENT = 1


@dataclass(frozen=True, slots=True, eq=False)
class World:
    """Node kinds and the source of contacts: `mobility` or, for trace replay, `trace`."""

    kinds: NDArray[np.int8]
    mobility: Mobility | None
    trace: Trace | None
    layout: Layout | None

    @property
    def size(self) -> int:
        return len(self.kinds)

    @property
    def hubs(self) -> NDArray[np.int64]:
        return np.flatnonzero(self.kinds == Kind.HUB)

    @property
    def residents(self) -> NDArray[np.int64]:
        return np.flatnonzero(self.kinds == Kind.RESIDENT)

    @property
    def ids(self) -> tuple[str, ...]:
        """Each node's name: its id in a replayed trace, else its index."""
        if self.trace is not None:
            return self.trace.ids
        return tuple(str(i) for i in range(self.size))


def _kinds(hubs: int, residents: int) -> NDArray[np.int8]:
    return np.concatenate([np.full(hubs, Kind.HUB, np.int8),
                           np.full(residents, Kind.RESIDENT, np.int8)])


def _with_isolated(trace: Trace, total: int) -> Trace:
    """`trace` over nodes "0".."total-1" when its ids are such numbers (ONE's host addresses):
    hosts that never met anyone are not in a contact report, yet exist (and may send)."""
    numbers = [int(x) if x.isdigit() else -1 for x in trace.ids]
    if total < trace.size or min(numbers, default=0) < 0 or max(numbers, default=0) >= total:
        raise ScenarioError("population.residents",
                            f"hubs + residents must equal the trace's {trace.size} nodes (or, "
                            "for a trace whose ids are 0, 1, 2, ..., be more than its "
                            "highest id)")
    address = np.array(numbers, dtype=np.int64)
    return Trace(trace.time, address[trace.a], address[trace.b], trace.up,
                 tuple(str(i) for i in range(total)))


def _trace_world(scenario: Scenario) -> World:
    spec, population = scenario.trace, scenario.population
    fmt = None if spec.format == "auto" else spec.format
    try:
        trace = read_trace(Path(spec.file), fmt, strict=spec.strict)
    except OSError as error:
        raise ScenarioError("trace.file", f"cannot read: {error}") from None
    except TraceError as error:
        raise ScenarioError("trace.file", str(error)) from None
    total = population.hubs + population.residents
    if total != trace.size:
        trace = _with_isolated(trace, total)
    if spec.hub_ids:
        missing = sorted(set(spec.hub_ids) - set(trace.ids))
        if missing:
            raise ScenarioError("trace.hub_ids", f"not in the trace: {', '.join(missing)}")
        # Renumber so that hubs come first, as everywhere else.
        hub_set = set(spec.hub_ids)
        order = [i for i, x in enumerate(trace.ids) if x in hub_set] + [
            i for i, x in enumerate(trace.ids) if x not in hub_set]
        new_index = np.empty(trace.size, dtype=np.int64)
        new_index[order] = np.arange(trace.size)
        a, b = new_index[trace.a], new_index[trace.b]
        trace = Trace(trace.time, np.minimum(a, b), np.maximum(a, b), trace.up,
                      tuple(trace.ids[i] for i in order))
    return World(_kinds(population.hubs, population.residents), None, trace, None)


def build_world(scenario: Scenario, streams: Streams) -> World:
    """Kinds and movement (or trace) of every node of `scenario`."""
    population, meta = scenario.population, scenario.scenario
    model = scenario.mobility.model
    if model == "trace":
        return _trace_world(scenario)
    kinds = _kinds(population.hubs, population.residents)
    if model == "random-waypoint":
        params = scenario.random_waypoint
        hubs = streams.generator("layout").uniform(
            (0.0, 0.0), (params.width, params.height), (population.hubs, 2))
        walkers = RandomWaypoint(population.residents, params, streams.generator("mobility"))
        return World(kinds, Composite([Stationary(hubs), walkers]), None, None)
    layout = make_layout(population.residents, population.hubs, scenario.neighbourhood,
                         streams.generator("layout"))
    residents = Neighbourhood(layout, scenario.neighbourhood, streams.generator("mobility"),
                              start_hour=meta.start_hour)
    return World(kinds, Composite([Stationary(layout.hubs.pos), residents]), None, layout)
