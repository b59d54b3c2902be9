"""Mean and 95 % Student-t interval: exact for tiny cases, right coverage for random ones."""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.stats import estimate, t_quantile


def test_no_values_and_one_value() -> None:
    assert estimate([]).mean is None
    assert estimate([None, None]).n == 0
    one = estimate([3.0, None])
    assert (one.n, one.mean, one.ci95, one.low) == (1, 3.0, None, None)


def test_two_values_use_t_with_one_degree_of_freedom() -> None:
    e = estimate([1.0, 3.0])
    # s = sqrt(2), n = 2: half-width = t(1) * sqrt(2) / sqrt(2) = t(1).
    assert e.mean == 2.0
    assert e.ci95 == pytest.approx(t_quantile(1))
    assert (e.low, e.high) == pytest.approx((2.0 - t_quantile(1), 2.0 + t_quantile(1)))


def test_quantiles_shrink_towards_the_normal_one() -> None:
    values = [t_quantile(df) for df in range(1, 400)]
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert values[-1] == pytest.approx(statistics.NormalDist().inv_cdf(0.975), abs=1e-3)
    with pytest.raises(ValueError):
        t_quantile(0)


@pytest.mark.parametrize("n", [3, 5, 10, 40])
def test_interval_covers_the_true_mean_95_percent_of_the_time(n: int) -> None:
    rng = np.random.default_rng(n)
    trials = 4_000
    hits = 0
    for sample in rng.normal(10.0, 3.0, size=(trials, n)):
        e = estimate(sample.tolist())
        assert e.low is not None and e.high is not None
        hits += e.low <= 10.0 <= e.high
    # Binomial(4000, 0.95) has a standard deviation of 0.0034: allow about 4 of them.
    assert abs(hits / trials - 0.95) < 0.014


@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=30))
def test_interval_contains_the_mean_and_is_symmetric(values: list[float]) -> None:
    e = estimate(values)
    assert e.mean is not None and e.ci95 is not None
    assert e.ci95 >= 0 and math.isfinite(e.ci95)
    assert e.mean == pytest.approx(statistics.fmean(values))
    assert e.high - e.mean == pytest.approx(e.mean - e.low, abs=1e-6)  # type: ignore[operator]
