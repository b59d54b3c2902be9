"""The urgent-dissemination rule of the core (`meshnode.alerts.urgency`)."""

from __future__ import annotations

import pytest

from meshnode.alerts.urgency import URGENT_RADIO, UrgentRadio


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
