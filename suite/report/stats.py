"""Statistics over seeds (and test examples): intervals, paired tests against a baseline, Holm.

Intervals of a mean are Student-t at every n ≥ `MIN_SEEDS`: simulated coverage
(tests/test_report_coverage.py) shows t keeps ≥ 93% for normal, heavy-tailed (t₃),
moderately skewed (gamma, skewness 1) and two-point data at n = 3–30, while BCa
bootstrap intervals fall to 85–90% there (t₃ at n = 10: 0.85), so no bootstrap is
used for means. Below `MIN_SEEDS` values are shown, not an interval. Data whose
values are all equal get no interval either: their spread is unknown, not zero.
(Strongly skewed data, e.g. exponential, still undercover to ≈ 0.89 at n ≤ 10.)

With per-example predictions on a held-out split (not where the eval split is the
training set itself), an accuracy or loss also gets a two-level interval:
the variance of the grand mean over seeds × test examples is taken as
var(seed means)/S + var(example means)/N (a crossed random-effects design; it
counts the seed × example interaction twice, so it errs wide), with a t quantile
at Welch–Satterthwaite degrees of freedom.

A report's verdicts are on contrasts (suite.report.contrasts): `seed_test` / `example_test`
(a paired t test; the exact sign test where every seed gives the same Δ), Holm over the family by
`holm_levels`, each interval at the level its hypothesis was tested at (docs/statistics.md).
`paired` (an exact sign-flip test per pair) serves `ablate compare`'s uncorrected screen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats

from suite import metrics
from suite.significance import ALPHA, CONFIDENCE, MIN_SEEDS  # noqa: F401  (the report's names for them)

RESAMPLES = 9999
SEED = 0  # the resampling seed: reports are reproducible


def clean(values) -> np.ndarray:
    x = np.asarray(list(values), dtype=float)
    return x[np.isfinite(x)]


def constant(x: np.ndarray) -> bool:
    """All values equal, up to rounding in the last bits."""
    return len(x) > 0 and float(np.ptp(x)) <= 1e-12 * max(1.0, float(np.abs(x).max()))


def t_interval(x: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student-t interval of the mean; NaN below MIN_SEEDS values or when all are equal."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n < MIN_SEEDS or constant(x):
        return math.nan, math.nan
    half = _t_quantile(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / math.sqrt(n)
    m = float(x.mean())
    return m - half, m + half


@lru_cache(maxsize=256)
def _t_quantile(q: float, df: int) -> float:
    return float(stats.t.ppf(q, df))


def mean_intervals(x: np.ndarray, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """`t_interval` of each row of x (sims, n), vectorised, for the coverage test."""
    n = x.shape[1]
    m, sd = x.mean(axis=1), x.std(axis=1, ddof=1)
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    equal = np.ptp(x, axis=1) <= 1e-12 * np.maximum(1.0, np.abs(x).max(axis=1))
    lo, hi = m - half, m + half
    lo[equal | (n < MIN_SEEDS)], hi[equal | (n < MIN_SEEDS)] = np.nan, np.nan
    return lo, hi


def two_level(matrix: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float, float, float]:
    """(mean, lo, hi, df) of a seeds × examples matrix; the interval covers seed and test-example
    variation (see the module docstring). NaN interval below MIN_SEEDS seeds."""
    matrix = np.asarray(matrix, dtype=float)
    s, n = matrix.shape
    m = float(matrix.mean())
    if s < MIN_SEEDS or n < 2:
        return m, math.nan, math.nan, math.nan
    a = matrix.mean(axis=1).var(ddof=1) / s
    b = matrix.mean(axis=0).var(ddof=1) / n
    var = a + b
    if var <= 0 or constant(matrix.ravel()):  # every value the same: spread unknown, not zero
        return m, math.nan, math.nan, math.nan
    df = var**2 / (a**2 / (s - 1) + b**2 / (n - 1))
    half = stats.t.ppf(0.5 + confidence / 2, df) * math.sqrt(var)
    return m, m - half, m + half, float(df)


@dataclass
class Summary:
    n: int
    mean: float
    std: float
    lo: float
    hi: float
    sources: str = "seeds"  # what the interval covers: "seeds" or "seeds × test examples"

    @property
    def constant(self) -> bool:
        return self.n >= 2 and self.std == 0.0

    @property
    def has_ci(self) -> bool:
        return not math.isnan(self.lo)


def summarize(values, bounds: tuple[float, float] = (-math.inf, math.inf)) -> Summary:
    """Mean, standard deviation and 95% Student-t interval of the mean over seeds, cut to
    `bounds` (the metric's range: an accuracy interval never passes 1)."""
    x = clean(values)
    if len(x) == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    std = 0.0 if constant(x) else (float(x.std(ddof=1)) if len(x) > 1 else math.nan)
    lo, hi = metrics.clip(*t_interval(x), bounds)
    return Summary(len(x), float(x.mean()), std, lo, hi)


def summarize_examples(matrix: np.ndarray, bounds: tuple[float, float] = (-math.inf, math.inf)) -> Summary:
    """As `summarize`, from a seeds × examples matrix, with the two-level interval."""
    seed_means = matrix.mean(axis=1)
    s = summarize(seed_means)
    mean, lo, hi, _ = two_level(matrix)
    lo, hi = metrics.clip(lo, hi, bounds)
    return Summary(s.n, mean, s.std, lo, hi, "seeds × test examples")


LARGE = 1e6  # from here on a value is written in scientific notation (a diverged loss of 1.3e32)


def fmt(value: float, digits: int = 3) -> str:
    if value is None or math.isnan(value):
        return "–"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value != 0 and abs(value) < 10 ** (-digits):
        return f"{value:.1e}"
    if abs(value) >= LARGE:
        return f"{value:.2e}"
    return f"{value:.{digits}f}"


def signed(value: float, digits: int = 3) -> str:
    """'+0.412', '-8.5e-05', '+0.000' only for an exact zero."""
    text = fmt(value, digits)
    return text if text.startswith("-") or text == "–" else "+" + text


def format_summary(s: Summary, digits: int = 3) -> str:
    """'0.412 [0.398, 0.431]', '0.693 (all 10 equal)', or the values themselves below 3 seeds."""
    if s.n == 0:
        return "–"
    if s.constant:
        return f"{fmt(s.mean, digits)} (all {s.n} equal)"
    if not s.has_ci:
        return f"{fmt(s.mean, digits)} (n={s.n}, no CI)"
    return f"{fmt(s.mean, digits)} [{fmt(s.lo, digits)}, {fmt(s.hi, digits)}]"


def measurement_ids(
    frame: pd.DataFrame, values: pd.Series | None = None, column: str = "timing_group"
) -> list[str]:
    """An id per row naming the measurement it copies: its `column` (`timing_group`, or
    `memory_group`), or for older results without a timing group, its group size and value
    (members of a group got the same number)."""
    if column in frame:
        groups = frame[column].astype(object).where(frame[column].notna(), None)
        return [g if g is not None else f"alone-{i}" for i, g in enumerate(groups)]
    if column == "timing_group" and "train_group_size" in frame and values is not None:
        return [
            f"{size}:{v}" if size > 1 else f"alone-{i}"
            for i, (size, v) in enumerate(zip(frame["train_group_size"], values, strict=True))
        ]
    return [f"alone-{i}" for i in range(len(frame))]


def independent(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, int]:
    """One value per independent measurement of `column`, and the most rows one measurement
    stands for. A metric shared in a vectorized group (suite.metrics) was measured once for
    the whole `timing_group`: its rows are one observation, not many."""
    metric = metrics.column(column).metric
    values = frame[column]
    if metric.shared_by is None:
        return clean(values), 1
    ids = measurement_ids(frame, values, metric.shared_by)
    table = pd.DataFrame({"id": ids, "v": values.to_numpy()}).dropna()
    per = table.groupby("id", sort=False)["v"]
    return clean(per.first()), int(per.size().max()) if len(table) else 1


# ---- paired comparisons ----------------------------------------------------------------------


def higher_is_better(column: str) -> bool:
    """The metric registry's direction for a result column."""
    return metrics.column(column).metric.higher_is_better


@dataclass
class Paired:
    """One variant against the baseline on one metric, paired by seed (and test example)."""

    n: int  # seeds both have
    base: float  # baseline mean over those seeds
    mean: float  # variant mean over those seeds
    diff: float  # mean of (variant − baseline)
    lo: float
    hi: float
    better: int  # seeds where the variant is better
    worse: int
    p: float  # two-sided: paired permutation (sign-flip) over seeds
    sd: float = math.nan  # standard deviation of the per-seed differences
    sources: str = "seeds"  # what the interval and test cover
    p_improve: float = math.nan  # rliable's P(variant > baseline) over seed values, ties half
    examples: int = 0  # test examples paired, for two-level comparisons
    se: float = math.nan  # standard error of diff under the interval's model
    df: float = math.nan  # degrees of freedom of the interval's t quantile

    @property
    def has_ci(self) -> bool:
        return not math.isnan(self.lo)

    @property
    def constant(self) -> bool:
        """The same Δ in every seed (and example): no interval, since its spread is unknown, not
        zero; the exact sign-flip test alone decides."""
        return self.n >= MIN_SEEDS and self.sd == 0 and not self.has_ci


def probability_of_improvement(base: np.ndarray, other: np.ndarray, higher: bool) -> float:
    """rliable's P(X > Y) over per-seed values (seed means, in a two-level comparison): over
    every pair (other_i, base_j), 1 if other is better, ½ if tied."""
    if len(base) == 0 or len(other) == 0:
        return math.nan
    d = other[:, None] - base[None, :]
    if not higher:
        d = -d
    return float(((d > 0) + 0.5 * (d == 0)).mean())


def paired(base: pd.Series, other: pd.Series, metric: str) -> Paired:
    """Compare two per-seed series (indexed by seed): only seeds both have count."""
    both = pd.concat({"b": base, "o": other}, axis=1).dropna()
    b, o = both["b"].to_numpy(float), both["o"].to_numpy(float)
    d = o - b
    n = len(d)
    higher = higher_is_better(metric)
    sign = 1 if higher else -1
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
        sd=float(d.std(ddof=1)) if n > 1 else math.nan,
        p_improve=probability_of_improvement(b, o, higher),
    )
    if n < MIN_SEEDS:
        return out
    if better == worse == 0:  # identical in every seed: Δ is exactly 0, as measured (no interval)
        out.diff, out.p, out.sd, out.se = 0.0, 1.0, 0.0, 0.0
        return out
    out.df = n - 1
    if constant(d):  # the same Δ in every seed: no interval (spread unknown); the exact test decides
        out.sd = out.se = 0.0
    else:
        out.lo, out.hi = t_interval(d)
        out.se = out.sd / math.sqrt(n)
    out.p = sign_flip_p(o, b)
    return out


def sign_flip_p(other: np.ndarray, base: np.ndarray) -> float:
    """Two-sided paired permutation test of mean(other − base): swaps within a pair (exact
    below RESAMPLES sign patterns)."""
    res = stats.permutation_test(
        (other, base),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",  # swaps within a seed's pair: a sign flip of d
        vectorized=True,
        n_resamples=RESAMPLES,
        alternative="two-sided",
        rng=np.random.default_rng(SEED),
    )
    return float(res.pvalue)


MAX_SEEDS_ESTIMATE = 1000  # beyond this an estimate says "more than", not a number


def seeds_needed(
    sd: float, effect: float, alpha: float, power: float = 0.8, fixed_var: float = 0.0
) -> int | None:
    """Seeds a paired test at level alpha would need to detect `effect` with `power`, given the
    per-seed sd of the differences (normal approximation; at least what the exact sign-flip
    test needs to reach alpha at all). `fixed_var` is variance more seeds do not remove (the test
    set's own, in a two-level comparison): when it alone hides the effect, no seed count will do
    and the answer is MAX_SEEDS_ESTIMATE + 1. None when it cannot be estimated."""
    if not (math.isfinite(sd) and math.isfinite(effect)) or effect <= 0 or sd < 0:
        return None
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    room = (effect / z) ** 2 - max(fixed_var, 0.0)
    if room <= 0:
        return MAX_SEEDS_ESTIMATE + 1
    floor = math.ceil(math.log2(2 / alpha))  # 2 / 2^n ≤ alpha
    if sd == 0:  # the same Δ in every seed: only the exact test's floor stands in the way
        return max(floor, MIN_SEEDS)
    return min(max(math.ceil(sd**2 / room), floor, MIN_SEEDS), MAX_SEEDS_ESTIMATE + 1)


def min_p(n: int) -> float:
    """The smallest two-sided p a paired sign-flip test over n seeds can give (exact test)."""
    return min(1.0, 2.0 / 2**n)


# ---- scaling exponents -----------------------------------------------------------------------


def loglog_slope(t: np.ndarray, y: np.ndarray) -> float:
    """The exponent k of y ∝ T^k: the least-squares slope on log-log axes."""
    ok = np.isfinite(y) & (y > 0) & np.isfinite(t) & (t > 0)
    if ok.sum() < 2 or np.unique(t[ok]).size < 2:
        return math.nan
    return float(np.polyfit(np.log(t[ok]), np.log(y[ok]), 1)[0])


def exponent(frame: pd.DataFrame, x: str, y: str) -> tuple[float, float, float]:
    """Exponent of y against x with a 95% Student-t interval over independent curves: a slope is
    fitted to each seed's (or measurement's) whole curve and the interval is `t_interval` of those
    slopes, as for any mean over seeds (a percentile bootstrap over a handful of curves
    undercovers: 3 curves have 10 distinct resamples). With an interval the exponent is the mean
    slope (equal to the pooled fit where every curve has the same lengths); without one (below
    MIN_SEEDS curves, or every curve's slope the same: a zero-width interval would claim a spread
    of zero) it is the pooled fit over all rows. frame: seed, x, y."""
    k = loglog_slope(frame[x].to_numpy(float), frame[y].to_numpy(float))
    slopes = clean(loglog_slope(g[x].to_numpy(float), g[y].to_numpy(float)) for _, g in frame.groupby("seed"))
    if len(slopes) < MIN_SEEDS or math.isnan(k):
        return k, math.nan, math.nan
    if all(constant(clean(g[y])) for _, g in frame.groupby(x)):  # one curve, copied: spread unknown
        return k, math.nan, math.nan
    lo, hi = t_interval(slopes)
    return (k if math.isnan(lo) else float(slopes.mean())), lo, hi  # every slope the same: no interval


# ---- contrast tests: one verdict family, tests a design can reach ---------------------------------


@dataclass
class Test:
    """One contrast on one dataset and metric: Δ per seed (or per seed × example), its test and
    the pieces its interval is made of."""

    n: int  # paired seeds
    diff: float  # mean Δ
    sd: float  # standard deviation of the per-seed Δ
    se: float  # standard error of diff (0 where every Δ is the same)
    df: float
    p: float  # unadjusted two-sided p (NaN: not tested)
    test: str  # "t", "two-level t", "sign" (the same Δ in every seed), "identical", "none"
    agree: int  # seeds whose Δ has the sign of the mean Δ
    sources: str = "seeds"
    examples: int = 0
    p_adj: float = math.nan  # Holm-adjusted over the verdict family
    confidence: float = CONFIDENCE  # of the interval below
    lo: float = math.nan
    hi: float = math.nan
    rejected: bool = False

    @property
    def has_ci(self) -> bool:
        return not math.isnan(self.lo)

    @property
    def constant(self) -> bool:
        return self.test == "sign"

    def interval(self, confidence: float) -> tuple[float, float]:
        """The t interval at `confidence` (NaN where Δ is the same in every seed: spread unknown)."""
        if not (self.se > 0 and math.isfinite(self.df)):
            return math.nan, math.nan
        half = float(stats.t.ppf(0.5 + confidence / 2, self.df)) * self.se
        return self.diff - half, self.diff + half


def _agree(per_seed: np.ndarray, mean: float) -> int:
    tol = 1e-12 * max(1.0, float(np.abs(per_seed).max())) if len(per_seed) else 0.0
    if abs(mean) <= tol:
        return 0
    return int((np.sign(mean) * per_seed > tol).sum())


def seed_test(d, se=None, name: str = "t", sources: str | None = None) -> Test:
    """Per-seed Δ of a contrast: a paired (one-sample) t test, which reaches any p at any n ≥ 3;
    where every seed gives the same nonzero Δ the t statistic is undefined (zero spread), and the
    exact sign test decides: all n seeds agree, p = 2 / 2^n; all Δ zero: identical, p = 1.
    `se(d)` replaces the standard error sd/√n and `name` the test's (the corrected resampled t over
    folds, suite.report.resampling); `sources` says what the replicates are (Test's default: seeds)."""
    d = clean(d)
    n = len(d)
    mean = float(d.mean()) if n else math.nan
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    extra = () if sources is None else (sources,)
    out = Test(n, mean, sd, math.nan, float(n - 1), math.nan, "none", _agree(d, mean) if n else 0, *extra)
    if n < MIN_SEEDS:
        return out
    if constant(d):
        out.sd = out.se = 0.0
        out.test, out.p = ("identical", 1.0) if mean == 0 else ("sign", min_p(n))
        out.agree = 0 if mean == 0 else n
        return out
    out.se = sd / math.sqrt(n) if se is None else se(d)
    out.test = name
    out.p = float(2 * stats.t.sf(abs(mean) / out.se, n - 1))
    return out


def example_test(matrix: np.ndarray) -> Test:
    """A contrast's seeds × examples matrix of Δ on a held-out split: the two-level t (see
    `two_level`); the same Δ everywhere is decided over seeds, as in `seed_test`."""
    matrix = np.asarray(matrix, dtype=float)
    s, n = matrix.shape
    per_seed = matrix.mean(axis=1)
    if s < MIN_SEEDS or n < 2 or constant(matrix.ravel()):
        out = seed_test(per_seed)
        out.examples = n
        return out
    mean, lo, hi, df = two_level(matrix)
    se = (hi - mean) / float(stats.t.ppf(0.5 + CONFIDENCE / 2, df))
    sd = float(per_seed.std(ddof=1))
    p = float(2 * stats.t.sf(abs(mean) / se, df)) if se > 0 else 0.0
    return Test(s, mean, sd, se, df, p, "two-level t", _agree(per_seed, mean), "seeds × test examples", n)


def t_pvalues(d: np.ndarray) -> np.ndarray:
    """`seed_test`' p for each row of d (..., n), vectorised for the simulations."""
    n = d.shape[-1]
    mean, sd = d.mean(axis=-1), d.std(axis=-1, ddof=1)
    equal = np.ptp(d, axis=-1) <= 1e-12 * np.maximum(1.0, np.abs(d).max(axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.abs(mean) / (sd / math.sqrt(n))
    p = 2 * stats.t.sf(t, n - 1)
    return np.where(equal, np.where(mean == 0, 1.0, min_p(n)), p)


def holm_levels(pvalues, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Holm over the last axis: (adjusted p, rejected, the level each hypothesis was tested at).
    The k-th smallest p (from 0) is tested at alpha / (m − k) while every smaller one was
    rejected; a hypothesis not rejected gets the level of the first that failed, alpha / (m − r)
    with r rejected. An interval at confidence 1 − level therefore excludes 0 exactly when the
    hypothesis is rejected (a t test's p < γ iff its 1 − γ interval excludes 0). NaN p: untested."""
    p = np.asarray(pvalues, dtype=float)
    flat = p.reshape(-1, p.shape[-1]) if p.ndim else p.reshape(1, 1)
    adj = np.full_like(flat, np.nan)
    rej = np.zeros(flat.shape, bool)
    level = np.full_like(flat, np.nan)
    for row in range(flat.shape[0]):
        idx = np.flatnonzero(np.isfinite(flat[row]))
        m = len(idx)
        if not m:
            continue
        order = idx[np.argsort(flat[row, idx], kind="stable")]
        thresholds = alpha / (m - np.arange(m))
        scaled = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * flat[row, order]))
        passed = flat[row, order] < thresholds
        r = int(np.argmin(passed)) if not passed.all() else m
        adj[row, order] = scaled
        rej[row, order[:r]] = True
        level[row, order] = np.where(np.arange(m) < r, thresholds, alpha / (m - r) if r < m else alpha)
    shape = p.shape if p.ndim else ()
    return adj.reshape(shape), rej.reshape(shape), level.reshape(shape)


def family(tests: list[Test], alpha: float = ALPHA) -> None:
    """Holm over one verdict family; each interval at the level its hypothesis was tested at."""
    if not tests:
        return
    adj, rej, level = holm_levels([t.p for t in tests], alpha)
    for t, q, r, lv in zip(tests, adj, rej, level, strict=True):
        t.p_adj, t.rejected = float(q), bool(r)
        t.confidence = 1 - float(lv) if math.isfinite(lv) else CONFIDENCE
        t.lo, t.hi = t.interval(t.confidence)


def describe(t: Test) -> None:
    """A metric outside the family: an unadjusted 95% interval, no verdict."""
    t.confidence = CONFIDENCE
    t.lo, t.hi = t.interval(CONFIDENCE)
