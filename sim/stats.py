"""Mean and 95 % confidence interval of a small sample (Student's t; no scipy needed).

The interval is mean ± t(0.975, n − 1) · s / √n with s the sample standard deviation. The
two-sided 95 % quantiles of Student's t come from the standard table for 1–30 degrees of
freedom; between tabulated rows above 30 we use the next smaller tabulated df (a slightly
wider, conservative interval), and 1.96 beyond 120. One value has no interval.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Estimate", "estimate", "t_quantile"]

# t(0.975, df) for df = 1..30 (e.g. Abramowitz & Stegun table 26.10), then 40, 60, 120.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
         2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
         2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
_T975_LARGE = ((120, 1.980), (60, 2.000), (40, 2.021), (30, 2.042))


def t_quantile(df: int) -> float:
    """Two-sided 95 % quantile of Student's t with `df` >= 1 degrees of freedom."""
    if df < 1:
        raise ValueError("need at least one degree of freedom")
    if df <= len(_T975):
        return _T975[df - 1]
    if df > 120:
        return 1.960
    return next(t for limit, t in _T975_LARGE if df >= limit)


@dataclass(frozen=True, slots=True)
class Estimate:
    """A sample's mean with the half-width of its 95 % interval (None for n < 2)."""

    n: int
    mean: float | None
    ci95: float | None

    @property
    def low(self) -> float | None:
        return None if self.mean is None or self.ci95 is None else self.mean - self.ci95

    @property
    def high(self) -> float | None:
        return None if self.mean is None or self.ci95 is None else self.mean + self.ci95


def estimate(values: Sequence[float | None]) -> Estimate:
    """Mean and 95 % half-width of the values that are not None."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return Estimate(0, None, None)
    mean = statistics.fmean(present)
    if len(present) < 2:
        return Estimate(1, mean, None)
    half = t_quantile(len(present) - 1) * statistics.stdev(present) / math.sqrt(len(present))
    return Estimate(len(present), mean, half)
