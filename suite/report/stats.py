"""Summary statistics over seeds."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and the two ends of a t-interval over seeds; NaN ends below two values."""
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if len(x) < 2:
        return m, math.nan, math.nan
    sem = float(x.std(ddof=1) / math.sqrt(len(x)))
    if sem == 0:
        return m, m, m
    half = float(stats.t.ppf(0.5 + confidence / 2, len(x) - 1)) * sem
    return m, m - half, m + half


def format_mean_ci(values, digits: int = 3) -> str:
    m, lo, hi = mean_ci(values)
    if math.isnan(m):
        return "–"
    if math.isnan(lo):
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {(hi - lo) / 2:.{digits}f}"
