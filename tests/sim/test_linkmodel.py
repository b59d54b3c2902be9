from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.config import ScenarioError
from sim.linkmodel import (
    ADV_DELAY_MAX,
    BatteryParams,
    LinkParams,
    admit,
    best_case_delay,
    discovery_delay,
    drain,
    duty_cycle,
    energy_used,
    fragments,
    initial_charge,
    lifetime,
    one_way_discovery_delay,
    power_draw,
    setup_time,
    transfer_time,
)


def rng(seed: int = 1) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_defaults_follow_the_design_numbers() -> None:
    link = LinkParams()
    assert 10 <= link.range <= 30
    assert duty_cycle(link) == pytest.approx(0.05)
    assert (link.setup_min, link.setup_max) == (1.0, 10.0)
    assert 10_000 <= link.throughput <= 50_000
    assert link.phone_connections == 7 and 3 <= link.hub_connections <= 5


@pytest.mark.parametrize(("overrides", "key"), [
    ({"scan_window": 2.0, "scan_interval": 1.0}, "scan_window"),
    ({"setup_min": 5.0, "setup_max": 2.0}, "setup_min"),
    ({"indoor_range": 30.0, "range": 20.0}, "indoor_range"),
    ({"att_mtu": 22}, "att_mtu"),
    ({"att_mtu": 23, "fragment_overhead": 20}, "fragment_overhead"),
    ({"frame_loss": 1.0}, "frame_loss"),
    ({"range": 0.0}, "range"),
    ({"phone_connections": 0}, "phone_connections"),
])
def test_invalid_link_parameters(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(ScenarioError) as info:
        LinkParams(**overrides)  # type: ignore[arg-type]
    assert info.value.key == key


def test_continuous_scanning_hears_the_first_advert() -> None:
    link = LinkParams(scan_interval=1.0, scan_window=1.0, advert_loss=0.0, adv_interval=0.1)
    delays = one_way_discovery_delay(rng(), link, 2000)
    assert np.all((delays >= 0) & (delays < 0.1))
    assert np.mean(delays) == pytest.approx(0.05, rel=0.1)


def test_discovery_waits_for_the_next_scan_window() -> None:
    # Adverts far more often than the window is long: the delay is the wait for the next
    # window when the scanner is between windows: E = (1 - W/I) * (I - W) / 2.
    interval, window = 10.0, 0.5
    link = LinkParams(scan_interval=interval, scan_window=window, adv_interval=0.01,
                      advert_loss=0.0)
    delays = one_way_discovery_delay(rng(2), link, 4000)
    expected = (1 - window / interval) * (interval - window) / 2
    assert np.mean(delays) == pytest.approx(expected, rel=0.06)
    assert delays.max() <= interval - window + 0.01 + ADV_DELAY_MAX


def test_loss_and_rare_adverts_slow_discovery_down() -> None:
    base = LinkParams()
    fast = np.mean(one_way_discovery_delay(rng(), base, 2000))
    lossy = np.mean(one_way_discovery_delay(rng(), LinkParams(advert_loss=0.7), 2000))
    rare = np.mean(one_way_discovery_delay(rng(), LinkParams(adv_interval=1.0), 2000))
    assert lossy > 1.5 * fast and rare > 1.5 * fast


def test_mutual_discovery_is_the_faster_direction() -> None:
    link = LinkParams()
    one_way = np.mean(one_way_discovery_delay(rng(3), link, 3000))
    mutual = discovery_delay(rng(3), link, 3000)
    assert np.all(np.isfinite(mutual)) and np.all(mutual >= 0)
    assert np.mean(mutual) < 0.8 * one_way


def test_setup_times_stay_in_their_range() -> None:
    times = setup_time(rng(), LinkParams(setup_min=2.0, setup_max=4.0), 500)
    assert np.all((times >= 2.0) & (times <= 4.0))


@pytest.mark.parametrize(("nbytes", "expected"), [(0, 1), (1, 1), (178, 1), (179, 2),
                                                  (1000, 6), (4096, 24)])
def test_fragments_fill_the_att_mtu(nbytes: int, expected: int) -> None:
    link = LinkParams(att_mtu=185, fragment_overhead=4)  # 178 payload bytes per write
    assert fragments(nbytes, link) == expected


def test_transfer_time_counts_framing_at_the_link_throughput() -> None:
    link = LinkParams(att_mtu=185, fragment_overhead=4, throughput=20_000.0)
    assert transfer_time(1000, link) == pytest.approx((1000 + 6 * 4) / 20_000.0)
    assert best_case_delay(1000, link) == pytest.approx(link.setup_min + 1024 / 20_000.0)
    with pytest.raises(ValueError):
        fragments(-1, link)


@given(st.integers(0, 100_000), st.integers(0, 100_000))
def test_transfer_time_grows_with_size(a: int, b: int) -> None:
    link = LinkParams()
    if a <= b:
        assert transfer_time(a, link) <= transfer_time(b, link)


@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)).filter(lambda p: p[0] != p[1]),
                max_size=30),
       st.lists(st.integers(0, 3), min_size=8, max_size=8))
def test_admission_respects_connection_slots(pairs: list[tuple[int, int]],
                                             free: list[int]) -> None:
    candidates = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    slots = np.asarray(free, dtype=np.int64)
    admitted = admit(candidates, slots)
    assert slots.tolist() == free  # not modified
    used = np.bincount(candidates[admitted].ravel(), minlength=8)
    assert np.all(used <= slots)
    # Greedy in order: a refused pair had a full end at its turn.
    left = list(free)
    for (a, b), ok in zip(pairs, admitted.tolist(), strict=True):
        assert ok == (left[a] > 0 and left[b] > 0)
        if ok:
            left[a] -= 1
            left[b] -= 1


def test_power_scales_with_duty_cycle_and_connections() -> None:
    battery = BatteryParams()
    low = LinkParams()
    full = LinkParams(scan_window=1.0, scan_interval=1.0)
    assert float(power_draw(battery, full)[()]) - float(power_draw(battery, low)[()]) == (
        pytest.approx(battery.scan * 0.95))
    draws = power_draw(battery, low, np.array([0, 1, 3]))
    assert np.allclose(np.diff(draws), [battery.connection, 2 * battery.connection])


def test_energy_is_power_times_time_plus_bytes() -> None:
    battery, link = BatteryParams(), LinkParams()
    watts = float(power_draw(battery, link, 2)[()])
    used = energy_used(battery, link, 3600.0, connections=2, nbytes=1_000_000)
    assert float(used[()]) == pytest.approx(watts + battery.per_byte * 1e6 / 3600.0)


def test_drain_stops_at_empty() -> None:
    assert drain(np.array([1.0, 0.5]), np.array([0.25, 2.0])).tolist() == [0.75, 0.0]


def test_some_phones_die_during_a_72_hour_outage() -> None:
    battery, link = BatteryParams(), LinkParams()
    charge = initial_charge(rng(), battery, 5000)
    low, high = battery.initial
    assert np.all((charge >= low * battery.capacity) & (charge <= high * battery.capacity))
    hours = lifetime(charge, battery, link) / 3600.0
    dead = float(np.mean(hours < 72))
    assert 0.2 < dead < 0.95  # the design asks for phones dying over 72 hours, not all at once
    full = float(lifetime(battery.capacity, battery, link)[()]) / 3600
    assert full == pytest.approx(battery.capacity / float(power_draw(battery, link)[()]))


def test_battery_parameters_are_validated() -> None:
    with pytest.raises(ScenarioError) as info:
        BatteryParams(initial=(0.9, 0.1))
    assert info.value.key == "initial"
    with pytest.raises(ScenarioError):
        BatteryParams(capacity=0.0)
