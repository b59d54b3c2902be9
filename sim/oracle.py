"""The oracle bound: the earliest any routing could deliver, over a given contact trace.

`earliest_arrival` computes foremost journeys (Bui-Xuan, Ferreira and Jarry 2003) from one
source that holds the message at `start`: a node can pass it on over a contact [up, down]
with a peer once it holds it, taking `delay` seconds (e.g. connection setup plus transfer of
one message, `linkmodel.best_case_delay`), finishing before the contact ends. Nodes may store
and carry until the message's `deadline` (its expiry: real nodes drop an expired message and
refuse it), by which every handover must be complete. The search is Dijkstra's algorithm over
nodes with time-dependent edges; it is exact because handing over later never arrives earlier
(FIFO), and relaxes all contacts of a settled node at once in numpy: O(C + N log N) heap work
for C contacts.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
from numpy.typing import NDArray

from sim.contacts import Intervals

__all__ = ["coverage_curve", "earliest_arrival"]

FloatArray = NDArray[np.float64]


def _adjacency(contacts: Intervals) -> tuple[NDArray[np.int64], FloatArray, FloatArray,
                                              NDArray[np.int64]]:
    """Per-node contact lists (both directions): offsets, up, down, peer; CSR layout."""
    owner = np.concatenate([contacts.a, contacts.b])
    peer = np.concatenate([contacts.b, contacts.a])
    up = np.concatenate([contacts.up, contacts.up])
    down = np.concatenate([contacts.down, contacts.down])
    order = np.argsort(owner, kind="stable")
    offsets = np.zeros(contacts.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=contacts.size), out=offsets[1:])
    return offsets, up[order], down[order], peer[order]


def earliest_arrival(contacts: Intervals, source: int, start: float,
                     delay: float = 0.0, deadline: float = math.inf) -> FloatArray:
    """Earliest time each node can hold a message that `source` holds at `start`.

    A handover over contact [up, down] starting at time s >= max(held, up) completes at
    s + delay and must complete by `down` and by `deadline`. Unreachable nodes get +inf; the
    source gets `start`. Exact for any contact order; contacts may overlap.
    """
    n = contacts.size
    if not 0 <= source < n:
        raise ValueError("source is not a node of the trace")
    if not (math.isfinite(start) and math.isfinite(delay) and delay >= 0):
        raise ValueError("start must be finite and delay finite and >= 0")
    if math.isnan(deadline):
        raise ValueError("deadline must be a time or +inf")
    offsets, up, down, peer = _adjacency(contacts)
    arrival = np.full(n, math.inf)
    arrival[source] = start
    settled = np.zeros(n, dtype=np.bool_)
    heap: list[tuple[float, int]] = [(start, source)]
    while heap:
        held, node = heapq.heappop(heap)
        if settled[node]:
            continue
        settled[node] = True
        lo, hi = offsets[node], offsets[node + 1]
        if lo == hi:
            continue
        done = np.maximum(up[lo:hi], held) + delay
        usable = done <= np.minimum(down[lo:hi], deadline)
        if not usable.any():
            continue
        peers = peer[lo:hi][usable]
        done = done[usable]
        better = done < arrival[peers]
        for target, when in zip(peers[better].tolist(), done[better].tolist(), strict=True):
            if when < arrival[target]:  # a node may appear twice in one batch
                arrival[target] = when
                heapq.heappush(heap, (when, target))
    return arrival


def coverage_curve(arrival: FloatArray, times: FloatArray,
                   among: NDArray[np.bool_] | None = None) -> FloatArray:
    """Share of nodes (optionally only those in `among`) with arrival <= t, for each t.

    Non-decreasing in t whenever `times` is; 0 for an empty selection.
    """
    values = np.asarray(arrival, dtype=np.float64)
    if among is not None:
        values = values[np.asarray(among, dtype=np.bool_)]
    if values.size == 0:
        return np.zeros(np.shape(times))
    ordered = np.sort(values)
    reached = np.searchsorted(ordered, np.asarray(times, dtype=np.float64), side="right")
    return np.asarray(reached / values.size, dtype=np.float64)
