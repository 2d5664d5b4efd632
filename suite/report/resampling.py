"""Intervals and tests for differences measured over cross-validation folds.

Folds of one k-fold partition share most of their training rows, so the per-fold differences
between two models are positively correlated and a plain paired t over folds is too narrow
(Dietterich 1998; Nadeau & Bengio 2003). The corrected resampled t of Nadeau & Bengio (2003,
"Inference for the Generalization Error", Machine Learning 52) inflates the variance of the mean
difference from σ²/J to (1/J + n_test/n_train)·σ², a heuristic correction for that overlap that
Bouckaert & Frank (2004) found keeps the type I error near its nominal level where the plain t
does not. `tests/test_report_resampling.py` simulates both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Resampled:
    n: int  # folds (or resamples)
    mean: float  # mean difference over folds
    lo: float  # interval of the mean difference, corrected for overlapping training sets
    hi: float
    p: float  # two-sided p of the corrected resampled t (NaN where the spread is 0)


def corrected_resampled_t(differences, n_train: int, n_test: int, confidence: float = 0.95) -> Resampled:
    """The Nadeau–Bengio corrected resampled t over per-fold differences (variant − baseline).

    `n_train`/`n_test`: the rows each fold trained and tested on (for k-fold CV, n_test/n_train
    = 1/(k−1)). With every difference equal the spread is unknown, not zero: no interval, p NaN.
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if n_train <= 0 or n_test <= 0:
        raise ValueError(f"n_train and n_test must be positive, got {n_train} and {n_test}")
    n = len(d)
    if n < 2:
        mean = float(d.mean()) if n else math.nan
        return Resampled(n, mean, math.nan, math.nan, math.nan)
    mean = float(d.mean())
    var = float(d.var(ddof=1))
    if var == 0:
        return Resampled(n, mean, math.nan, math.nan, math.nan)
    se = math.sqrt((1 / n + n_test / n_train) * var)
    t = mean / se
    p = float(2 * stats.t.sf(abs(t), df=n - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * se
    return Resampled(n, mean, mean - half, mean + half, p)
