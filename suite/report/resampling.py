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
import pandas as pd
from scipy import stats

from suite import metrics
from suite.report.stats import MIN_SEEDS, Summary, Test, clean, constant, seed_test


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


def corrected_se(differences, ratio: float) -> float:
    """The corrected standard error of the mean over folds: √((1/J + n_test/n_train)·s²)."""
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    return math.sqrt((1 / len(d) + ratio) * float(d.var(ddof=1))) if len(d) > 1 else math.nan


# ---- the report's reading of cross-validated results --------------------------------------------

FOLD_SOURCES = "folds (corrected resampled t)"  # what a CV interval covers, in the report's words


def cross_validated(rows) -> bool:
    """Rows of a cross-validated dataset: each names its fold (suite.report.load's `fold` column)."""
    return "fold" in rows and len(rows) > 0 and bool(rows["fold"].notna().all())


def replicate_ids(rows) -> pd.Series:
    """Each row's replicate: its seed, and its fold where it has one ("3/7"); rows of a dataset
    without folds carry a missing fold (the column exists once any dataset is cross-validated)."""
    seed = rows["seed"].astype(str)
    if "fold" not in rows:
        return seed
    fold = rows["fold"]
    return seed.where(fold.isna(), seed + "/" + fold.astype(str))


def fold_ratio(rows) -> float:
    """n_test / n_train of the folds: from the rows each trial trained and was evaluated on (their
    medians), else k-fold CV's 1/(k − 1) from the fold count (results recorded before those columns)."""
    if {"train_rows", "eval_rows"} <= set(rows.columns) and rows["train_rows"].notna().all():
        return float(rows["eval_rows"].median()) / float(rows["train_rows"].median())
    return 1 / (float(rows["folds"].max()) - 1)


def fold_summary(values, ratio: float, bounds: tuple[float, float] = (-math.inf, math.inf)) -> Summary:
    """Mean over (seed, fold) replicates with the corrected resampled t interval (95%): the folds'
    accuracies share training rows, so the plain t over them is too narrow."""
    x = clean(values)
    n = len(x)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan, FOLD_SOURCES)
    mean = float(x.mean())
    std = 0.0 if constant(x) else (float(x.std(ddof=1)) if n > 1 else math.nan)
    if n < MIN_SEEDS or not std:
        return Summary(n, mean, std, math.nan, math.nan, FOLD_SOURCES)
    half = float(stats.t.ppf(0.975, n - 1)) * corrected_se(x, ratio)
    lo, hi = metrics.clip(mean - half, mean + half, bounds)
    return Summary(n, mean, std, lo, hi, FOLD_SOURCES)


def fold_test(d, ratio: float) -> Test:
    """A contrast's Δ per (seed, fold): the corrected resampled t (df = J − 1), its standard error
    inflated by n_test/n_train, so `Test.interval` at any level (Holm's included) is corrected too.
    The same Δ in every fold is left to the exact sign test, as over seeds."""
    return seed_test(
        d, se=lambda d: corrected_se(d, ratio), name="corrected resampled t", sources=FOLD_SOURCES
    )


def replicates(rows) -> str | int:
    """How many runs a variant's rows are, in a table's words: '10 folds × 1 seed' on a
    cross-validated dataset, else the seed count (rows)."""
    if not cross_validated(rows):
        return len(rows)
    seeds = rows["seed"].nunique()
    return f"{rows['fold'].nunique()} folds × {seeds} seed{'s' if seeds != 1 else ''}"
