"""Comparisons against the baseline and the sentences they support.

Every sentence here is made from a number computed in `suite.report.stats`; a
difference is called one only when it is significant (Holm-corrected p < 0.05
and a bootstrap CI that excludes zero), and what is not significant says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from suite.report.load import Results, metric_name, quality_metrics
from suite.report.stats import (
    MIN_SEEDS,
    Paired,
    correct,
    exponent,
    fmt,
    higher_is_better,
    min_p,
    paired,
    signed,
)

SCALING_COSTS = {  # column → (axis label with unit, what the finding calls it)
    "train_seconds_per_sample": ("training time per sample (s)", "Training time per sample"),
    "infer_seconds_per_sample": ("inference time per sample (s)", "Inference time per sample"),
    "peak_train_mem_bytes": ("peak memory of a training step (bytes)", "Peak training memory"),
    "peak_infer_mem_bytes": ("peak memory of an inference pass (bytes)", "Peak inference memory"),
}


@dataclass
class Comparison:
    dataset: str
    variant: str
    metric: str
    split: str
    result: Paired

    def row(self):
        return (self.dataset, self.variant, self.metric, self.split, self.result)


def compare_to_baseline(results: Results) -> list[Comparison]:
    """Every other variant against the baseline, per dataset and quality metric, paired by
    seed (and device), Holm-corrected across all of them together."""
    baseline = results.baseline
    ok = results.finished
    if baseline is None or ok.empty:
        return []
    out = []
    for dataset in results.datasets():
        g = ok[ok["dataset"] == dataset]
        split = g["eval_split"].iloc[0]
        base = g[g["variant"] == baseline].set_index(["seed", "device"])
        for metric in quality_metrics(g):
            for variant in g["variant"].cat.categories:
                mine = g[g["variant"] == variant]
                if variant == baseline or mine.empty:
                    continue
                result = paired(base[metric], mine.set_index(["seed", "device"])[metric], metric)
                out.append(Comparison(dataset, str(variant), metric, split, result))
    correct([c.result for c in out])
    return out


def _clause(c: Comparison) -> str:
    r = c.result
    name = metric_name(c.metric, c.split)
    good = higher_is_better(c.metric)
    verb = "rises" if r.diff > 0 else "falls"
    improved = (r.diff > 0) == good
    count = f"{'better' if improved else 'worse'} in {r.better if improved else r.worse}/{r.n} seeds"
    if r.lo == r.hi:
        spread = f"Δ {signed(r.diff)} in every seed"
    else:
        spread = f"Δ {signed(r.diff)}, 95% CI [{fmt(r.lo)}, {fmt(r.hi)}]"
    return (
        f"{name} {verb} from {fmt(r.base)} to {fmt(r.mean)} ({spread}, {count}, Holm p = {fmt(r.p_holm, 4)})"
    )


def comparison_findings(comparisons: list[Comparison], baseline: str) -> list[str]:
    lines = []
    groups: dict[tuple[str, str], list[Comparison]] = {}
    for c in comparisons:
        groups.setdefault((c.dataset, c.variant), []).append(c)
    quiet, same, few = [], [], []
    for (dataset, variant), cs in groups.items():
        significant = [c for c in cs if c.result.significant]
        if significant:
            clauses = "; ".join(_clause(c) for c in significant)
            rest = [c for c in cs if not c.result.significant]
            tail = ""
            if rest:
                tail = "; no significant difference in " + ", ".join(
                    metric_name(c.metric, c.split) + f" (Holm p = {fmt(c.result.p_holm, 4)})" for c in rest
                )
            lines.append(f"On **{dataset}**, **{variant}** vs {baseline}: {clauses}{tail}.")
        elif all(c.result.n < MIN_SEEDS for c in cs):
            few.append(f"{variant} on {dataset}")
        elif all(c.result.better == c.result.worse == 0 for c in cs):
            same.append(f"{variant} on {dataset}")
        else:
            best = min(cs, key=lambda c: c.result.p_holm if not math.isnan(c.result.p_holm) else 2)
            quiet.append(
                f"{variant} on {dataset} (smallest Holm p = {fmt(best.result.p_holm, 4)}, "
                f"{metric_name(best.metric, best.split)} Δ {signed(best.result.diff)})"
            )
    if len(quiet) > 6:
        lines.append(
            f"No significant difference from {baseline} on any metric for {len(quiet)} variant × dataset "
            "pairs; see the comparisons table."
        )
    elif quiet:
        lines.append(f"No significant difference from {baseline} on any metric: " + "; ".join(quiet) + ".")
    if same:
        lines.append(f"Identical to {baseline} in every seed on every metric: " + ", ".join(same) + ".")
    if few:
        lines.append(
            f"Fewer than {MIN_SEEDS} paired seeds, so no interval or test can be trusted: "
            + ", ".join(few)
            + "."
        )
    return lines


def method_note(results: Results, comparisons: list[Comparison]) -> str:
    seeds = results.finished.groupby(["dataset", "variant"], observed=True)["seed"].nunique()
    n = int(seeds.min()) if len(seeds) else 0
    if not comparisons:
        return ""
    m = sum(1 for c in comparisons if not math.isnan(c.result.p))
    return (
        f"Each variant is compared with the baseline **{results.baseline}** paired by seed: the mean "
        f"difference Δ (variant − baseline) with a 95% BCa bootstrap CI, the seeds in which the "
        f"variant is better, and a two-sided paired permutation (sign-flip) test, Holm-corrected "
        f"across the {m} comparisons of this report. A difference is called significant only when "
        f"the corrected p < 0.05 and its CI excludes 0. With {n} seeds the smallest p such a test can "
        f"give is {fmt(min_p(n), 4)}, against a first Holm threshold of {fmt(0.05 / max(m, 1), 4)}."
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
        for kind in ("train", "infer"):
            column = f"{kind}_samples_per_s"
            if column in frame:
                frame[f"{kind}_seconds_per_sample"] = 1.0 / frame[column]
    frame["variant"] = frame["variant"].astype(str)
    return frame


def fit_range(frame: pd.DataFrame) -> list[float]:
    """The lengths an exponent is fitted over: the three largest, where fixed per-call
    overheads matter least (all of them when there are only three)."""
    return sorted(frame["T"].unique())[-3:]


def scaling_exponents(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float, float]]:
    lengths = fit_range(frame)
    fitted = frame[frame["T"].isin(lengths)]
    out = {}
    for column in SCALING_COSTS:
        if column not in frame:
            continue
        for variant, g in fitted.groupby("variant", sort=False):
            if g[column].notna().sum() >= 2:
                out[(column, variant)] = exponent(g[["seed", "T", column]], "T", column)
    return out


def scaling_findings(frame: pd.DataFrame, exponents: dict) -> list[str]:
    lengths = fit_range(frame)
    span = f"T = {int(lengths[0])}–{int(lengths[-1])}"
    lines = []
    for column, (_, what) in SCALING_COSTS.items():
        found = [(v, k) for (c, v), k in exponents.items() if c == column and not math.isnan(k[0])]
        if not found:
            continue
        found.sort(key=lambda x: -x[1][0])
        parts = []
        for variant, (k, lo, hi) in found:
            ci = f" [{lo:.2f}, {hi:.2f}]" if not math.isnan(lo) else " (no CI: fewer than 3 seeds)"
            parts.append(f"{variant} T^{k:.2f}{ci}")
        lines.append(f"{what} grows as (fitted over {span}, 95% CI over seeds): " + ", ".join(parts) + ".")
    return lines
