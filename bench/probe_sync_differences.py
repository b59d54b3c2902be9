"""What reconciliation does per contact, hour by hour, in the default scenario (issue 17).

Counts, not timings: per simulated hour, the reconciliation sessions started and the items each
side brought to them (the store), the ids each side listed in id lists (the work that grows),
the `Recon` bytes, and what the initiators' differences were made of when their sessions
ended: ids only we hold, ids only the peer holds, and ids both hold in different classes
(§10.2), the last split by our class, our flag for the peer and the peer's flag. Same seed,
same counts.

It measures by wrapping methods of `Node` and `Reconciler` in this process (a measurement
tool, not product code; the wrappers change no result). Its own overhead is about 10 %.

    python bench/probe_sync_differences.py --nodes 1000 --hours 3 > probe.jsonl

`--fade-after S` sets how long flooded items stay class 1 (§10.2 "Class", issue 17) for the
whole run; without it the code's own rule holds (and a tree without fading runs unchanged).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from typing import Any

from meshnode.node import Node
from meshnode.routing.reconcile import Reconciler, offer_of
from sim.bench import scaled
from sim.driver import Simulation
from sim.scenario import bundled

HOUR = 3600.0
COUNTS: Counter[str] = Counter()


def _wrap(cls: type, name: str, before: Any) -> None:
    original = getattr(cls, name)

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        before(self, *args)
        return original(self, *args, **kwargs)
    setattr(cls, name, wrapper)


def _session(_recon: Reconciler, items: Any, **_kw: Any) -> None:
    COUNTS["sessions"] += 1
    COUNTS["session_items"] += len(items)


def _listed(_recon: Reconciler, lo: int, hi: int) -> None:
    COUNTS["listed_items"] += hi - lo


def _recon_frame(_node: Node, _session: Any, frame: Any, *_rest: Any) -> None:
    COUNTS["recon_frames"] += 1
    COUNTS["recon_bytes"] += len(frame.data)


def _difference(node: Node, session: Any, recon: Reconciler, now: int, _out: Any) -> None:
    have, need = recon.have_ids, recon.need_ids
    both = have & need
    flags = recon.peer_flags
    COUNTS["ended_sessions"] += 1
    COUNTS["ours_only"] += len(have - both)
    COUNTS["theirs_only"] += len(need - both)
    COUNTS["class_differs"] += len(both)
    for msg_id in both:
        ours = node._describe(session, msg_id, now)  # measurement only: our flag for the peer
        mine = 1 - (flags[msg_id] >> 2 & 1)  # we hold it in the other class
        COUNTS[f"class_differs: ours class {mine} flag {ours}, theirs flag {flags[msg_id]}"] += 1
    for msg_id in need - both:
        COUNTS[f"theirs_only: offer {offer_of(flags[msg_id])}"] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=3)
    parser.add_argument("--fade-after", type=int, default=None,
                        help="seconds a flooded item stays class 1 (trees with fading only)")
    args = parser.parse_args()
    if args.fade_after is not None:
        from meshnode.routing import forwarding
        forwarding.FADE_AFTER = args.fade_after
    _wrap(Reconciler, "__init__", _session)
    _wrap(Reconciler, "_entries", _listed)
    _wrap(Node, "_on_recon", _recon_frame)
    _wrap(Node, "_act_on_difference", _difference)
    sim = Simulation(scaled(bundled("neighbourhood"), args.nodes, args.hours * HOUR))
    mark = {"hour": 0, "cpu": time.process_time(), "events": 0}

    def close_hour(events: int) -> None:
        stored = sum(node.store.usage().count for node in sim.nodes) / len(sim.nodes)
        cpu = time.process_time()
        row: dict[str, Any] = {"hour": mark["hour"], "events": events - mark["events"],
                               "cpu_s": round(cpu - mark["cpu"], 1),
                               "stored_per_node": round(stored, 1)}
        row.update(sorted(COUNTS.items()))
        print(json.dumps(row), flush=True)
        COUNTS.clear()
        mark.update(hour=mark["hour"] + 1, events=events, cpu=cpu)

    def progress(t: float, events: int) -> None:
        while t >= (mark["hour"] + 1) * HOUR and mark["hour"] < args.hours:
            close_hour(events)

    out = sim.run(progress)
    if mark["hour"] < args.hours:
        close_hour(out.events)
    # What the network delivered, so that a change to sync can be judged against it too.
    latencies = sorted(out.post_latencies)
    print(json.dumps({
        "posts_created": len(out.post_created),
        "post_receptions": sum(out.post_receptions.values()),
        "post_latency_s": {f"p{q}": round(latencies[len(latencies) * q // 100 - 1])
                           for q in (50, 90, 99, 100)} if latencies else None,
        "post_receptions_after_s": {str(s): sum(1 for x in latencies if x > s)
                                    for s in (1800, 3600, 7200)}}), flush=True)


if __name__ == "__main__":
    main()
