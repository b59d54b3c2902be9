"""The [transport.ble] section."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshnode.transport.ble_config import BACKOFF_JITTER, BleConfig, BleConfigError, backoff_delay


def test_defaults_and_mapping() -> None:
    config = BleConfig.from_mapping({"adapter": "hci1", "scan_window": 1, "scan_interval": 4.0,
                                     "max_central_links": 3, "peripheral": False})
    assert config.adapter == "hci1" and config.peripheral is False
    assert config.scan_window == 1.0 and isinstance(config.scan_window, float)
    assert config.duty_cycle == 0.25
    assert BleConfig.from_mapping({}) == BleConfig()


@pytest.mark.parametrize(("section", "key"), [
    ({"scan_mode": "sometimes"}, "scan_mode"),
    ({"scan_window": 5.0, "scan_interval": 1.0}, "scan_window"),
    ({"max_central_links": True}, "max_central_links"),
    ({"max_central_links": 1.5}, "max_central_links"),
    ({"central": 1}, "central"),
    ({"connect_timeout": 0}, "connect_timeout"),
    ({"backoff_initial": 10.0, "backoff_max": 1.0}, "backoff_initial"),
    ({"colour": "blue"}, "colour"),
    ({"event_queue": 2}, "event_queue"),
])
def test_bad_values_name_the_key(section: dict[str, object], key: str) -> None:
    with pytest.raises(BleConfigError, match=f"transport.ble.{key}"):
        BleConfig.from_mapping(section)


@given(st.floats(0.01, 100.0), st.floats(0.01, 1000.0), st.integers(1, 2000),
       st.floats(*BACKOFF_JITTER))
def test_backoff_doubles_per_failure_up_to_the_maximum(initial: float, maximum: float,
                                                       failures: int, factor: float) -> None:
    delay = backoff_delay(initial, maximum, failures, factor)
    plain = backoff_delay(initial, maximum, failures)
    assert delay == pytest.approx(plain * factor)
    assert plain <= maximum
    if failures == 1:
        assert plain == min(initial, maximum)
    else:
        before = backoff_delay(initial, maximum, failures - 1)
        assert plain == min(maximum, 2 * before) or plain == maximum


def test_backoff_needs_a_failure() -> None:
    with pytest.raises(ValueError):
        backoff_delay(2.0, 300.0, 0)
