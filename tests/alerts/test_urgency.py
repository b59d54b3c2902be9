"""The urgent-dissemination rule of the core (`meshnode.alerts.urgency`)."""

from __future__ import annotations

import math

import pytest

from meshnode.alerts.urgency import URGENT_RADIO, RadioSettings, UrgentRadio


def test_a_fresh_alert_makes_a_device_urgent_for_the_duration() -> None:
    radio = UrgentRadio(duration=600.0, fresh_for=3_600.0)
    assert radio.urgent_until(issued=1_000.0, received=1_500.0) == 2_100.0


def test_an_alert_found_long_after_its_issue_does_not_drain_a_phone() -> None:
    radio = UrgentRadio(duration=600.0, fresh_for=3_600.0)
    assert radio.urgent_until(issued=0.0, received=3_601.0) == 3_601.0


def test_the_default_scans_more_than_the_screen_off_phone_scan() -> None:
    assert URGENT_RADIO.scan_window / URGENT_RADIO.scan_interval > 0.512 / 10.24


@pytest.mark.parametrize("bad", [dict(duration=-1.0), dict(scan_window=2.0, scan_interval=1.0),
                                 dict(adv_interval=0.0)])
def test_impossible_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        UrgentRadio(**bad)


def test_a_second_fresh_alert_extends_the_urgent_period_and_never_shortens_it() -> None:
    radio = UrgentRadio(duration=600.0, fresh_for=3_600.0)
    until = radio.hold(-math.inf, issued=1_000.0, received=1_000.0)
    assert until == 1_600.0
    assert radio.hold(until, issued=1_200.0, received=1_300.0) == 1_900.0
    # An alert found at 1,100 (urgent until 1,700) does not cut a period running to 1,900.
    assert radio.hold(1_900.0, issued=1_100.0, received=1_100.0) == 1_900.0


def test_a_stale_alert_leaves_the_urgent_period_as_it_was() -> None:
    radio = UrgentRadio(duration=600.0, fresh_for=3_600.0)
    assert radio.hold(-math.inf, issued=0.0, received=4_000.0) == -math.inf
    assert radio.hold(4_200.0, issued=0.0, received=4_000.0) == 4_200.0


PHONE = RadioSettings(scan_window=0.512, scan_interval=10.24, adv_interval=1.0, yield_time=10.0)
HUB = RadioSettings(scan_window=10.0, scan_interval=10.0, adv_interval=0.25, yield_time=10.0)


def test_an_urgent_phone_takes_the_urgent_scan_and_advertising() -> None:
    assert URGENT_RADIO.settings(PHONE, urgent=True) == URGENT_RADIO.radio
    assert URGENT_RADIO.settings(PHONE, urgent=False) == PHONE


def test_urgency_never_slows_a_device_down() -> None:
    """A hub scanning continuously keeps doing so; only its advertising speeds up."""
    urgent_hub = URGENT_RADIO.settings(HUB, urgent=True)
    assert (urgent_hub.scan_window, urgent_hub.scan_interval) == (10.0, 10.0)
    assert urgent_hub.adv_interval == URGENT_RADIO.adv_interval


def test_a_device_on_the_radios_default_advertising_gets_the_urgent_interval() -> None:
    default_adv = RadioSettings(0.5, 60.0, math.inf, 10.0)
    assert URGENT_RADIO.settings(default_adv, urgent=True).adv_interval == 0.1
    assert URGENT_RADIO.settings(default_adv, urgent=False).adv_interval == math.inf


def test_an_urgent_device_connects_at_once_instead_of_yielding_and_goes_back_after() -> None:
    """Of two devices the higher token waits its yield time for the lower to connect; one
    holding a fresh alert does not wait (the transport and the simulator both read this)."""
    assert URGENT_RADIO.settings(PHONE, urgent=True).yield_time == 0.0
    assert URGENT_RADIO.settings(HUB, urgent=True).yield_time == 0.0
    assert URGENT_RADIO.settings(PHONE, urgent=False).yield_time == PHONE.yield_time


def test_urgency_never_makes_a_device_wait_longer_to_connect() -> None:
    patient = UrgentRadio(yield_time=30.0)
    assert patient.settings(PHONE, urgent=True).yield_time == PHONE.yield_time


def test_a_negative_yield_time_is_refused() -> None:
    with pytest.raises(ValueError):
        RadioSettings(0.5, 1.0, 0.1, -1.0)
    with pytest.raises(ValueError):
        UrgentRadio(yield_time=-1.0)
