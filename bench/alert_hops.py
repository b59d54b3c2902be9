"""Where an alert's spread loses time against the oracle, hop by hop (issue 22).

Runs one seed of a scenario (by default the issue's: `neighbourhood`, 70 simulated minutes,
one alert from hub 0 at 10 minutes) and takes apart every hop the alert made: who handed it
to whom (`Outcome.alert_sender`), when their contact began, when the link that carried it
came up (`Outcome.alert_link_up`) and when the alert arrived. Each hop u -> v is split into

* **not in range**: from u holding the alert until the contact with v began;
* **link wait**: from then until the link came up (discovery, the yield, set-up, a refused
  connection slot; `slot` says whether the pair was ever refused one before);
* **session**: from the link (or u's copy, if the link was already up) until v held it
  (Hellos, what the session sent first, transfer, lost frames).

Then each resident's lateness against the oracle is split into its **own hop** and what it
**inherited**: `E(v)`, the earliest v could have had the alert from any device *as the run
actually reached them*, over the oracle's contacts (quickest set-up), and `E_real(v)` the same
over the realistic bound's contacts (each contact's own drawn discovery and set-up). So, for
the residents the oracle reaches within 30 minutes but the run does not: those whose `E` is
in time lost it on their own last hop (and `E_real` in time: even a realistic radio would have
made it from some holder), the others inherited lateness from their holders.

    python bench/alert_hops.py --seed 2 [--set ble.urgent_rediscover=false] [--save F]
"""

from __future__ import annotations

import argparse
import pickle
import time
from collections import defaultdict
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim import linkmodel
from sim.contacts import Intervals
from sim.driver import Outcome, Simulation
from sim.metrics import realistic_contacts, run_bounds
from sim.overrides import load_scenario

DEFAULTS = ("scenario.duration=70m", 'workload.alerts=[{at="10m", hub=0}]')
MINUTE = 60.0


def one_hop_best(contacts: Intervals, held: NDArray[np.float64], setup: float, delay: float
                 ) -> NDArray[np.float64]:
    """Per device, the earliest it could have received the alert from any device at the time
    that device held it in the run (`held`), over `contacts` (each usable `setup` after it
    began, a hand-over taking `delay`)."""
    best = np.full(contacts.size, np.inf)
    for src, dst in ((contacts.a, contacts.b), (contacts.b, contacts.a)):
        done = np.maximum(held[src], contacts.up + setup) + delay
        ok = np.isfinite(done) & (done <= contacts.down)
        np.minimum.at(best, dst[ok], done[ok])
    return best


def _contact_of(contacts: Intervals) -> dict[tuple[int, int], list[tuple[float, float]]]:
    by_pair: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for a, b, up, down in zip(contacts.a.tolist(), contacts.b.tolist(), contacts.up.tolist(),
                              contacts.down.tolist(), strict=True):
        by_pair[(a, b)].append((up, down))
    return by_pair


def _q(values: list[float]) -> str:
    """Mean and deciles of the finite values, and how many were not (never reached)."""
    finite = [v for v in values if np.isfinite(v)]
    never = f"  never {len(values) - len(finite)}" if len(finite) < len(values) else ""
    if not finite:
        return "n/a" + never
    p = np.percentile(finite, [10, 50, 90])
    return (f"mean {np.mean(finite):7.1f}  p10 {p[0]:6.1f}  p50 {p[1]:6.1f}  p90 {p[2]:7.1f}"
            + never)


def hops(out: Outcome, k: int = 0, window: float = 30 * MINUTE) -> dict[str, list[Any]]:
    """Every hop of alert `k` that arrived within `window` of issue, with its parts."""
    arrival, sender, link_up = out.alert_arrival[k], out.alert_sender[k], out.alert_link_up[k]
    start = out.alert_created[k]
    assert out.contacts is not None
    by_pair = _contact_of(out.contacts)
    rows: dict[str, list[Any]] = defaultdict(list)
    for v in np.flatnonzero(np.isfinite(arrival) & (sender >= 0)).tolist():
        if arrival[v] > start + window:
            continue
        u = int(sender[v])
        held, up, got = float(arrival[u]), float(link_up[v]), float(arrival[v])
        pair = (min(u, v), max(u, v))
        began = max((c for c, d in by_pair[pair] if c <= up + 1e-9), default=up)
        if up <= held:
            kind, range_wait, link_wait, session = "link already up", 0.0, 0.0, got - held
        else:
            kind = "contact began before u held it" if began < held else "contact began later"
            range_wait = max(0.0, began - held)
            link_wait = up - max(held, began)
            session = got - up
        refused = out.slot_refused_at.get(pair)
        rows["kind"].append(kind)
        rows["range"].append(range_wait)
        rows["link"].append(link_wait)
        rows["session"].append(session)
        rows["slot"].append(refused is not None and refused <= up)
        rows["hub"].append(out.kinds[u] == 0)
        rows["v"].append(v)
    return rows


def oracle_tree(contacts: Intervals, oracle: NDArray[np.float64], setup: float, delay: float,
                start: float, window: float) -> dict[str, int]:
    """The oracle's own hops within `window` of issue, by whether the contact that carried
    each was already under way when the sender got the alert (two people standing together:
    the oracle uses it at once, a real radio must first discover the peer)."""
    counts = {"under way": 0, "began later": 0}
    seen = np.zeros(contacts.size, dtype=np.bool_)
    for src, dst in ((contacts.a, contacts.b), (contacts.b, contacts.a)):
        done = np.maximum(oracle[src], contacts.up + setup) + delay
        with np.errstate(invalid="ignore"):  # inf - inf for pairs neither of which it reached
            hit = (np.abs(done - oracle[dst]) < 1e-6) & (oracle[dst] <= start + window)
        hit &= np.isfinite(oracle[src]) & (oracle[src] < oracle[dst])
        for i in np.flatnonzero(hit).tolist():
            v = int(dst[i])
            if seen[v]:
                continue
            seen[v] = True
            key = "under way" if contacts.up[i] < oracle[src[i]] else "began later"
            counts[key] += 1
    return counts


def report(out: Outcome, k: int = 0) -> None:
    bounds = run_bounds(out)
    residents = out.kinds == 1
    start = out.alert_created[k]
    arrival, oracle = out.alert_arrival[k], bounds.alerts[k]
    realistic = bounds.alerts_realistic[k]
    link = out.scenario.ble
    delay = linkmodel.transfer_time(out.alert_bytes, link)
    assert out.contacts is not None
    contacts = out.contacts.until_death(out.died_at)
    best = one_hop_best(contacts, arrival, link.setup_min, delay)
    best_real = one_hop_best(realistic_contacts(out), arrival, 0.0, delay)
    for minutes in (10, 20, 30, 45, 60):
        t = start + minutes * MINUTE
        share = {name: float(np.mean(values[residents] <= t)) for name, values in
                 (("measured", arrival), ("oracle", oracle), ("realistic", realistic),
                  ("E", np.minimum(best, arrival)), ("E_real", np.minimum(best_real, arrival)))}
        late = residents & (oracle <= t) & (arrival > t)
        own = late & (best <= t)
        own_real = own & (best_real <= t)
        print(f"{minutes:3d} min: measured {share['measured']:.3f}  oracle {share['oracle']:.3f}"
              f"  realistic {share['realistic']:.3f} | every last hop at the oracle's speed "
              f"{share['E']:.3f}, at the realistic radio's {share['E_real']:.3f} | late "
              f"{int(late.sum())}: own hop {int(own.sum())} (of which a realistic hop in time "
              f"{int(own_real.sum())}), inherited {int((late & ~own).sum())}")
    tree = oracle_tree(contacts, oracle, link.setup_min, delay, start, 30 * MINUTE)
    print(f"\noracle's hops within 30 min over a contact already under way when the sender got "
          f"it: {tree['under way']}, over one that began later: {tree['began later']}")
    rows = hops(out, k)
    print(f"\nhops within 30 min: {len(rows['v'])}")
    kinds = np.array(rows["kind"])
    for kind in sorted(set(rows["kind"])):
        sel = kinds == kind
        print(f"  {kind}: {int(sel.sum())} hops ({int(np.sum(np.array(rows['slot'])[sel]))} "
              f"after a slot refusal, {int(np.sum(np.array(rows['hub'])[sel]))} from a hub)")
        for part in ("range", "link", "session"):
            values = np.array(rows[part])[sel].tolist()
            print(f"    {part:8s} {_q(values)}")
    late_v = residents & (oracle <= start + 30 * MINUTE) & (arrival > start + 30 * MINUTE)
    own_late = np.flatnonzero(late_v & (best <= start + 30 * MINUTE))
    print(f"\nlate residents at 30 min whose own hop was late: {len(own_late)}; "
          f"their lateness behind E: {_q((arrival[own_late] - best[own_late]).tolist())}")
    print(f"inherited: behind the oracle by {_q((best[late_v] - oracle[late_v]).tolist())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="neighbourhood")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], dest="sets",
                        help="KEY=VALUE, as `meshnode sim run --set`")
    parser.add_argument("--save", help="also pickle the run's Outcome to this file")
    parser.add_argument("--load", help="report on a pickled Outcome instead of running")
    args = parser.parse_args()
    cpu, wall = time.process_time(), time.perf_counter()
    if args.load:
        with open(args.load, "rb") as f:
            out = pickle.load(f)  # a file this script wrote: trusted input
    else:
        settings = (*DEFAULTS, *args.sets, f"scenario.seed={args.seed}")
        scenario = load_scenario(args.scenario, settings)
        out = Simulation(scenario).run()
    if args.save:
        with open(args.save, "wb") as f:
            pickle.dump(out, f)
    print(f"{args.scenario}, seed {args.seed}, {' '.join(args.sets) or 'defaults'}: run "
          f"{time.process_time() - cpu:.0f} s CPU, {time.perf_counter() - wall:.0f} s wall; "
          f"links made {out.links_made}, refused for a slot {out.links_refused_slots}\n")
    report(out)


if __name__ == "__main__":
    main()
