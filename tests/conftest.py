"""Shared test configuration: hypothesis profiles.

`ci` (default) keeps the suite inside CI's budget; `fuzz` is the long run for fuzzing sessions:
    HYPOTHESIS_PROFILE=fuzz python -m pytest tests/test_wire_fuzz.py
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=50_000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
