"""What a number means: the health of a variant, and the verdict on a comparison.

Health comes before any comparison: a variant that never learned the task (eval
accuracy not clearly above the majority class, or eval loss no better than the best
constant predictor) cannot be better or worse than another such variant in any sense
worth a sentence. A comparison's verdict then weighs significance against the
smallest effect worth a word (`min_effect`, suite.metrics, overridable per study):

- **better / worse**: significant (Holm p < 0.05 and the CI excludes 0) and |Δ| > min_effect;
- **negligible**: significant, but |Δ| ≤ min_effect;
- **equivalent**: not significant, and the 90% interval of Δ lies inside ±min_effect (TOST at 5%);
- **inconclusive**: anything else, with the seeds that would resolve it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from suite import metrics
from suite.report.stats import ALPHA, MAX_SEEDS_ESTIMATE, MIN_SEEDS, Paired, clean, seeds_needed, t_interval

OVERFIT_GAP = 0.10  # train accuracy above eval accuracy by more than this: overfit
LEARNED, OVERFIT, FAILED, DIVERGED, UNKNOWN = "learned", "overfit", "failed to learn", "diverged", "unknown"
FAILURES = (FAILED, DIVERGED)


@dataclass
class Health:
    state: str
    why: str  # the numbers behind it, in words

    @property
    def failed(self) -> bool:
        return self.state in FAILURES


def health(runs, accuracy: str, loss: str, train_accuracy: str | None, margin: float | None = None) -> Health:
    """The health of one variant on one dataset from its trials' rows (pandas rows of runs.parquet):
    `accuracy`/`loss` name the eval-split columns, `train_accuracy` the train split's, all at the
    reported epoch. Learned means the accuracy interval's lower end clears the majority class by
    more than `margin` (default: accuracy's min_effect)."""
    if margin is None:
        margin = metrics.get("accuracy").min_effect(math.nan)
    n = len(runs)
    diverged = int((runs["status"] == "diverged").sum())
    if diverged:
        return Health(DIVERGED, f"{diverged}/{n} seeds diverged")
    if "chance_accuracy" not in runs or runs["chance_accuracy"].isna().all():
        return Health(UNKNOWN, "no chance level recorded (results older than this report)")
    acc = clean(runs[accuracy])
    chance = float(runs["chance_accuracy"].max())
    chance_loss = float(runs["chance_loss"].min())
    mean_loss = float(np.mean(clean(runs[loss]))) if loss in runs else math.nan
    lo, _ = metrics.get("accuracy").clip(*t_interval(acc))
    low_bound = lo if not math.isnan(lo) else float(acc.min()) if len(acc) else math.nan
    if len(acc) and (low_bound <= chance + margin or mean_loss >= chance_loss):
        reason = (
            f"eval accuracy {acc.mean():.3f} (lower bound {low_bound:.3f}) vs majority class {chance:.3f}"
            if low_bound <= chance + margin
            else f"eval loss {mean_loss:.3f} ≥ {chance_loss:.3f}, the best constant predictor's, though "
            f"accuracy {acc.mean():.3f} beats the majority class {chance:.3f}: overconfident"
        )
        return Health(FAILED, reason)
    if train_accuracy and train_accuracy in runs:
        gap = float(np.mean(clean(runs[train_accuracy]))) - float(acc.mean())
        if gap > OVERFIT_GAP:
            return Health(OVERFIT, f"train accuracy exceeds eval accuracy by {gap:.3f}")
    return Health(LEARNED, f"eval accuracy {acc.mean():.3f} vs majority class {chance:.3f}")


@dataclass
class Verdict:
    word: str  # better, worse, negligible, equivalent, inconclusive, both failed, identical, too few seeds
    min_effect: float
    seeds_needed: int | None = None

    @property
    def decided(self) -> bool:
        return self.word in ("better", "worse")


def judge(
    c: Paired,
    column: str,
    comparisons: int,
    override: float | None = None,
    both_failed: bool = False,
) -> Verdict:
    """The verdict on one comparison (after `stats.correct`); `comparisons` is how many the
    report Holm-corrects over (for the seed estimate)."""
    metric = metrics.column(column).metric
    threshold = metric.min_effect(c.base, override)
    if both_failed:
        return Verdict("both failed", threshold)
    if c.n < MIN_SEEDS:
        return Verdict("too few seeds", threshold)
    if c.better == c.worse == 0 and c.diff == 0 and c.constant:
        return Verdict("identical", threshold)
    if c.significant:
        if abs(c.diff) > threshold:
            return Verdict("better" if metric.better(c.diff) else "worse", threshold)
        return Verdict("negligible", threshold)
    if _equivalent(c, threshold):
        return Verdict("equivalent", threshold)
    alpha = ALPHA / max(comparisons, 1)  # Holm's first threshold: the bar a new run must clear
    # The test set's share of the variance stays whatever the seed count (two-level comparisons).
    fixed = max(c.se**2 - c.sd**2 / c.n, 0.0) if c.sources != "seeds" and math.isfinite(c.se) else 0.0
    if abs(c.diff) > threshold:
        needed = seeds_needed(c.sd, abs(c.diff), alpha, fixed_var=fixed)
    elif c.constant:  # the same Δ in every seed says nothing of its spread: no count shows equivalence
        needed = None
    else:  # to show it is inside ±min_effect instead
        needed = seeds_needed(c.sd, threshold - abs(c.diff), 2 * ALPHA, fixed_var=fixed)
    return Verdict("inconclusive", threshold, needed)


def _equivalent(c: Paired, threshold: float) -> bool:
    """TOST at 5%: the 90% interval of Δ (same model as the 95% one) inside ±threshold; never
    from zero spread (the same Δ in every seed has no interval: its spread is unknown)."""
    if not c.has_ci or not (math.isfinite(c.se) and c.se > 0):
        return False
    half = stats.t.ppf(0.95, c.df) * c.se
    return c.diff - half > -threshold and c.diff + half < threshold


def seeds_phrase(v: Verdict, lead: str = ", ") -> str:
    """'≈ 24 seeds to resolve', or why no seed count would (or nothing when unknown)."""
    if not v.seeds_needed:
        return ""
    if v.seeds_needed > MAX_SEEDS_ESTIMATE:
        return f"{lead}more than {MAX_SEEDS_ESTIMATE:,} seeds to resolve on this test set"
    return f"{lead}≈ {v.seeds_needed} seeds to resolve"


def verdict_text(v: Verdict, c: Paired, column: str) -> str:
    """The words a table cell or finding uses for a verdict."""
    metric = metrics.column(column).metric
    if v.word in ("better", "worse"):
        return f"**{v.word}**"
    if v.word == "negligible":
        return f"negligible (size ≤ {metric.format(v.min_effect)})"
    if v.word == "equivalent":
        return f"equivalent (within ±{metric.format(v.min_effect)})"
    if v.word == "inconclusive":
        return f"inconclusive{seeds_phrase(v, '; ')}"
    if v.word == "too few seeds":
        return f"too few seeds ({c.n})"
    if v.word == "identical":
        return "identical in every seed"
    return v.word
