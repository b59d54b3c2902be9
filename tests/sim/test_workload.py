from __future__ import annotations

import dataclasses

import numpy as np

from sim.rng import Streams
from sim.scenario import AlertSpec, AttackerSpec, WorkloadSpec
from sim.workload import Action, attackers, schedule

HUBS = np.arange(3, dtype=np.int64)
RESIDENTS = np.arange(3, 203, dtype=np.int64)
DAY = 86_400.0


def spec(**overrides: object) -> WorkloadSpec:
    return dataclasses.replace(WorkloadSpec(), **overrides)  # type: ignore[arg-type]


def test_schedule_is_ordered_and_inside_the_run() -> None:
    work = schedule(spec(), HUBS, RESIDENTS, DAY, Streams(1))
    times = [w.time for w in work]
    assert times == sorted(times)
    assert all(0 <= t < DAY for t in times)


def test_alerts_come_from_their_hubs_at_their_times() -> None:
    alerts = (AlertSpec(at=60.0, hub=2, size=900), AlertSpec(at=30.0, hub=0), AlertSpec(at=DAY))
    work = schedule(spec(alerts=alerts, posts_per_hour=0.0, dms_per_day=0.0), HUBS, RESIDENTS,
                    DAY, Streams(1))
    assert [(w.time, w.origin, w.size, w.ref) for w in work] == [
        (30.0, 0, 1500, 1), (60.0, 2, 900, 0)]
    assert all(w.action is Action.ALERT for w in work)


def test_posts_and_dms_are_poisson_over_residents() -> None:
    work = schedule(spec(posts_per_hour=0.5, dms_per_day=3.0), HUBS, RESIDENTS, DAY,
                    Streams(2))
    posts = [w for w in work if w.action is Action.POST]
    dms = [w for w in work if w.action is Action.DM]
    expected_posts, expected_dms = 0.5 * 24 * 200, 3.0 * 200
    assert abs(len(posts) - expected_posts) < 5 * np.sqrt(expected_posts)
    assert abs(len(dms) - expected_dms) < 5 * np.sqrt(expected_dms)
    assert all(w.origin in set(RESIDENTS.tolist()) for w in posts + dms)
    assert all(w.target != w.origin and w.target >= 3 for w in dms)
    assert all(w.target == -1 for w in posts)


def test_attackers_flood_after_the_start() -> None:
    attack = AttackerSpec(count=3, rate=600.0, start=3600.0)
    work = schedule(spec(attacker=attack, posts_per_hour=0.0, dms_per_day=0.0), HUBS,
                    RESIDENTS, 4 * 3600.0, Streams(3))
    floods = [w for w in work if w.action is Action.FLOOD]
    bad = set(attackers(spec(attacker=attack), RESIDENTS, Streams(3)).tolist())
    assert len(bad) == 3 and bad <= set(RESIDENTS.tolist())
    assert {w.origin for w in floods} == bad
    assert all(w.time >= 3600.0 for w in floods)
    assert abs(len(floods) - 3 * 600 * 3) < 5 * np.sqrt(5400)


def test_parts_draw_from_independent_streams() -> None:
    quiet = schedule(spec(dms_per_day=0.0), HUBS, RESIDENTS, DAY, Streams(4))
    busy = schedule(spec(dms_per_day=50.0, attacker=AttackerSpec(count=5)), HUBS, RESIDENTS,
                    DAY, Streams(4))

    def posts(work: list) -> list:  # type: ignore[type-arg]
        return [w for w in work if w.action is Action.POST]

    assert posts(quiet) == posts(busy) and posts(quiet)


def test_schedule_is_deterministic() -> None:
    assert schedule(spec(), HUBS, RESIDENTS, DAY, Streams(5)) == schedule(
        spec(), HUBS, RESIDENTS, DAY, Streams(5))


def test_attack_mode_picks_the_junk_kind_and_keeps_the_times() -> None:
    sybil = AttackerSpec(count=2, rate=600.0, start=0.0, mode="sybil")
    single = dataclasses.replace(sybil, mode="single")
    quiet = {"posts_per_hour": 0.0, "dms_per_day": 0.0, "alerts": ()}
    a = schedule(spec(attacker=sybil, **quiet), HUBS, RESIDENTS, DAY / 4, Streams(6))
    b = schedule(spec(attacker=single, **quiet), HUBS, RESIDENTS, DAY / 4, Streams(6))
    assert a and {w.action for w in a} == {Action.FLOOD}
    assert {w.action for w in b} == {Action.SPAM}
    assert [(w.time, w.origin) for w in a] == [(w.time, w.origin) for w in b]
