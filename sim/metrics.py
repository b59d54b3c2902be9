"""From a run's `Outcome` to the figures a researcher reads, each beside its oracle bound.

The oracle is the earliest arrival over the run's own contacts (`sim.oracle`), with each hop
costing the best-case delay of the message's size, and every hop done before the message
expires: no routing could do better over the same encounters, so every delivery figure is also
reported as a ratio to it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from meshnode.crypto.sealing import DEFAULT_DM_TTL
from sim import linkmodel
from sim.driver import Outcome
from sim.oracle import coverage_curve, earliest_arrival

__all__ = ["COVERAGE_MARKS", "coverage_series", "summarise"]

COVERAGE_MARKS = (600.0, 1_800.0, 3_600.0, 7_200.0)  # 10, 30, 60, 120 minutes
MAX_ORACLE_DMS = 300


def _percentiles(values: NDArray[np.float64] | list[float]) -> dict[str, float | None]:
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


def coverage_series(out: Outcome, times: NDArray[np.float64]) -> dict[str, list[float]]:
    """Alert coverage among residents over `times` (seconds), measured and oracle."""
    residents = out.kinds == 1
    series: dict[str, list[float]] = {"t": times.tolist()}
    assert out.contacts is not None
    delay = linkmodel.best_case_delay(out.alert_bytes, out.scenario.ble)
    for k, arrival in enumerate(out.alert_arrival):
        oracle = earliest_arrival(out.contacts, out.alert_origin[k], out.alert_created[k], delay,
                                  out.alert_expires[k])
        series[f"alert{k}"] = coverage_curve(arrival, times, residents).tolist()
        series[f"alert{k}_oracle"] = coverage_curve(oracle, times, residents).tolist()
    return series


def summarise(out: Outcome, wall_seconds: float,
              cpu_seconds: float | None = None) -> dict[str, Any]:
    """The results of one run as plain JSON-able data (`cpu_seconds`: the process's CPU time
    for it, which a loaded machine changes far less than the wall time)."""
    scenario = out.scenario
    link = scenario.ble
    residents = out.kinds == 1
    n = len(out.kinds)
    assert out.contacts is not None
    contacts = out.contacts

    alerts = []
    delay = linkmodel.best_case_delay(out.alert_bytes, link)
    alert_receptions = 0
    for k, arrival in enumerate(out.alert_arrival):
        start = out.alert_created[k]
        oracle = earliest_arrival(contacts, out.alert_origin[k], start, delay,
                                  out.alert_expires[k])
        res, ora = arrival[residents], oracle[residents]
        alert_receptions += int(np.isfinite(arrival).sum()) - 1
        marks = {}
        for mark in COVERAGE_MARKS:
            if start + mark > scenario.scenario.duration:
                # The run ended before this mark: no figure, rather than a misleading 0.
                marks[f"{int(mark // 60)}min"] = {"coverage": None, "oracle": None,
                                                 "ratio": None}
                continue
            measured = float(np.mean(res <= start + mark)) if res.size else 0.0
            bound = float(np.mean(ora <= start + mark)) if ora.size else 0.0
            marks[f"{int(mark // 60)}min"] = {"coverage": measured, "oracle": bound,
                                             "ratio": _ratio(measured, bound)}
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
            "latency": _percentiles((res[np.isfinite(res)] - start).tolist()),
        })

    posts_made = len(out.post_created)
    receptions = sum(out.post_receptions.values())
    post_ratio = receptions / (posts_made * (n - 1)) if posts_made and n > 1 else None

    dms_made = len(out.dm_created)
    delivered = len(out.dm_delivered)
    dm_latency = [out.dm_delivered[i] - out.dm_created[i][0] for i in out.dm_delivered]
    oracle_ok = 0
    sample = sorted(out.dm_created.items(), key=lambda kv: kv[1])[:MAX_ORACLE_DMS]
    dm_size = scenario.workload.dm_size
    dm_delay = linkmodel.best_case_delay(dm_size, link)
    end = scenario.scenario.duration
    sampled_delivered = 0
    for msg_id, (created, origin, target) in sample:
        arrival = earliest_arrival(contacts, origin, created, dm_delay, created + DEFAULT_DM_TTL)
        oracle_ok += bool(arrival[target] <= end)
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
                "measured_in_sample": dm_measured_sample,
                "ratio_to_oracle": _ratio(dm_measured_sample, dm_oracle),
                "sender_sees": {
                    "carried": carried,
                    "carried_ratio": carried / dms_made if dms_made else None,
                    "acknowledged": acknowledged,
                    "acknowledged_ratio": acknowledged / dms_made if dms_made else None,
                    "acknowledgement_latency": _percentiles(ack_latency)}},
        "attack": {"attackers": len(out.attackers), "flood_posts": out.flood_posts},
        "overhead": {
            "frames": out.frames, "message_frames": out.msg_frames,
            "bytes_on_air": out.bytes_on_air, "frames_lost": out.frames_lost,
            "deliveries": deliveries,
            "transmissions_per_delivery": out.msg_frames / deliveries if deliveries else None,
            "bytes_per_delivery": out.bytes_on_air / deliveries if deliveries else None,
        },
        "links": {"made": out.links_made, "refused_no_slot": out.links_refused_slots,
                  "contacts": len(contacts)},
        "buffer": {"mean_bytes": float(np.mean(store_mean)) if store_mean else 0.0,
                   "max_bytes": max((s.store_max_bytes for s in samples), default=0.0),
                   "capacity_bytes": scenario.routing.store_bytes},
        "energy": {"mean_wh_per_phone": float(residents_energy.mean())
                   if residents_energy.size else 0.0,
                   "phones_dead_share": float(np.mean(np.isfinite(died))) if died.size else 0.0},
        "run": {"events": out.events, "wall_seconds": wall_seconds, "cpu_seconds": cpu_seconds,
                "events_per_second": out.events / wall_seconds if wall_seconds else None,
                "simulated_per_wall_second": end / wall_seconds if wall_seconds else None,
                "signature_memo_hits": out.signature_memo_hits},
    }
