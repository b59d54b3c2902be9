"""From a run's `Outcome` to the figures a researcher reads, each beside its oracle bound.

The oracle is the earliest arrival over the run's own contacts (`sim.oracle`), cut where a
phone's battery died, each contact usable from the quickest link set-up on (`link_setup`: none
in trace replay, where a replayed link is up at the trace's own time) and each hop costing the
transfer of that message, and every hop done before the message expires: no routing could do
better over the same encounters, so every delivery figure is also reported as a ratio to it.
Because it is a bound, a node reached before the oracle's earliest time is a simulator bug:
`summarise` checks that for every alert and every sampled DM and raises `BoundViolation`.

Beside it stands a **realistic bound** (`realistic_contacts`): the same earliest arrival over
the same contacts, but each contact usable only after its own discovery and connection set-up,
drawn from the link model (`sim.linkmodel`: each device's scan settings, hubs' continuous scan
included, failed attempts and back-off), instead of the quickest set-up. The gap between the
oracle and the realistic bound is what the radio costs; the gap between the realistic bound
and the measured figure is what routing can still close. It is a reference, not a bound: the
draws are not the run's own and urgent phones discover faster, so a run can beat it; it is
not checked.

DMs are checked against the oracle on a random sample (`DM_SAMPLE`, drawn from the run's seed);
the sample's figures come with 95 % Wilson intervals, and measured and bound are compared on
the same sampled DMs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from meshnode.crypto.sealing import DEFAULT_DM_TTL
from sim import linkmodel
from sim.contacts import Intervals
from sim.driver import Outcome
from sim.oracle import Adjacency, coverage_curve, earliest_arrival
from sim.rng import Streams

__all__ = ["COVERAGE_MARKS", "DM_SAMPLE", "BoundViolation", "Bounds", "coverage_series",
           "link_setup", "message_stats", "realistic_contacts", "run_bounds", "summarise",
           "wilson"]

COVERAGE_MARKS = (600.0, 1_800.0, 3_600.0, 7_200.0)  # 10, 30, 60, 120 minutes
# DMs checked against the oracle: 385 is the smallest sample whose 95 % Wilson interval is at
# most ±5 percentage points wide whatever the true ratio (worst case 0.5: 1.96² / (4 · 0.05²)).
DM_SAMPLE = 385
_Z95 = 1.959963984540054
# Arrivals earlier than the bound by more than this are a bug, not float rounding (times are
# seconds up to days; doubles keep ~1e-11 s there).
_SLACK = 1e-6


class BoundViolation(RuntimeError):
    """A node was reached before the oracle's earliest possible time: the simulator moved a
    message faster than its own link model allows (a bug, never a result)."""


def wilson(successes: int, trials: int) -> tuple[float, float] | None:
    """The 95 % Wilson score interval of a proportion (None for no trials)."""
    if trials == 0:
        return None
    p = successes / trials
    z2 = _Z95 * _Z95
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = _Z95 * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def link_setup(out: Outcome) -> float:
    """The least time from a contact's start until its link carries data: none in trace
    replay (a replayed link is up at the trace's own time), else the quickest set-up. Paid
    once per contact, not per message: a link that is up carries the next message at once."""
    if out.scenario.mobility.model == "trace":
        return 0.0
    return out.scenario.ble.setup_min


_REALISTIC_SEED = 22  # with the run's seed: every summary of the same run draws the same delays


def realistic_contacts(out: Outcome) -> Intervals:
    """The run's contacts (cut at battery deaths, as the oracle's), each starting only when
    its link would carry data: after a discovery delay and a connection set-up drawn from
    the link model for its two devices (hubs at their own scan settings, phones at the
    ordinary, non-urgent ones; the lower advert token connects at once, as in the driver).
    Contacts over before their link is up are dropped. Drawn from a fixed seed and the run's
    seed, so repeated summaries agree. In trace replay the contacts are the oracle's."""
    contacts = _oracle_contacts(out)
    if out.scenario.mobility.model == "trace" or not len(contacts):
        return contacts
    link = out.scenario.ble
    hub = out.kinds == 0
    rng = np.random.default_rng([_REALISTIC_SEED, out.scenario.scenario.seed])
    up = contacts.up + linkmodel.link_up_delay(rng, link, out.tokens, hub, contacts.a, contacts.b)
    keep = up < contacts.down  # an infinite delay (never connected) is dropped too
    return Intervals(up[keep], contacts.down[keep], contacts.a[keep], contacts.b[keep],
                     contacts.size)


def _oracle(out: Outcome, adjacency: Adjacency, source: int, start: float, nbytes: int,
            deadline: float, target: int | None = None, *,
            realistic: bool = False) -> NDArray[np.float64]:
    """Earliest arrivals over `adjacency`: the oracle's contacts with the link's quickest
    set-up, or (`realistic`) `realistic_contacts`, whose set-up is already in their start.
    With a `target`, the search may stop once the target's arrival is known (other entries
    are then only upper bounds)."""
    return earliest_arrival(adjacency, source, start,
                            linkmodel.transfer_time(nbytes, out.scenario.ble), deadline,
                            setup=0.0 if realistic else link_setup(out), target=target)


def _check_bound(measured: NDArray[np.float64], bound: NDArray[np.float64], what: str) -> None:
    early = np.flatnonzero(measured < bound - _SLACK)
    if len(early):
        node = int(early[0])
        raise BoundViolation(
            f"{what}: node {node} was reached at {measured[node]:.6f} s, before the oracle's "
            f"earliest possible {bound[node]:.6f} s ({len(early)} node(s) in all); the oracle "
            "is an upper bound, so this is a simulator bug")


def _oracle_contacts(out: Outcome) -> Intervals:
    assert out.contacts is not None
    if not out.died_at.size:
        return out.contacts
    return out.contacts.until_death(out.died_at)


def _percentiles(values: NDArray[np.float64] | Sequence[float]) -> dict[str, float | None]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {"p50": None, "p90": None, "p99": None}
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99)}


def _time_to(share: float, arrival: NDArray[np.float64], start: float) -> float | None:
    """Seconds after `start` until `share` of the entries have arrived (None if never)."""
    finite = np.sort(arrival[np.isfinite(arrival)])
    need = math.ceil(share * len(arrival))
    if need == 0 or len(finite) < need:
        return None
    return float(finite[need - 1] - start)


def _ratio(value: float | None, bound: float | None) -> float | None:
    if value is None or bound is None or bound == 0:
        return None
    return value / bound


@dataclass(frozen=True, slots=True)
class Bounds:
    """A run's oracle and realistic bound, computed once (`run_bounds`) and shared by
    `summarise` and `coverage_series`: the two contact graphs, and per alert every device's
    earliest arrival over each (`inf`: never reached)."""

    adjacency: Adjacency  # the oracle's contacts
    reachable: Adjacency  # `realistic_contacts`
    alerts: tuple[NDArray[np.float64], ...]
    alerts_realistic: tuple[NDArray[np.float64], ...]


def run_bounds(out: Outcome) -> Bounds:
    """Build both contact graphs and search every alert over each, once per run."""
    adjacency = Adjacency(_oracle_contacts(out))
    reachable = Adjacency(realistic_contacts(out))
    oracle, realistic = [], []
    for k in range(len(out.alert_arrival)):
        search = (out.alert_origin[k], out.alert_created[k], out.alert_bytes,
                  out.alert_expires[k])
        oracle.append(_oracle(out, adjacency, *search))
        realistic.append(_oracle(out, reachable, *search, realistic=True))
    return Bounds(adjacency, reachable, tuple(oracle), tuple(realistic))


def coverage_series(out: Outcome, times: NDArray[np.float64],
                    bounds: Bounds | None = None) -> dict[str, list[float]]:
    """Alert coverage among residents over `times` (seconds): measured, oracle and realistic
    bound (`bounds`: the run's, if already computed)."""
    bounds = bounds or run_bounds(out)
    residents = out.kinds == 1
    series: dict[str, list[float]] = {"t": times.tolist()}
    for k, arrival in enumerate(out.alert_arrival):
        series[f"alert{k}"] = coverage_curve(arrival, times, residents).tolist()
        series[f"alert{k}_oracle"] = coverage_curve(bounds.alerts[k], times, residents).tolist()
        series[f"alert{k}_realistic"] = coverage_curve(bounds.alerts_realistic[k], times,
                                                       residents).tolist()
    return series


def _mean(values: list[float] | list[int]) -> float | None:
    return float(np.mean(values)) if values else None


def _one_median(values: list[float] | list[int]) -> float | None:
    """The median as ONE's reports compute it: the sorted values' element n // 2 (the upper
    middle one of an even count)."""
    return float(sorted(values)[len(values) // 2]) if values else None


def message_stats(out: Outcome) -> dict[str, Any] | None:
    """The figures of The ONE's MessageStatsReport for a message list's DMs (None without a
    list), to compare line by line with ONE's report of the same scenario.

    `created`: listed messages sent (a dead phone sends nothing); `delivered`: those opened
    by their recipient; `relayed`: completed hand-overs of their copies that left the
    receiver, the recipient included, with a copy it did not hold (ONE's "relayed": ONE
    never starts a transfer of a message its receiver holds or has been delivered);
    `duplicates` (not in ONE's report): the other completed hand-overs, to a device that held
    the DM or refused it (purged on its receipt, no room), a cost ONE's count has no line
    for; `overhead_ratio` = (relayed − delivered) / delivered; `latency_*`: delivery time −
    creation time (s), medians taken as ONE takes them (the upper middle value of an even
    count); `hopcount_*`: the links the recipient's first copy crossed (1: straight from the
    sender), from the driver's own record of who handed each copy to whom. Receipts
    (meshnode's delivery acknowledgements, which ONE does not have) are not counted here:
    they are in meshnode's own overhead figures."""
    if not out.listed_ids:
        return None
    created = len(out.listed_dm)
    delivered = [i for i in out.listed_dm if i in out.dm_delivered]
    latencies = [out.dm_delivered[i] - out.dm_created[i][0] for i in delivered]
    hops = [out.dm_hops[i] for i in delivered if i in out.dm_hops]
    return {
        "listed": len(out.listed_ids), "created": created, "delivered": len(delivered),
        "relayed": out.listed_relayed, "duplicates": out.listed_duplicates,
        "oversize": out.listed_oversize,
        "delivery_prob": len(delivered) / created if created else 0.0,
        "overhead_ratio": (out.listed_relayed - len(delivered)) / len(delivered)
        if delivered else None,
        "latency_avg": _mean(latencies), "latency_med": _one_median(latencies),
        "hopcount_avg": _mean(hops), "hopcount_med": _one_median(hops),
    }


def _urgent_energy(out: Outcome, residents: NDArray[np.bool_]) -> dict[str, float]:
    """The battery cost of urgent dissemination: how many phones went urgent, for how long,
    and the extra energy that took (mean over those phones, and as a share of a full
    battery)."""
    if not out.urgent_seconds.size or not residents.any():
        return {"urgent_phones": 0.0, "urgent_minutes_mean": 0.0, "urgent_wh_mean": 0.0,
                "urgent_battery_share": 0.0}
    seconds = out.urgent_seconds[residents]
    went = seconds > 0
    wh = float(out.urgent_energy[residents][went].mean()) if went.any() else 0.0
    return {"urgent_phones": float(went.sum()),
            "urgent_minutes_mean": float(seconds[went].mean() / 60.0) if went.any() else 0.0,
            "urgent_wh_mean": wh,
            "urgent_battery_share": wh / out.scenario.battery.capacity}


def _dm_costs(out: Outcome) -> dict[str, float | int | None]:
    """What the DMs cost the mesh: relay copies (nodes other than sender and recipient that
    stored a copy at some time; each node once per DM) and the on-air bytes of the Msg frames
    that carried DM copies, in all and per delivered DM (None when none was delivered)."""
    copies = sum(len(holders) for holders in out.dm_holders.values())
    delivered = len(out.dm_delivered)
    return {"relay_copies": copies,
            "relay_copies_per_delivered": copies / delivered if delivered else None,
            "bytes_on_air": out.dm_bytes_on_air,
            "bytes_on_air_per_delivered": out.dm_bytes_on_air / delivered if delivered else None}


def _dm_sample(out: Outcome) -> list[bytes]:
    """Up to DM_SAMPLE DMs drawn at random (seeded by the run's seed), in creation order."""
    ids = sorted(out.dm_created, key=lambda i: (out.dm_created[i], i))
    if len(ids) <= DM_SAMPLE:
        return ids
    rng = Streams(out.scenario.scenario.seed).generator("oracle.dm_sample")
    picked = np.sort(rng.choice(len(ids), size=DM_SAMPLE, replace=False))
    return [ids[i] for i in picked.tolist()]


def summarise(out: Outcome, wall_seconds: float, cpu_seconds: float | None = None,
              bounds: Bounds | None = None) -> dict[str, Any]:
    """The results of one run as plain JSON-able data (`cpu_seconds`: the process's CPU time
    for it, which a loaded machine changes far less than the wall time; `bounds`: the run's
    oracle and realistic bound, if already computed)."""
    scenario = out.scenario
    residents = out.kinds == 1
    n = len(out.kinds)
    assert out.contacts is not None
    contacts = out.contacts
    bounds = bounds or run_bounds(out)
    adjacency, reachable = bounds.adjacency, bounds.reachable

    alerts = []
    alert_receptions = 0
    for k, arrival in enumerate(out.alert_arrival):
        start = out.alert_created[k]
        oracle = bounds.alerts[k]
        _check_bound(arrival, oracle, f"alert {k}")
        real = bounds.alerts_realistic[k][residents]
        res, ora = arrival[residents], oracle[residents]
        alert_receptions += int(np.isfinite(arrival).sum()) - 1
        marks: dict[str, dict[str, float | None]] = {}
        for mark in COVERAGE_MARKS:
            if start + mark > scenario.scenario.duration:
                # The run ended before this mark: no figure, rather than a misleading 0.
                marks[f"{int(mark // 60)}min"] = {"coverage": None, "oracle": None,
                                                 "ratio": None, "realistic": None,
                                                 "ratio_realistic": None}
                continue
            measured = float(np.mean(res <= start + mark)) if res.size else 0.0
            bound = float(np.mean(ora <= start + mark)) if ora.size else 0.0
            reference = float(np.mean(real <= start + mark)) if real.size else 0.0
            marks[f"{int(mark // 60)}min"] = {"coverage": measured, "oracle": bound,
                                             "ratio": _ratio(measured, bound),
                                             "realistic": reference,
                                             "ratio_realistic": _ratio(measured, reference)}
        final = float(np.mean(np.isfinite(res))) if res.size else 0.0
        final_oracle = float(np.mean(np.isfinite(ora))) if ora.size else 0.0
        alerts.append({
            "created": start, "origin": out.alert_origin[k], "bytes": out.alert_bytes,
            "coverage": marks,
            "final_coverage": final, "final_oracle": final_oracle,
            # Phones with a flat battery cannot be reached by any routing: read coverage late
            # in a long outage against this.
            "alive_at_issue": float(np.mean(out.died_at[residents] > start))
            if out.died_at.size and res.size else 1.0,
            "final_ratio": _ratio(final, final_oracle),
            "time_to_50": _time_to(0.5, res, start), "time_to_90": _time_to(0.9, res, start),
            "oracle_time_to_90": _time_to(0.9, ora, start),
            "realistic_time_to_90": _time_to(0.9, real, start),
            "latency": _percentiles((res[np.isfinite(res)] - start).tolist()),
        })

    posts_made = len(out.post_created)
    receptions = sum(out.post_receptions.values())
    post_ratio = receptions / (posts_made * (n - 1)) if posts_made and n > 1 else None

    dms_made = len(out.dm_created)
    delivered = len(out.dm_delivered)
    dm_latency = [out.dm_delivered[i] - out.dm_created[i][0] for i in out.dm_delivered]
    end = scenario.scenario.duration
    sample = _dm_sample(out)
    oracle_ok = realistic_ok = sampled_delivered = 0
    oracle_latency: list[float] = []
    for msg_id in sample:
        created, origin, target = out.dm_created[msg_id]
        # Only the recipient's time within the run matters (nothing measured can arrive
        # after the end), so the searches stop at the recipient or at the run's end.
        nbytes = out.dm_bytes.get(msg_id, 0)
        deadline = min(created + DEFAULT_DM_TTL, end)
        reach = _oracle(out, adjacency, origin, created, nbytes, deadline, target)
        delivered_at = out.dm_delivered.get(msg_id, math.inf)
        _check_bound(np.array([delivered_at]), reach[target:target + 1],
                     f"DM {msg_id.hex()} from node {origin} to node {target}")
        oracle_ok += bool(reach[target] <= end)
        if reach[target] <= end:
            oracle_latency.append(float(reach[target]) - created)
            realistic_reach = _oracle(out, reachable, origin, created, nbytes, deadline, target,
                                      realistic=True)
            realistic_ok += bool(realistic_reach[target] <= end)
        sampled_delivered += msg_id in out.dm_delivered
    dm_ratio = delivered / dms_made if dms_made else None
    # What a resident sees of their own DMs: carried (a copy handed to someone) and delivered
    # (the recipient's signed receipt came back).
    carried = sum(1 for i in out.dm_created if i in out.dm_carried)
    acknowledged = sum(1 for i in out.dm_created if i in out.dm_acknowledged)
    ack_latency = [out.dm_acknowledged[i] - out.dm_created[i][0]
                   for i in out.dm_created if i in out.dm_acknowledged]
    dm_oracle = oracle_ok / len(sample) if sample else None
    dm_measured_sample = sampled_delivered / len(sample) if sample else None

    deliveries = receptions + delivered + alert_receptions
    samples = out.samples
    store_mean = [s.store_mean_bytes for s in samples]
    residents_energy = out.energy[residents] if residents.any() else np.zeros(0)
    died = out.died_at[residents] if residents.any() else np.zeros(0)
    return {
        "scenario": scenario.scenario.name,
        "seed": scenario.scenario.seed,
        "nodes": n,
        "residents": int(residents.sum()),
        "hubs": int((out.kinds == 0).sum()),
        "duration_s": end,
        "alerts": alerts,
        "posts": {"created": posts_made, "receptions": receptions,
                  "delivery_ratio": post_ratio, "latency": _percentiles(out.post_latencies)},
        "dms": {"created": dms_made, "delivered": delivered, "delivery_ratio": dm_ratio,
                "latency": _percentiles(dm_latency),
                "oracle_sample": len(sample), "oracle_delivery_ratio": dm_oracle,
                "oracle_ci95": wilson(oracle_ok, len(sample)),
                "oracle_latency": _percentiles(oracle_latency),
                "realistic_delivery_ratio": realistic_ok / len(sample) if sample else None,
                "ratio_to_realistic": _ratio(dm_measured_sample,
                                             realistic_ok / len(sample) if sample else None),
                "measured_in_sample": dm_measured_sample,
                "measured_in_sample_ci95": wilson(sampled_delivered, len(sample)),
                "ratio_to_oracle": _ratio(dm_measured_sample, dm_oracle),
                **_dm_costs(out),
                "sender_sees": {
                    "carried": carried,
                    "carried_ratio": carried / dms_made if dms_made else None,
                    "acknowledged": acknowledged,
                    "acknowledged_ratio": acknowledged / dms_made if dms_made else None,
                    "acknowledgement_latency": _percentiles(ack_latency)}},
        "message_list": message_stats(out),
        "attack": {"attackers": len(out.attackers), "flood_posts": out.flood_posts},
        "overhead": {
            "frames": out.frames, "message_frames": out.msg_frames,
            "bytes_on_air": out.bytes_on_air, "frames_lost": out.frames_lost,
            "deliveries": deliveries,
            "transmissions_per_delivery": out.msg_frames / deliveries if deliveries else None,
            "bytes_per_delivery": out.bytes_on_air / deliveries if deliveries else None,
        },
        "links": {"made": out.links_made, "refused_no_slot": out.links_refused_slots,
                  "evicted": out.links_evicted, "contacts": len(contacts)},
        "buffer": {"mean_bytes": float(np.mean(store_mean)) if store_mean else 0.0,
                   "max_bytes": max((s.store_max_bytes for s in samples), default=0.0),
                   "capacity_bytes": scenario.routing.store_bytes},
        "energy": {"mean_wh_per_phone": float(residents_energy.mean())
                   if residents_energy.size else 0.0,
                   "phones_dead_share": float(np.mean(np.isfinite(died))) if died.size else 0.0,
                   **_urgent_energy(out, residents)},
        "run": {"events": out.events, "wall_seconds": wall_seconds, "cpu_seconds": cpu_seconds,
                "events_per_second": out.events / wall_seconds if wall_seconds else None,
                "simulated_per_wall_second": end / wall_seconds if wall_seconds else None,
                "signature_memo_hits": out.signature_memo_hits},
    }
