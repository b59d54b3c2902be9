"""Shared test configuration: hypothesis profiles and the `slow` marker.

`ci` (default) keeps the suite inside CI's budget; `fuzz` is the long run for fuzzing sessions:
    HYPOTHESIS_PROFILE=fuzz python -m pytest tests/test_wire_fuzz.py

`slow` marks, by one rule applied here rather than module by module, every test that starts
real processes (daemons, the `meshnode` command, a browser, a private D-Bus), uses network
namespaces, or runs a simulation of minutes: `python -m pytest -m "not slow"` is the quick
subset (README.md, "Run the tests"); the default run has both.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

TESTS = Path(__file__).parent
# Test files and folders (relative to tests/) whose tests are slow by the rule above.
SLOW = (
    "cli/", "faults/", "test_daemon.py", "test_daemon_netns.py", "test_daemon_ble.py",
    "tui/test_app.py", "tui/test_web.py", "transport/test_ble_bluez.py",
    "transport/test_ble_central.py", "transport/test_ble_peripheral.py",
    "sim/test_soak.py", "sim/test_attack.py", "sim/test_bench.py", "sim/test_sweep.py",
    "test_conformance.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        where = Path(str(item.path)).relative_to(TESTS).as_posix()
        if any(where == s or (s.endswith("/") and where.startswith(s)) for s in SLOW):
            item.add_marker(pytest.mark.slow)

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=50_000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
