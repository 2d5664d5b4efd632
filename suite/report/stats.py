"""Statistics over seeds: bootstrap intervals, paired tests against a baseline, Holm.

Every resampling is scipy's (`stats.bootstrap`, `stats.permutation_test`) with a
fixed seed, so a report written twice from the same tables is the same report.
Below `MIN_SEEDS` seeds no interval or test is given: it could not be trusted.
Degenerate data (every seed the same, as a loss stuck at ln 2) gets no bootstrap:
its spread is zero, and it is reported as identical across seeds.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
MIN_SEEDS = 3
RESAMPLES = 9999
SEED = 0  # the resampling seed: reports are reproducible


def clean(values) -> np.ndarray:
    x = np.asarray(list(values), dtype=float)
    return x[np.isfinite(x)]


def constant(x: np.ndarray) -> bool:
    """All values equal, up to rounding in the last bits."""
    return len(x) > 0 and float(np.ptp(x)) <= 1e-12 * max(1.0, float(np.abs(x).max()))


def bootstrap_ci(x: np.ndarray) -> tuple[float, float]:
    """95% BCa bootstrap interval of the mean (percentile where BCa is undefined)."""
    if len(x) < MIN_SEEDS:
        return math.nan, math.nan
    if constant(x):
        return float(x[0]), float(x[0])
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # BCa's degenerate-data warning: we fall back instead
            res = stats.bootstrap(
                (x,),
                np.mean,
                confidence_level=CONFIDENCE,
                n_resamples=RESAMPLES,
                method=method,
                rng=np.random.default_rng(SEED),
            )
        lo, hi = res.confidence_interval
        if np.isfinite(lo) and np.isfinite(hi):
            return float(lo), float(hi)
    return math.nan, math.nan


@dataclass
class Summary:
    n: int
    mean: float
    std: float
    lo: float
    hi: float

    @property
    def constant(self) -> bool:
        return self.n >= 2 and self.std == 0.0

    @property
    def has_ci(self) -> bool:
        return not math.isnan(self.lo)


def summarize(values) -> Summary:
    """Mean, standard deviation and 95% bootstrap CI of the mean over seeds."""
    x = clean(values)
    if len(x) == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    std = 0.0 if constant(x) else (float(x.std(ddof=1)) if len(x) > 1 else math.nan)
    lo, hi = bootstrap_ci(x)
    return Summary(len(x), float(x.mean()), std, lo, hi)


def fmt(value: float, digits: int = 3) -> str:
    if value is None or math.isnan(value):
        return "–"
    if value != 0 and abs(value) < 10 ** (-digits):
        return f"{value:.1e}"
    return f"{value:.{digits}f}"


def signed(value: float, digits: int = 3) -> str:
    """'+0.412', '-8.5e-05', '+0.000' only for an exact zero."""
    text = fmt(value, digits)
    return text if text.startswith("-") or text == "–" else "+" + text


def format_summary(s: Summary, digits: int = 3) -> str:
    """'0.412 [0.398, 0.431]', '0.693 (all 10 seeds equal)', or the mean alone below 3 seeds."""
    if s.n == 0:
        return "–"
    if s.constant:
        return f"{fmt(s.mean, digits)} (all {s.n} equal)"
    if not s.has_ci:
        return f"{fmt(s.mean, digits)} (n={s.n}, no CI)"
    return f"{fmt(s.mean, digits)} [{fmt(s.lo, digits)}, {fmt(s.hi, digits)}]"


# ---- paired comparisons ----------------------------------------------------------------------


def higher_is_better(metric: str) -> bool:
    return not any(word in metric for word in ("loss", "bytes", "seconds"))


@dataclass
class Paired:
    """One variant against the baseline on one metric, paired by seed."""

    n: int  # seeds both have
    base: float  # baseline mean over those seeds
    mean: float  # variant mean over those seeds
    diff: float  # mean of (variant − baseline)
    lo: float
    hi: float
    better: int  # seeds where the variant is better
    worse: int
    p: float  # two-sided paired permutation (sign-flip) test
    p_holm: float = math.nan
    significant: bool = False

    @property
    def has_ci(self) -> bool:
        return not math.isnan(self.lo)


def paired(base: pd.Series, other: pd.Series, metric: str) -> Paired:
    """Compare two per-seed series (indexed by seed): only seeds both have count."""
    both = pd.concat({"b": base, "o": other}, axis=1).dropna()
    b, o = both["b"].to_numpy(float), both["o"].to_numpy(float)
    d = o - b
    n = len(d)
    sign = 1 if higher_is_better(metric) else -1
    tol = 1e-12 * max(1.0, float(np.abs(both.to_numpy()).max())) if n else 0.0
    better = int((sign * d > tol).sum())
    worse = int((sign * d < -tol).sum())
    out = Paired(
        n,
        float(b.mean()) if n else math.nan,
        float(o.mean()) if n else math.nan,
        float(d.mean()) if n else math.nan,
        math.nan,
        math.nan,
        better,
        worse,
        math.nan,
    )
    if n < MIN_SEEDS:
        return out
    if better == worse == 0:  # identical in every seed: no difference to test
        out.diff, out.lo, out.hi, out.p = 0.0, 0.0, 0.0, 1.0
        return out
    out.lo, out.hi = bootstrap_ci(d)
    res = stats.permutation_test(
        (o, b),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",  # swaps within a seed's pair: a sign flip of d
        vectorized=True,
        n_resamples=RESAMPLES,
        alternative="two-sided",
        rng=np.random.default_rng(SEED),
    )
    out.p = float(res.pvalue)
    return out


def min_p(n: int) -> float:
    """The smallest two-sided p a paired sign-flip test over n seeds can give (exact test)."""
    return min(1.0, 2.0 / 2**n)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment (scipy has none): sort, scale the k-th smallest by
    (m − k), take running maxima, cap at 1. NaNs stay NaN and are not counted."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = len(idx)
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    scaled = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = scaled
    return out


def correct(comparisons: list[Paired]) -> None:
    """Holm across one report's comparisons; a difference is significant only where the
    corrected test rejects at 5% and the bootstrap interval excludes zero."""
    adjusted = holm([c.p for c in comparisons])
    for c, q in zip(comparisons, adjusted, strict=True):
        c.p_holm = float(q)
        excludes_zero = c.has_ci and (c.lo > 0 or c.hi < 0)
        c.significant = bool(np.isfinite(q) and q < ALPHA and excludes_zero)


# ---- scaling exponents -----------------------------------------------------------------------


def loglog_slope(t: np.ndarray, y: np.ndarray) -> float:
    """The exponent k of y ∝ T^k: the least-squares slope on log-log axes."""
    ok = np.isfinite(y) & (y > 0) & np.isfinite(t) & (t > 0)
    if ok.sum() < 2 or np.unique(t[ok]).size < 2:
        return math.nan
    return float(np.polyfit(np.log(t[ok]), np.log(y[ok]), 1)[0])


def exponent(frame: pd.DataFrame, x: str, y: str) -> tuple[float, float, float]:
    """Exponent of y against x over all rows, with a 95% percentile-bootstrap CI that
    resamples seeds (each seed's whole curve kept together). frame: seed, x, y."""
    k = loglog_slope(frame[x].to_numpy(float), frame[y].to_numpy(float))
    curves = [(g[x].to_numpy(float), g[y].to_numpy(float)) for _, g in frame.groupby("seed")]
    if len(curves) < MIN_SEEDS or math.isnan(k):
        return k, math.nan, math.nan

    def statistic(index):
        picked = [curves[int(i)] for i in index]
        return loglog_slope(np.concatenate([c[0] for c in picked]), np.concatenate([c[1] for c in picked]))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap(
            (np.arange(len(curves)),),
            statistic,
            vectorized=False,
            confidence_level=CONFIDENCE,
            n_resamples=999,
            method="percentile",
            rng=np.random.default_rng(SEED),
        )
    lo, hi = res.confidence_interval
    return k, float(lo), float(hi)
