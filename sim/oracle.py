"""The oracle bound: the earliest any routing could deliver, over a given contact trace.

`earliest_arrival` computes foremost journeys (Bui-Xuan, Ferreira and Jarry 2003) from one
source that holds the message at `start`: a node can pass it on over a contact [up, down]
with a peer once it holds it and the link is set up (`setup` seconds after the contact began,
paid once per contact: a link already up carries the next message at once), taking `delay`
seconds (the transfer of one message), finishing before the contact ends. Nodes may store
and carry until the message's `deadline` (its expiry: real nodes drop an expired message and
refuse it), by which every handover must be complete. The search is Dijkstra's algorithm over
nodes with time-dependent edges; it is exact because handing over later never arrives earlier
(FIFO), and relaxes all contacts of a settled node at once in numpy: O(C + N log N) heap work
for C contacts. Build an `Adjacency` once and pass it for many sources: the per-node contact
lists are the same for every source.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
from numpy.typing import NDArray

from sim.contacts import Intervals

__all__ = ["Adjacency", "coverage_curve", "earliest_arrival"]

FloatArray = NDArray[np.float64]


class Adjacency:
    """Per-node contact lists of `contacts` (both directions) in CSR layout: node i's contacts
    are `up`, `down`, `peer` [offsets[i]:offsets[i + 1]]. Read-only once built."""

    __slots__ = ("down", "offsets", "peer", "size", "up")

    def __init__(self, contacts: Intervals) -> None:
        owner = np.concatenate([contacts.a, contacts.b])
        order = np.argsort(owner, kind="stable")
        self.size = contacts.size
        self.peer = np.concatenate([contacts.b, contacts.a])[order]
        self.up = np.concatenate([contacts.up, contacts.up])[order]
        self.down = np.concatenate([contacts.down, contacts.down])[order]
        self.offsets = np.zeros(contacts.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(owner, minlength=contacts.size), out=self.offsets[1:])


def earliest_arrival(contacts: Intervals | Adjacency, source: int, start: float,
                     delay: float = 0.0, deadline: float = math.inf, *,
                     setup: float = 0.0, target: int | None = None) -> FloatArray:
    """Earliest time each node can hold a message that `source` holds at `start`.

    A handover over contact [up, down] starting at time s >= max(held, up + setup) completes
    at s + delay and must complete by `down` and by `deadline`. Unreachable nodes get +inf; the
    source gets `start`. Exact for any contact order; contacts may overlap.

    With a `target`, the search stops once the target's time is final (Dijkstra settles nodes
    in order of arrival, so nothing found later can improve it): only the target's and the
    source's entries are then exact, others may be later than their earliest or +inf. A DM
    needs only its recipient's time, and most searches end well before the whole city.
    """
    graph = contacts if isinstance(contacts, Adjacency) else Adjacency(contacts)
    n = graph.size
    if not 0 <= source < n:
        raise ValueError("source is not a node of the trace")
    if not (math.isfinite(start) and math.isfinite(delay) and delay >= 0):
        raise ValueError("start must be finite and delay finite and >= 0")
    if not (math.isfinite(setup) and setup >= 0):
        raise ValueError("setup must be finite and >= 0")
    if math.isnan(deadline):
        raise ValueError("deadline must be a time or +inf")
    if target is not None and not 0 <= target < n:
        raise ValueError("target is not a node of the trace")
    offsets, up, down, peer = graph.offsets, graph.up, graph.down, graph.peer
    arrival = np.full(n, math.inf)
    arrival[source] = start
    settled = np.zeros(n, dtype=np.bool_)
    heap: list[tuple[float, int]] = [(start, source)]
    while heap:
        held, node = heapq.heappop(heap)
        if settled[node]:
            continue
        settled[node] = True
        if node == target:
            break
        lo, hi = offsets[node], offsets[node + 1]
        if lo == hi:
            continue
        done = np.maximum(up[lo:hi] + setup, held) + delay
        usable = done <= np.minimum(down[lo:hi], deadline)
        if not usable.any():
            continue
        peers = peer[lo:hi][usable]
        done = done[usable]
        better = done < arrival[peers]
        for reached, when in zip(peers[better].tolist(), done[better].tolist(), strict=True):
            if when < arrival[reached]:  # a node may appear twice in one batch
                arrival[reached] = when
                heapq.heappush(heap, (when, reached))
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
