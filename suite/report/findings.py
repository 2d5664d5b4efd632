"""Health, comparisons against the baseline and the sentences they support, top-down.

Every sentence here is made from a number computed in `suite.report.stats` and judged
in `suite.report.verdicts`: a difference is called better or worse only when it is
significant (Holm-corrected p < 0.05 and a CI that excludes zero; the same Δ in every seed has
no interval, and the exact sign-flip test alone decides) and larger than the metric's
`min_effect`; otherwise it reads negligible, equivalent or inconclusive (with
the seeds needed), and two variants that both failed to learn are never ranked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from suite import metrics
from suite.report.load import (
    Results,
    example_matrix,
    headline_accuracy,
    headline_stage,
    metric_name,
    quality_metrics,
)
from suite.report.stats import (
    MIN_SEEDS,
    Paired,
    correct,
    exponent,
    fmt,
    measurement_ids,
    min_p,
    paired,
    paired_examples,
    signed,
    t_interval,
)
from suite.report.verdicts import Health, Verdict, health, judge, seeds_phrase, verdict_text


def scaling_costs() -> dict[str, tuple[str, str]]:
    """Column → (axis label with unit, what the finding calls it): the costs fitted against T."""
    return {m.name: m.scaling for m in metrics.every("cost") if m.scaling}


def min_effects(results: Results) -> dict[str, float]:
    """The study's `min_effect` overrides (metric name → absolute threshold)."""
    return dict((results.meta.get("spec") or {}).get("min_effect") or {})


def healths(results: Results) -> dict[tuple[str, str], Health]:
    """(dataset, variant) → health at the reported epoch, from every finished trial."""
    out = {}
    done = results.finished
    margin = min_effects(results).get("accuracy")
    for dataset in results.datasets():
        g = done[done["dataset"] == dataset]
        stage = headline_stage(g)
        train = f"{stage}_train_accuracy" if g["eval_split"].iloc[0] != "train" else None
        for variant, v in g.groupby("variant", observed=True, sort=False):
            out[(dataset, str(variant))] = health(v, f"{stage}_accuracy", f"{stage}_loss", train, margin)
    return out


@dataclass
class Comparison:
    dataset: str
    variant: str
    metric: str
    split: str
    result: Paired
    baseline: str = ""
    verdict: Verdict | None = None
    notes: list[str] = field(default_factory=list)


def grid_baseline(variant: str, baseline: str, labels: set[str]) -> str:
    """The baseline at the variant's own grid point: labels end in '[axis=value, ...]'."""
    if "[" not in variant or "[" not in baseline:
        return baseline
    point = variant[variant.index("[") :]
    candidate = baseline[: baseline.index("[")] + point
    return candidate if candidate in labels and candidate != variant else baseline


def compare_to_baseline(results: Results) -> list[Comparison]:
    """Every other variant against the baseline (at the same grid point), per dataset and
    quality metric, paired by seed (and device; and test example where predictions were
    recorded), Holm-corrected across all of them together, then judged."""
    baseline = results.baseline
    ok = results.finished
    if baseline is None or ok.empty:
        return []
    state = healths(results)
    out = []
    for dataset in results.datasets():
        g = ok[ok["dataset"] == dataset]
        split = g["eval_split"].iloc[0]
        labels = {str(v) for v in g["variant"].unique()}
        for metric in quality_metrics(g):
            for variant in g["variant"].cat.categories:
                base_label = grid_baseline(str(variant), baseline, labels)
                mine = g[g["variant"] == variant]
                if variant == base_label or mine.empty:
                    continue
                base = g[g["variant"] == base_label].set_index(["seed", "device"])
                result = _paired(results, base, mine.set_index(["seed", "device"]), metric)
                out.append(Comparison(dataset, str(variant), metric, split, result, base_label))
    correct([c.result for c in out])
    overrides = min_effects(results)
    for c in out:
        metric = metrics.column(c.metric).metric
        mine, theirs = state.get((c.dataset, c.variant)), state.get((c.dataset, c.baseline))
        both_failed = bool(mine and theirs and mine.failed and theirs.failed)
        c.verdict = judge(c.result, c.metric, len(out), overrides.get(metric.name), both_failed)
        for side, h in ((c.baseline, theirs), (c.variant, mine)):
            if h and h.failed and not both_failed:
                c.notes.append(f"{side} {h.state}")
    return out


def _paired(results: Results, base: pd.DataFrame, mine: pd.DataFrame, metric: str) -> Paired:
    """Two-level (seeds × test examples) where both sides have predictions on the eval split at
    the reported epoch, else over seeds."""
    col = metrics.column(metric)
    held_out = base["eval_split"].iloc[0] != "train"  # the course's toy sets: eval = train, no sample
    if held_out and col.split is None and col.stage == headline_stage(base) and not results.predictions.empty:
        common = base.index.intersection(mine.index)
        if len(common) >= MIN_SEEDS:
            a = example_matrix(results.predictions, list(base.loc[common, "key"]), col.metric.name)
            b = example_matrix(results.predictions, list(mine.loc[common, "key"]), col.metric.name)
            if a is not None and b is not None and a.shape == b.shape:
                return paired_examples(a, b, metric)
    return paired(base[metric], mine[metric], metric)


def _clause(c: Comparison) -> str:
    r = c.result
    name = metric_name(c.metric, c.split)
    verb = "rises" if r.diff > 0 else "falls"
    metric = metrics.column(c.metric).metric
    improved = metric.better(r.diff)
    count = f"{'better' if improved else 'worse'} in {r.better if improved else r.worse}/{r.n} seeds"
    if r.constant:
        spread = f"Δ {signed(r.diff)} in every seed"
    else:
        spread = f"Δ {signed(r.diff)}, 95% CI [{fmt(r.lo)}, {fmt(r.hi)}] over {r.sources}"
    pi = f", P(improvement) {r.p_improve:.2f}" if not math.isnan(r.p_improve) else ""
    return (
        f"{name} {verb} from {fmt(r.base)} to {fmt(r.mean)} ({spread}, {count}{pi}, "
        f"Holm p = {fmt(r.p_holm, 4)})"
    )


def health_findings(results: Results, state: dict[tuple[str, str], Health]) -> list[str]:
    """The first paragraph: which variants learned each task, and which did not (and why)."""
    lines = []
    for dataset in results.datasets():
        mine = {v: h for (d, v), h in state.items() if d == dataset}
        if not mine:
            continue
        by_state: dict[str, list[str]] = {}
        why_once: dict[str, str] = {}
        for variant, h in mine.items():
            plain = h.state in ("learned", "unknown")
            by_state.setdefault(h.state, []).append(variant if plain else f"{variant} ({h.why})")
            if h.state == "unknown":
                why_once[h.state] = h.why
        parts = [
            f"{s} ({why_once[s]}): {', '.join(vs)}" if s in why_once else f"{s}: {', '.join(vs)}"
            for s, vs in by_state.items()
        ]
        lines.append(f"Health on **{dataset}** at the reported epoch — " + "; ".join(parts) + ".")
    return lines


def summary_findings(results: Results, state: dict[tuple[str, str], Health]) -> list[str]:
    """One line per dataset: variants ranked by the primary metric, ties (within min_effect) grouped."""
    ok = results.finished
    overrides = min_effects(results)
    lines = []
    for dataset in results.datasets():
        g = ok[ok["dataset"] == dataset]
        column = headline_accuracy(g)
        metric = metrics.column(column).metric
        means = g.groupby("variant", observed=True)[column].mean().dropna()
        if means.empty:
            continue
        ranked = means.sort_values(ascending=not metric.higher_is_better)
        threshold = metric.min_effect(float(ranked.iloc[0]), overrides.get(metric.name))
        groups: list[list[str]] = []
        last = None
        for variant, value in ranked.items():
            h = state.get((dataset, str(variant)))
            text = f"{variant} {metric.format(value)}" + (f" ({h.state})" if h and h.failed else "")
            if last is not None and abs(value - last) <= threshold:
                groups[-1].append(text)
            else:
                groups.append([text])
            last = value
        order = " > ".join(" ≈ ".join(group) for group in groups)
        failed = [v for (d, v), h in state.items() if d == dataset and h.failed]
        tail = f"; failed to learn or diverged: {', '.join(failed)}" if failed else ""
        lines.append(
            f"**{dataset}**, {metric_name(column, g['eval_split'].iloc[0])}, ranked by mean (≈: within "
            f"{metric.format(threshold)}; a rank is not a verdict, see below): {order}{tail}."
        )
    return lines


def comparison_findings(comparisons: list[Comparison], baseline: str) -> list[str]:
    """The detailed comparisons: decided ones first, a sentence each; then, per dataset, the
    negligible, equivalent and inconclusive ones, and the pairs that both failed."""
    lines = []
    groups: dict[tuple[str, str], list[Comparison]] = {}
    for c in comparisons:
        groups.setdefault((c.dataset, c.variant), []).append(c)
    rest: dict[tuple[str, str], list[str]] = {}  # (verdict, dataset) → clauses
    for (dataset, variant), cs in groups.items():
        decided = [c for c in cs if c.verdict.decided]
        base = cs[0].baseline or baseline
        if decided:
            note = f" ({'; '.join(cs[0].notes)})" if cs[0].notes else ""
            clauses = "; ".join(
                f"{_clause(c)}: {verdict_text(c.verdict, c.result, c.metric)}" for c in decided
            )
            lines.append(f"On **{dataset}**, **{variant}** vs {base}{note}: {clauses}.")
        for c in cs:
            if c.verdict.decided:
                continue
            metric = metrics.column(c.metric).metric
            what = f"{variant}, {metric_name(c.metric, c.split)} Δ {signed(c.result.diff)}"
            word = c.verdict.word
            if word == "negligible":
                clause = f"{what} (size ≤ {metric.format(c.verdict.min_effect)})"
            elif word == "equivalent":
                clause = f"{what} (within ±{metric.format(c.verdict.min_effect)})"
            elif word == "inconclusive":
                ci = (
                    f" [{fmt(c.result.lo)}, {fmt(c.result.hi)}] over {c.result.sources}"
                    if c.result.has_ci
                    else ""
                )
                clause = f"{what}{ci} (Holm p = {fmt(c.result.p_holm, 4)}{seeds_phrase(c.verdict)})"
            elif word in ("both failed", "too few seeds"):
                clause = variant
            else:  # identical
                clause = f"{variant}, {metric_name(c.metric, c.split)}"
            if clause not in rest.setdefault((word, dataset), []):
                rest[(word, dataset)].append(clause)
    heads = {
        "negligible": "significant but smaller than the smallest effect worth a word (negligible) against {b}",
        "equivalent": "equivalent to {b} (TOST at 5%)",
        "inconclusive": "inconclusive against {b} (neither a difference nor equivalence is shown; not "
        "evidence of no effect)",
        "both failed": "not compared with {b} (no verdict): both failed to learn the task",
        "identical": "identical to {b} in every seed",
        "too few seeds": f"fewer than {MIN_SEEDS} paired seeds with {{b}}, so no interval or test can be trusted",
    }
    for word, head in heads.items():
        for (w, dataset), clauses in rest.items():
            if w == word:
                lines.append(f"On **{dataset}**, {head.format(b=baseline)}: " + "; ".join(clauses) + ".")
    return lines


def method_note(results: Results, comparisons: list[Comparison]) -> str:
    seeds = results.finished.groupby(["dataset", "variant"], observed=True)["seed"].nunique()
    n = int(seeds.min()) if len(seeds) else 0
    if not comparisons:
        return ""
    m = sum(1 for c in comparisons if not math.isnan(c.result.p))
    two = any(c.result.sources != "seeds" for c in comparisons)
    overrides = min_effects(results)
    loss, acc = metrics.get("loss"), metrics.get("accuracy")
    thresholds = (
        f"accuracy {overrides['accuracy']}" if "accuracy" in overrides else f"accuracy {acc.min_effect_abs}"
    ) + (
        f", loss {overrides['loss']}"
        if "loss" in overrides
        else f", loss max({loss.min_effect_abs}, {loss.min_effect_rel:.0%} of the baseline's)"
    )
    level = (
        "On the eval split's loss and accuracy, where every trial recorded its per-example predictions, "
        "the interval and test cover seeds and test examples (two-level: var(seed means)/S + "
        "var(example means)/N, t at Welch–Satterthwaite df); P(improvement) is still over the seed "
        "means. "
        if two
        else ""
    )
    return (
        f"Each variant is compared with the baseline **{results.baseline}** (at the same grid point, if "
        f"any) paired by seed: the mean difference Δ (variant − baseline) with a 95% Student-t interval "
        f"(none where Δ is the same in every seed: its spread is unknown, and the exact test alone decides), "
        f"the seeds in which the variant is better, P(improvement) (rliable's P(X > Y) over the seeds' "
        f"values: the share of (variant seed, baseline seed) pairs in which the variant is better, ties "
        f"half) and a "
        f"two-sided paired permutation (sign-flip) test. {level}p values are Holm-corrected across the "
        f"{m} comparisons of this report. Verdicts: **better/worse** when the corrected p < 0.05, the CI "
        f"excludes 0 and |Δ| exceeds the smallest effect worth a word ({thresholds}); negligible when "
        f"significant but smaller; equivalent when the 90% interval lies inside ±that effect (TOST); "
        f"inconclusive otherwise, with the seeds a paired test at Holm's first threshold would need for "
        f"80% power. With {n} seeds the smallest p a sign-flip test can give is {fmt(min_p(n), 4)}, "
        f"against a first Holm threshold of {fmt(0.05 / max(m, 1), 4)}."
    )


# ---- scaling ---------------------------------------------------------------------------------


def scaling_frame(results: Results) -> pd.DataFrame | None:
    """Cost per trial against T, where one dataset is run at three or more lengths."""
    ok = results.finished
    if "T" not in ok or ok["T"].dropna().nunique() < 3:
        return None
    frame = ok[ok["T"].notna()].copy()
    frame["T"] = frame["T"].astype(float)
    with np.errstate(divide="ignore"):
        for m in metrics.every("cost"):
            if m.reciprocal_of and m.reciprocal_of in frame:
                frame[m.name] = 1.0 / frame[m.reciprocal_of]
    frame["variant"] = frame["variant"].astype(str)
    return frame


def fit_range(frame: pd.DataFrame) -> list[float]:
    """The lengths an exponent is fitted over: the three largest, where fixed per-call
    overheads matter least (all of them when there are only three)."""
    return sorted(frame["T"].unique())[-3:]


def measurements(g: pd.DataFrame, column: str) -> tuple[pd.DataFrame, int]:
    """Rows (seed, T, column) with one row per independent measurement: a value the registry
    says is shared (a vectorized group's training time, a memory group's peak memory) counts
    once; the second value is the most trials one measurement covers."""
    metric = metrics.get(column)
    if metric.shared_by is None:
        return g[["seed", "T", column]], 1
    frame = g.assign(_m=measurement_ids(g, g[column], metric.shared_by))
    per = frame.groupby(["T", "_m"], sort=False)
    one = per.first().reset_index()
    one["seed"] = one.groupby("T").cumcount()  # measurements at one length, numbered
    return one[["seed", "T", column]], int(per.size().max())


def scaling_points(frame: pd.DataFrame) -> pd.DataFrame:
    """What the scaling figure draws: per (column, variant, T) the mean of the independent
    measurements and its 95% Student-t interval over them (NaN below MIN_SEEDS measurements,
    e.g. one shared by the whole group). Columns: column, variant, T, mean, lo, hi, n."""
    rows = []
    for column in scaling_costs():
        if column not in frame:
            continue
        data = frame[frame[column].notna() & (frame[column] > 0)]
        for variant, g in data.groupby("variant", sort=False):
            one, _ = measurements(g, column)
            for t, v in one.groupby("T", sort=True):
                values = v[column].to_numpy(float)
                lo, hi = t_interval(values)
                rows.append(
                    {"column": column, "variant": variant, "T": t, "mean": values.mean(), "lo": lo, "hi": hi,
                     "n": len(values)}
                )  # fmt: skip
    return pd.DataFrame(rows, columns=["column", "variant", "T", "mean", "lo", "hi", "n"])


def scaling_exponents(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float, float, int, int]]:
    """(column, variant) → (exponent, lo, hi, trials per measurement, fewest measurements at a length)."""
    lengths = fit_range(frame)
    fitted = frame[frame["T"].isin(lengths)]
    out = {}
    for column in scaling_costs():
        if column not in frame:
            continue
        for variant, g in fitted.groupby("variant", sort=False):
            if g[column].notna().sum() >= 2:
                rows, shared = measurements(g, column)
                fewest = int(rows.groupby("T")[column].count().min())
                out[(column, variant)] = (*exponent(rows, "T", column), shared, fewest)
    return out


def scaling_findings(frame: pd.DataFrame, exponents: dict) -> list[str]:
    lengths = fit_range(frame)
    span = f"T = {int(lengths[0])}–{int(lengths[-1])}"
    lines = []
    for column, (_, what) in scaling_costs().items():
        found = [(v, k) for (c, v), k in exponents.items() if c == column and not math.isnan(k[0])]
        if not found:
            continue
        found.sort(key=lambda x: -x[1][0])
        parts = []
        for variant, (k, lo, hi, shared, fewest) in found:
            if not math.isnan(lo):
                ci = f" [{lo:.2f}, {hi:.2f}]"
            elif shared > 1 and fewest == 1:
                ci = f" (1 measurement per length, shared by {shared} trials; no CI)"
            elif shared > 1 and fewest < MIN_SEEDS:
                ci = f" ({fewest} measurements per length, each shared by up to {shared} trials; no CI)"
            elif fewest < MIN_SEEDS:
                ci = f" (no CI: fewer than {MIN_SEEDS} measurements per length)"
            else:
                ci = " (every measurement's curve gives the same exponent; no CI)"
            parts.append(f"{variant} T^{k:.2f}{ci}")
        lines.append(
            f"{what} grows as (fitted over {span}, 95% CI over independent measurements): "
            + ", ".join(parts)
            + "."
        )
    return lines
