from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshnode.transport.ble_config import BACKOFF_JITTER, BleConfig, backoff_delay
from meshnode.transport.ble_profile import DEFAULT_ATT_MTU, MAX_ATT_MTU, fragment_size
from meshnode.transport.framing import DEFAULT_MAX_FRAME, Fragmenter
from sim.config import ScenarioError
from sim.linkmodel import (
    ADV_DELAY_MAX,
    FEW_PENDING,
    BatteryParams,
    LinkParams,
    Slots,
    advert_tokens,
    best_case_delay,
    by_token,
    connect_delay,
    discovery,
    discovery_delay,
    drain,
    duty_cycle,
    energy_used,
    fragments,
    initial_charge,
    lifetime,
    on_air_bytes,
    one_way_discovery_delay,
    power_draw,
    radio_of,
    scan_wait,
    setup_time,
    transfer_time,
    urgent_extra_power,
)


def rng(seed: int = 1) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_defaults_follow_the_design_numbers() -> None:
    link = LinkParams()
    assert 10 <= link.range <= 30
    assert duty_cycle(link) == pytest.approx(0.05)
    assert (link.setup_min, link.setup_max) == (1.0, 10.0)
    assert 10_000 <= link.throughput <= 50_000
    assert link.phone_connections == 7
    assert 3 <= link.hub_central_links + link.hub_peripheral_links <= 5


def test_transport_defaults_are_the_transports() -> None:
    link, ble = LinkParams(), BleConfig()
    assert link.connect_timeout == ble.connect_timeout
    assert (link.backoff_initial, link.backoff_max) == (ble.backoff_initial, ble.backoff_max)
    assert link.yield_time == ble.yield_time
    assert link.adv_interval * 1000 == ble.advert_interval_ms
    assert (link.hub_central_links, link.hub_peripheral_links) == (
        ble.max_central_links, ble.max_peripheral_links)


@pytest.mark.parametrize(("overrides", "key"), [
    ({"scan_window": 2.0, "scan_interval": 1.0}, "scan_window"),
    ({"setup_min": 5.0, "setup_max": 2.0}, "setup_min"),
    ({"indoor_range": 30.0, "range": 20.0}, "indoor_range"),
    ({"att_mtu": DEFAULT_ATT_MTU - 1}, "att_mtu"),
    ({"att_mtu": MAX_ATT_MTU + 1}, "att_mtu"),
    ({"backoff_initial": 10.0, "backoff_max": 5.0}, "backoff_initial"),
    ({"connect_timeout": 0.0}, "connect_timeout"),
    ({"setup_stall": 1.0}, "setup_stall"),
    ({"hub_central_links": 0, "hub_peripheral_links": 0}, "hub_central_links"),
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


@settings(deadline=None)
@given(size=st.integers(0, 150), seed=st.integers(0, 2**32 - 1),
       loss=st.sampled_from([0.0, 0.1, 0.5]), window=st.sampled_from([0.512, 2.0, 10.24]))
def test_discovery_draws_the_same_in_numpy_and_in_python(size: int, seed: int, loss: float,
                                                        window: float) -> None:
    # All rounds in numpy, all in plain Python, and the default switch between them: the same
    # delays and the generator left in the same state (what the simulator draws next).
    link = LinkParams(advert_loss=loss, scan_window=window)
    runs = []
    for below in (0, size + 1, FEW_PENDING):
        generator = rng(seed)
        delays = one_way_discovery_delay(generator, link, size, python_below=below)
        runs.append((delays.tobytes(), generator.random()))
    assert runs[0] == runs[1] == runs[2]


_DEVICE = st.sampled_from(["phone", "hub", "urgent"])


@settings(deadline=None)
@given(seed=st.integers(0, 2**32 - 1), loss=st.sampled_from([0.0, 0.1, 0.5]),
       hub_window=st.sampled_from([0.3, 2.0]), data=st.data())
def test_discovery_draws_the_same_in_numpy_and_in_python_for_any_mix_of_devices(
        seed: int, loss: float, hub_window: float, data: st.DataObject) -> None:
    # Each pair with its own scanner and advertiser (hubs scanning part of the time, urgent
    # and ordinary phones): both paths use each device's settings, draw for draw.
    link = LinkParams(advert_loss=loss, hub_scan_window=hub_window, hub_scan_interval=2.0)
    size = data.draw(st.integers(0, 150))
    kinds = [np.array(data.draw(st.lists(_DEVICE, min_size=size, max_size=size)))
             for _ in range(2)]
    scanner, advertiser = (radio_of(link, k == "hub", k == "urgent") for k in kinds)
    runs = []
    for below in (0, size + 1, FEW_PENDING):
        generator = rng(seed)
        delays = one_way_discovery_delay(generator, link, size, scanner, advertiser,
                                         python_below=below)
        runs.append((delays.tobytes(), generator.random()))
    assert runs[0] == runs[1] == runs[2]


def test_the_python_path_follows_each_devices_own_settings() -> None:
    # Hubs scanning continuously hear phones far sooner than phones hear phones, in the
    # Python path as in numpy: a path that used the phones' defaults for all would not.
    link = LinkParams()
    hub = np.arange(100) % 2 == 0
    delays = one_way_discovery_delay(rng(3), link, 100, radio_of(link, hub),
                                     radio_of(link, np.zeros(100, dtype=np.bool_)),
                                     python_below=101)
    assert np.mean(delays[hub]) < 2 * link.adv_interval < np.mean(delays[~hub])


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


def test_without_yielding_mutual_discovery_is_the_faster_direction() -> None:
    link = LinkParams(yield_time=0.0)
    one_way = np.mean(one_way_discovery_delay(rng(3), link, 3000))
    mutual = discovery_delay(rng(3), link, 3000)
    assert np.all(np.isfinite(mutual)) and np.all(mutual >= 0)
    assert np.mean(mutual) < 0.8 * one_way


def test_the_higher_token_yields_so_discovery_is_mostly_one_way() -> None:
    link = LinkParams()
    one_way = one_way_discovery_delay(rng(4), link, 4000)
    patient = discovery_delay(rng(5), LinkParams(yield_time=1e6), 4000)
    assert np.mean(patient) == pytest.approx(np.mean(one_way), rel=0.06)
    eager = np.mean(discovery_delay(rng(5), LinkParams(yield_time=0.0), 4000))
    default = np.mean(discovery_delay(rng(5), link, 4000))
    assert eager < default <= np.mean(patient) + 0.01


def test_scan_wait_is_zero_inside_a_window_and_else_until_the_next() -> None:
    link = LinkParams(scan_interval=10.0, scan_window=1.0)
    waits = scan_wait(rng(), link, 5000)
    assert np.all((waits >= 0) & (waits <= 9.0))
    assert np.mean(waits == 0) == pytest.approx(0.1, abs=0.02)
    assert np.all(scan_wait(rng(), LinkParams(scan_interval=2.0, scan_window=2.0), 100) == 0)


def test_setup_times_stay_in_their_range_or_stall() -> None:
    times = setup_time(rng(), LinkParams(setup_min=2.0, setup_max=4.0, setup_stall=0.0), 500)
    assert np.all((times >= 2.0) & (times <= 4.0))
    stalls = setup_time(rng(), LinkParams(setup_stall=0.3), 5000)
    assert np.mean(np.isinf(stalls)) == pytest.approx(0.3, abs=0.03)


def test_setups_within_the_timeout_never_fail() -> None:
    link = LinkParams(setup_min=1.0, setup_max=10.0, setup_stall=0.0)
    delay, failures = connect_delay(rng(), link, 1000)
    assert not failures.any()
    assert np.all((delay >= link.setup_min) & (delay <= link.setup_max))


def schedule_bounds(link: LinkParams, failures: int) -> tuple[float, float]:
    """Earliest and latest total wait of `failures` failed attempts at the transport's
    back-off times (jitter at either end), with the scanner's wait for its next window."""
    low, high = BACKOFF_JITTER
    backoffs = [backoff_delay(link.backoff_initial, link.backoff_max, k)
                for k in range(1, failures + 1)]
    waited = failures * link.connect_timeout
    scan_gap = link.scan_interval - link.scan_window
    return waited + low * sum(backoffs), waited + high * sum(backoffs) + failures * scan_gap


@pytest.mark.parametrize("scan", [(1.0, 1.0), (0.512, 10.24)])
def test_setup_beyond_the_timeout_fails_and_retries_at_the_transports_backoff(
        scan: tuple[float, float]) -> None:
    window, interval = scan
    link = LinkParams(setup_min=1.0, setup_max=29.0, setup_stall=0.0, connect_timeout=15.0,
                      backoff_initial=2.0, backoff_max=5.0, scan_window=window,
                      scan_interval=interval)
    delay, failures = connect_delay(rng(6), link, 4000)
    # Half the attempts take longer than the timeout: geometric number of failures.
    assert np.mean(failures > 0) == pytest.approx(0.5, abs=0.04)
    assert failures.max() >= 4  # past backoff_max: the cap is exercised
    for k in range(failures.max() + 1):
        chosen = delay[failures == k]
        low, high = schedule_bounds(link, k)
        assert np.all(chosen >= low + link.setup_min - 1e-9), k
        assert np.all(chosen <= high + link.connect_timeout + 1e-9), k


def test_stalled_attempts_are_retried_and_hopeless_ones_never_connect() -> None:
    link = LinkParams(setup_stall=0.4)
    delay, failures = connect_delay(rng(7), link, 3000)
    assert np.mean(failures > 0) == pytest.approx(0.4, abs=0.04)
    assert np.all(np.isfinite(delay))
    assert np.all(delay[failures > 0] >= link.connect_timeout + 0.9 * link.backoff_initial)
    never = LinkParams(setup_min=20.0, setup_max=30.0, connect_timeout=15.0)
    delay, _ = connect_delay(rng(), never, 10)
    assert np.all(np.isinf(delay))


@given(st.integers(0, DEFAULT_MAX_FRAME), st.integers(DEFAULT_ATT_MTU, MAX_ATT_MTU))
def test_on_air_bytes_are_what_the_transports_fragmenter_sends(nbytes: int, mtu: int) -> None:
    link = LinkParams(att_mtu=mtu)
    sent = Fragmenter(fragment_size(mtu)).fragments(bytes(nbytes))
    assert on_air_bytes(nbytes, link) == sum(len(f) for f in sent)
    assert fragments(nbytes, link) == len(sent)
    assert all(len(f) + 3 <= mtu for f in sent)  # each fits one ATT write/notification
    assert transfer_time(nbytes, link) == pytest.approx(sum(map(len, sent)) / link.throughput)


def test_best_case_delay_is_quickest_setup_plus_transfer() -> None:
    link = LinkParams()
    assert best_case_delay(1000, link) == pytest.approx(link.setup_min
                                                        + transfer_time(1000, link))
    with pytest.raises(ValueError):
        fragments(-1, link)
    with pytest.raises(ValueError):
        on_air_bytes(-1, link)


@given(st.integers(0, 100_000), st.integers(0, 100_000))
def test_transfer_time_grows_with_size(a: int, b: int) -> None:
    link = LinkParams()
    if a <= b:
        assert transfer_time(a, link) <= transfer_time(b, link)


def test_a_full_peripheral_is_not_discovered_until_a_slot_frees() -> None:
    link = LinkParams(hub_central_links=1, hub_peripheral_links=1, phone_connections=1)
    slots = Slots(np.array([True, False, False, False]), link)  # hub 0, phones 1-3
    assert slots.take((0, 1), a_first=False)  # the phone opens the link: hub is peripheral
    assert slots.central((0, 1)) == 1
    assert not slots.advertising(0) and slots.scanning(0)
    # Phone 2 can only reach the hub as a central: the hub does not advertise.
    assert slots.roles(2, 0, a_first=True) == (0, 2)  # but the hub can still connect to it
    assert slots.take((0, 2), a_first=False)
    assert slots.blocked(0) and not slots.advertising(0) and not slots.scanning(0)
    assert slots.roles(0, 3, a_first=False) is None
    assert not slots.take((0, 3), a_first=False)
    slots.release((0, 1))
    assert slots.advertising(0) and slots.roles(0, 3, a_first=False) == (3, 0)
    slots.release((0, 1))  # a second release changes nothing
    assert not slots.take((0, 2), a_first=True)  # already linked
    assert slots.take((0, 3), a_first=False)
    assert not slots.advertising(0)


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.booleans(), st.booleans())
                .filter(lambda x: x[0] != x[1]), max_size=60),
       st.integers(0, 3), st.integers(0, 3), st.integers(1, 4))
def test_slots_never_exceed_the_role_limits(ops: list[tuple[int, int, bool, bool]],
                                            central: int, peripheral: int, phone: int) -> None:
    if central + peripheral == 0:
        central = 1
    link = LinkParams(hub_central_links=central, hub_peripheral_links=peripheral,
                      phone_connections=phone)
    hub = np.array([True, True, False, False, False, False])
    slots = Slots(hub, link)
    linked: dict[tuple[int, int], int] = {}
    for a, b, a_first, close in ops:
        pair = (min(a, b), max(a, b))
        if close and pair in linked:
            slots.release(pair)
            del linked[pair]
            continue
        expected = None if pair in linked else slots.roles(pair[0], pair[1], a_first == (a < b))
        assert slots.take(pair, a_first == (a < b)) == (expected is not None)
        if expected is not None:
            linked[pair] = expected[0]
            assert slots.central(pair) == expected[0]
        for i in range(len(hub)):
            as_central = sum(c == i for c in linked.values())
            total = sum(i in p for p in linked)
            assert total == slots.used(i)
            if hub[i]:
                assert as_central <= central and total - as_central <= peripheral
                assert slots.advertising(i) == (total - as_central < peripheral)
                assert slots.scanning(i) == (as_central < central)
            else:
                assert total <= phone
                assert slots.advertising(i) == slots.scanning(i) == (total < phone)


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


def test_a_hub_scanning_continuously_hears_a_phone_far_sooner_than_a_phone_does() -> None:
    link = LinkParams()
    hubs = radio_of(link, np.ones(4000, dtype=np.bool_))
    phones = radio_of(link, np.zeros(4000, dtype=np.bool_))
    hub_hears = one_way_discovery_delay(rng(8), link, 4000, scanner=hubs, advertiser=phones)
    phone_hears = one_way_discovery_delay(rng(8), link, 4000)
    # Always scanning: the first advert not lost is heard (mean about 1.1 adverts' interval).
    assert np.mean(hub_hears) < 2 * link.adv_interval
    assert np.mean(phone_hears) > 10 * np.mean(hub_hears)


def test_explicit_phone_settings_draw_exactly_what_the_defaults_draw() -> None:
    link = LinkParams()
    phones = radio_of(link, np.zeros(500, dtype=np.bool_))
    assert np.array_equal(discovery_delay(rng(9), link, 500),
                          discovery_delay(rng(9), link, 500, phones, phones))


def test_an_urgent_phone_is_discovered_sooner_and_pays_for_it() -> None:
    link = LinkParams()
    hub = np.zeros(3000, dtype=np.bool_)
    urgent = radio_of(link, hub, np.ones(3000, dtype=np.bool_))
    plain = radio_of(link, hub)
    fast = discovery_delay(rng(10), link, 3000, urgent, plain)
    slow = discovery_delay(rng(10), link, 3000, plain, plain)
    assert np.mean(fast) < 0.5 * np.mean(slow)
    extra = urgent_extra_power(BatteryParams(), link)
    assert extra > 0
    assert urgent_extra_power(BatteryParams(), LinkParams(
        urgent_scan_window=link.scan_window, urgent_scan_interval=link.scan_interval,
        urgent_adv_interval=link.adv_interval)) == 0


def test_an_urgent_hub_keeps_its_faster_scan_and_advertises_as_urgently_as_a_phone() -> None:
    """The daemon's rule for a hub's transport (`UrgentRadio.settings` of its own duty cycle):
    the faster of the two scans, the urgent advertising interval."""
    link = LinkParams(hub_scan_window=1.0, hub_scan_interval=2.0)
    radio = radio_of(link, np.array([True, False, True]), np.array([True, True, False]))
    assert radio.scan_window.tolist() == [1.0, link.urgent_scan_window, 1.0]
    assert radio.adv_interval.tolist() == [link.urgent_adv_interval, link.urgent_adv_interval,
                                           link.adv_interval]
    # A hub on mains scanning continuously pays only for the faster adverts.
    assert urgent_extra_power(BatteryParams(), LinkParams(), hub=True) == pytest.approx(
        BatteryParams().advert * (1 / link.urgent_adv_interval - 1 / link.adv_interval))


def test_hub_scan_defaults_are_the_transports() -> None:
    link, ble = LinkParams(), BleConfig()
    assert (link.hub_scan_window, link.hub_scan_interval) == (ble.scan_window, ble.scan_interval)
    with pytest.raises(ScenarioError, match="hub_scan_window"):
        LinkParams(hub_scan_window=3.0, hub_scan_interval=2.0)


def test_the_lower_token_connects_first_whatever_the_numbering() -> None:
    tokens = advert_tokens(rng(11), 6)
    a, b = np.array([0, 1, 2, 3, 4]), np.array([5, 4, 3, 2, 1])
    first, second = by_token(tokens, a, b)
    assert (tokens[first] <= tokens[second]).all()
    assert sorted(zip(first.tolist(), second.tolist(), strict=True)) == sorted(
        (min(x, y, key=lambda i: tokens[i]), max(x, y, key=lambda i: tokens[i]))
        for x, y in zip(a.tolist(), b.tolist(), strict=True))
    assert np.array_equal(advert_tokens(rng(11), 6), tokens)  # the seed decides them


def test_an_urgent_higher_token_does_not_yield_and_connects_itself_more_often() -> None:
    """`discovery` takes each device's own yield time: a phone holding a fresh alert (the
    core's `UrgentRadio.yield_time`, 0) connects as soon as it hears the lower token."""
    link = LinkParams()
    phones = radio_of(link, np.zeros(4000, dtype=np.bool_))
    urgent = radio_of(link, np.zeros(4000, dtype=np.bool_), np.ones(4000, dtype=np.bool_))
    assert (urgent.yield_time == 0).all() and (phones.yield_time == link.yield_time).all()
    slow, slow_swapped = discovery(rng(12), link, 4000, phones, phones)
    fast, fast_swapped = discovery(rng(12), link, 4000, phones, urgent)
    assert np.mean(fast) < 0.7 * np.mean(slow)
    assert fast_swapped.mean() > 0.5 > slow_swapped.mean()


def test_with_random_tokens_a_hub_still_finds_a_phone_sooner_than_two_phones_do() -> None:
    link = LinkParams()
    hub = np.arange(4000) % 2 == 0  # pairs (hub, phone) with the hub first or second
    hub_pairs = discovery_delay(rng(13), link, 4000, radio_of(link, hub), radio_of(link, ~hub))
    phone_pairs = discovery_delay(rng(13), link, 4000)
    assert np.mean(hub_pairs) < 0.7 * np.mean(phone_pairs)
