"""The traffic of a scenario as a time-ordered list of send actions, drawn up front.

Alerts come from hubs at fixed times; posts and DMs are Poisson processes over the residents;
attackers (residents chosen at random) flood junk posts from `attacker.start`, each junk post
either from a fresh identity (`FLOOD`, attacker mode "sybil") or under the attacker's own
identity (`SPAM`, mode "single"). Each part draws from its own stream ("workload.posts",
"workload.dms", "workload.attacker"), so enabling one leaves the others unchanged, and the
mode changes only the actions' kind, not their times. A message list (`workload.messages`)
replaces the random DMs with its own, each `Work.ref` its index in the list. The driver turns
each `Work` into a call on the origin's node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
from numpy.typing import NDArray

from sim.rng import Streams
from sim.scenario import WorkloadSpec

__all__ = ["Action", "Work", "attackers", "schedule"]


class Action(Enum):
    ALERT = "alert"
    POST = "post"
    DM = "dm"
    FLOOD = "flood"  # a junk post signed by a fresh identity (Sybil)
    SPAM = "spam"  # a junk post signed by the attacker's own identity


@dataclass(frozen=True, slots=True)
class Work:
    """At `time`, node `origin` sends `size` bytes; `target` is the DM recipient (else -1).

    For alerts `ref` is the index in `workload.alerts`, for a listed DM its index in the
    message list; otherwise -1.
    """

    time: float
    action: Action
    origin: int
    target: int
    size: int
    ref: int = -1


def _poisson_times(rng: np.random.Generator, rate: float, start: float,
                   end: float) -> NDArray[np.float64]:
    """Event times of a Poisson process of `rate` per second on [start, end)."""
    if rate <= 0 or end <= start:
        return np.empty(0)
    count = rng.poisson(rate * (end - start))
    return np.sort(rng.uniform(start, end, count))


def attackers(spec: WorkloadSpec, residents: NDArray[np.int64],
              streams: Streams) -> NDArray[np.int64]:
    """The residents that attack (sorted node indices)."""
    rng = streams.generator("workload.attacker.who")
    return np.sort(rng.choice(residents, size=spec.attacker.count, replace=False))


def schedule(spec: WorkloadSpec, hubs: NDArray[np.int64], residents: NDArray[np.int64],
             duration: float, streams: Streams,
             listed: Sequence[tuple[float, int, int, int]] | None = None) -> list[Work]:
    """All send actions in [0, duration), ordered by time (ties: alerts, posts, DMs, junk).

    `listed`: (time, origin, target, size) of each message of a list, sent as DMs instead of
    the random ones."""
    work: list[Work] = [Work(a.at, Action.ALERT, int(hubs[a.hub]), -1, a.size, i)
                        for i, a in enumerate(spec.alerts) if a.at < duration]
    n = len(residents)
    if n:
        rng = streams.generator("workload.posts")
        times = _poisson_times(rng, n * spec.posts_per_hour / 3600.0, 0.0, duration)
        who = residents[rng.integers(0, n, len(times))]
        work += [Work(t, Action.POST, o, -1, spec.post_size)
                 for t, o in zip(times.tolist(), who.tolist(), strict=True)]
    if listed is not None:
        work += [Work(t, Action.DM, o, d, size, i)
                 for i, (t, o, d, size) in enumerate(listed) if t < duration]
    elif n > 1:
        rng = streams.generator("workload.dms")
        times = _poisson_times(rng, n * spec.dms_per_day / 86_400.0, 0.0, duration)
        src = rng.integers(0, n, len(times))
        dst = (src + 1 + rng.integers(0, n - 1, len(times))) % n  # anyone but the sender
        work += [Work(t, Action.DM, o, d, spec.dm_size) for t, o, d in
                 zip(times.tolist(), residents[src].tolist(), residents[dst].tolist(),
                     strict=True)]
    bad = attackers(spec, residents, streams)
    if len(bad):
        rng = streams.generator("workload.attacker")
        times = _poisson_times(rng, len(bad) * spec.attacker.rate / 3600.0,
                               spec.attacker.start, duration)
        who = bad[rng.integers(0, len(bad), len(times))]
        junk = Action.SPAM if spec.attacker.mode == "single" else Action.FLOOD
        work += [Work(t, junk, o, -1, spec.post_size)
                 for t, o in zip(times.tolist(), who.tolist(), strict=True)]
    order = {Action.ALERT: 0, Action.POST: 1, Action.DM: 2, Action.FLOOD: 3, Action.SPAM: 3}
    work.sort(key=lambda w: (w.time, order[w.action]))
    return work
