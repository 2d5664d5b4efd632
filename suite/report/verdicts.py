"""What a number means: the health of a variant, and the verdict on a contrast.

Health comes before any comparison: two variants that never learned the task (eval accuracy not
clearly above the majority class), or one that diverged, cannot be better or worse in any sense
worth a sentence, so that contrast is not compared. Overfit, overconfident and still-improving
variants are compared, and flagged beside the verdict. A contrast's verdict then weighs Holm's
decision against the smallest effect worth a word (`min_effect`, suite.metrics, overridable per
study): see `contrast_verdict` and docs/statistics.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from suite import metrics
from suite.report.resampling import FOLD_SOURCES
from suite.report.stats import ALPHA, MAX_SEEDS_ESTIMATE, MIN_SEEDS, clean, seeds_needed, t_interval

OVERFIT_GAP = 0.10  # train accuracy above eval accuracy by more than this: overfit
LEARNED, OVERFIT, FAILED, DIVERGED, UNKNOWN = "learned", "overfit", "failed to learn", "diverged", "unknown"
OVERCONFIDENT, UNDERTRAINED = "overconfident", "still improving"
FAILURES = (FAILED, DIVERGED)


@dataclass
class Health:
    """A variant's state on one dataset: `state` the first of what holds (diverged, failed to learn,
    overconfident, overfit, still improving, learned); `flags` every state that holds, each with its
    numbers in `why`. Only failed to learn and diverged stop a comparison; the others are compared and
    flagged beside the verdict."""

    state: str
    why: str  # the numbers behind it, in words
    flags: tuple[str, ...] = ()
    whys: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.state in FAILURES

    @property
    def caveats(self) -> list[str]:
        """The flags a verdict carries beside it (all but failing ones)."""
        return [f for f in self.flags if f not in FAILURES]


def health(runs, accuracy: str, loss: str, train_accuracy: str | None, margin: float | None = None) -> Health:
    """The health of one variant on one dataset from its trials' rows (pandas rows of runs.parquet):
    `accuracy`/`loss` name the eval-split columns, `train_accuracy` the train split's, all at the
    reported epoch. Learned: the accuracy interval's lower end clears the majority class by more than
    `margin` (default: accuracy's min_effect). Overconfident: it did, but the eval loss is no better
    than the best constant predictor's (confident mistakes). Overfit: train accuracy above eval by
    more than OVERFIT_GAP. Still improving: the epoch chosen on the validation split is the last one
    in most seeds (more epochs might have helped)."""
    if margin is None:
        margin = metrics.get("accuracy").min_effect(math.nan)
    n = len(runs)
    diverged = int((runs["status"] == "diverged").sum())
    if diverged:
        return Health(
            DIVERGED, f"{diverged}/{n} seeds diverged", (DIVERGED,), (f"{diverged}/{n} seeds diverged",)
        )
    if "chance_accuracy" not in runs or runs["chance_accuracy"].isna().all():
        return Health(UNKNOWN, "no chance level recorded (results older than this report)")
    acc = clean(runs[accuracy])
    chance = float(runs["chance_accuracy"].max())
    chance_loss = float(runs["chance_loss"].min())
    mean_loss = float(np.mean(clean(runs[loss]))) if loss in runs and len(clean(runs[loss])) else math.nan
    lo, _ = metrics.get("accuracy").clip(*t_interval(acc))
    low_bound = lo if not math.isnan(lo) else float(acc.min()) if len(acc) else math.nan
    flags: list[tuple[str, str]] = []
    if len(acc) and low_bound <= chance + margin:
        flags.append(
            (
                FAILED,
                f"eval accuracy {acc.mean():.3f} (lower bound {low_bound:.3f}) vs majority class {chance:.3f}",
            )
        )
    elif len(acc) and mean_loss >= chance_loss:
        flags.append(
            (
                OVERCONFIDENT,
                f"accuracy {acc.mean():.3f} (lower bound {low_bound:.3f}) beats the majority class {chance:.3f}, "
                f"but eval loss {mean_loss:.3f} ≥ {chance_loss:.3f}, the best constant predictor's",
            )
        )
    if train_accuracy and train_accuracy in runs and len(acc) and not any(f == FAILED for f, _ in flags):
        gap = float(np.mean(clean(runs[train_accuracy]))) - float(acc.mean())
        if gap > OVERFIT_GAP:
            flags.append((OVERFIT, f"train accuracy exceeds eval accuracy by {gap:.3f}"))
    last = _last_epoch_share(runs)
    if last is not None and last[0] * 2 > last[1]:
        flags.append((UNDERTRAINED, f"the val-chosen epoch is the last one in {last[0]}/{last[1]} seeds"))
    if not flags:
        return Health(LEARNED, f"eval accuracy {acc.mean():.3f} vs majority class {chance:.3f}")
    states = tuple(f for f, _ in flags)
    whys = tuple(w for _, w in flags)
    return Health(states[0], "; ".join(whys), states, whys)


def _last_epoch_share(runs) -> tuple[int, int] | None:
    """(seeds whose val-chosen epoch is the last, seeds) where an epoch was chosen on a validation
    split; None where the reported epoch is the final one by construction (no val split)."""
    if "selected_epoch" not in runs or "final_epoch" not in runs or runs["selected_epoch"].isna().all():
        return None
    if "selection" in runs:
        how = runs["selection"].dropna().astype(str)
        if len(how) and how.str.startswith(("final epoch", "final step")).all():  # a streaming run's: steps
            return None
    chosen = runs[["selected_epoch", "final_epoch"]].dropna()
    return int((chosen["selected_epoch"] >= chosen["final_epoch"]).sum()), len(chosen)


@dataclass
class Verdict:
    # better, worse, interacts, negligible, equivalent, additive, inconclusive, not compared, identical,
    # too few seeds (and, from `judge`, both failed)
    word: str
    min_effect: float
    seeds_needed: int | None = None
    unit: str = "seeds"  # what seeds_needed counts: seeds, or (seed, fold) runs of a cross-validation

    @property
    def decided(self) -> bool:
        return self.word in ("better", "worse", "interacts")


def seeds_phrase(v: Verdict, lead: str = ", ") -> str:
    """'≈ 24 seeds to resolve', or why no seed count would (or nothing when unknown)."""
    if not v.seeds_needed:
        return ""
    if v.seeds_needed > MAX_SEEDS_ESTIMATE:
        where = "on these folds" if v.unit != "seeds" else "on this test set"
        return f"{lead}more than {MAX_SEEDS_ESTIMATE:,} {v.unit} to resolve {where}"
    return f"{lead}≈ {v.seeds_needed} {v.unit} to resolve"


# ---- contrast verdicts -------------------------------------------------------------------------


def margin(metric: metrics.Metric, reference: float, chance: float, override: float | None = None) -> float:
    """The smallest effect worth a verdict, on the metric's own scale (suite.metrics.min_effect):
    for loss, relative to the reference's loss and to the chance loss, not an absolute number."""
    return metric.min_effect(reference, override, chance)


def contrast_verdict(t, metric: metrics.Metric, threshold: float, kind: str, values: tuple[float, float],
                     stopped: str | None = None, family_size: int = 1) -> Verdict:  # fmt: skip
    """The verdict on one contrast of the family (after `stats.family`), always consistent with the
    interval printed beside it: the interval excludes 0 exactly when Holm rejects.

    - not compared (`stopped`): a side diverged, or both failed to learn;
    - better / worse (an interaction: interacts): rejected and |Δ| > threshold; the same Δ in every
      seed is rejected by the exact sign test (no interval: its spread is unknown);
    - negligible: rejected, |Δ| ≤ threshold;
    - equivalent: not rejected and the printed interval inside ±threshold, where the threshold does
      not dwarf the values themselves (a margin larger than both means says nothing);
    - inconclusive otherwise, with the seeds a t test at Holm's first threshold would need."""
    if stopped:
        return Verdict("not compared", threshold)
    if t.n < MIN_SEEDS:
        return Verdict("too few seeds", threshold)
    if t.test == "identical":
        return Verdict("identical", threshold)
    if t.rejected:
        if abs(t.diff) > threshold:
            if kind == "interaction":
                return Verdict("interacts", threshold)
            return Verdict("better" if metric.better(t.diff) else "worse", threshold)
        return Verdict("negligible", threshold)
    dwarfs = threshold >= max(abs(v) for v in values) if all(math.isfinite(v) for v in values) else False
    if t.has_ci and -threshold < t.lo and t.hi < threshold and not dwarfs:
        return Verdict("additive" if kind == "interaction" else "equivalent", threshold)
    alpha = ALPHA / max(family_size, 1)
    folds = t.sources == FOLD_SOURCES  # the overlap term n_test/n_train · s² does not shrink with runs
    fixed = max(t.se**2 - t.sd**2 / t.n, 0.0) if folds and math.isfinite(t.se) else 0.0
    effect = max(abs(t.diff), threshold)
    needed = seeds_needed(t.sd, effect, alpha, fixed_var=fixed) if math.isfinite(t.sd) else None
    return Verdict("inconclusive", threshold, needed, "(seed, fold) runs" if folds else "seeds")


def contrast_text(v: Verdict, metric: metrics.Metric) -> str:
    """The words an answer sentence or table cell uses for a contrast's verdict."""
    if v.word in ("better", "worse", "interacts"):
        return f"**{v.word}**"
    if v.word == "negligible":
        return f"negligible (|Δ| ≤ {metric.format(v.min_effect)})"
    if v.word in ("equivalent", "additive"):
        return f"{v.word} (within ±{metric.format(v.min_effect)})"
    if v.word == "inconclusive":
        return f"inconclusive{seeds_phrase(v, '; ')}"
    return v.word
