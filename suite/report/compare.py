"""`ablate compare A B`: the differences between two result sets, with CIs.

A and B are two results folders: two studies, or one study's results from two
commits or machines. Rows are matched by variant, dataset and metric. Where both
sides hold the same trial keys (one study's results compared with a rerun, or with
themselves) the trials are paired by key as the report pairs seeds (suite.report.stats.paired):
Δ is the mean per-trial difference with a Student-t interval (none for identical results, or the
same Δ in every pair, which the exact sign-flip test decides). Otherwise the sides are
independent runs: the difference of means gets a Welch t interval. Speeds and memory
use one value per independent measurement (suite.report.stats.independent) and the
difference of medians with a percentile bootstrap over measurements.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from suite import metrics
from suite.report.load import Results, load, metric_name, quality_metrics
from suite.report.stats import (
    ALPHA,
    CONFIDENCE,
    MIN_SEEDS,
    RESAMPLES,
    SEED,
    Paired,
    clean,
    constant,
    fmt,
    format_summary,
    independent,
    paired,
    signed,
    summarize,
)
from suite.report.tables import cost_cell, headline_costs, markdown, provenance_line


class CompareError(ValueError):
    """Two result sets compare cannot read (a study kind without trained models)."""


def welch_ci(a, b) -> tuple[float, float, float]:
    """mean(b) − mean(a) with a 95% Welch t interval (NaN below MIN_SEEDS or with no spread)."""
    a, b = clean(a), clean(b)
    if len(a) == 0 or len(b) == 0:
        return math.nan, math.nan, math.nan
    d = float(b.mean() - a.mean())
    if min(len(a), len(b)) < MIN_SEEDS or (constant(a) and constant(b)):
        return d, math.nan, math.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, df) * math.sqrt(va + vb)
    return d, d - half, d + half


def paired_by_key(a: pd.DataFrame, b: pd.DataFrame, column: str) -> tuple[Paired, str]:
    """B − A over the trial keys both sides hold, by the report's paired comparison
    (suite.report.stats.paired: a t interval, none below MIN_SEEDS pairs or where every pair
    differs by the same amount, whose spread is unknown, not zero; the exact sign-flip test then
    decides). The text says, where there is no interval, how the pairs were formed and why."""
    result = paired(a.set_index("key")[column], b.set_index("key")[column], column)
    n = result.n
    why = ""
    if n == 0:
        why = "no common trial keys"
    elif n < MIN_SEEDS:
        why = f"paired by trial key, {n} pairs; no CI below {MIN_SEEDS}"
    elif result.diff == 0 and not result.has_ci:
        why = f"paired by trial key, identical in all {n} pairs; no CI"
    elif result.constant:
        why = f"paired by trial key, the same Δ in all {n} pairs; no CI"
    return result, why


# A percentile bootstrap of a median undercovers on a handful of values (as the coverage test
# shows for the mean at n ≤ 10), so a cost's Δ gets an interval only from this many a side.
MIN_BOOTSTRAP = 10


def difference_ci(a, b, center=np.median) -> tuple[float, float, float]:
    """center(b) − center(a) with a 95% percentile bootstrap CI resampling each side on its own
    (speeds and memory are summarised by medians, which have no t interval)."""
    a, b = clean(a), clean(b)
    if len(a) == 0 or len(b) == 0:
        return math.nan, math.nan, math.nan
    d = float(center(b) - center(a))
    if min(len(a), len(b)) < MIN_BOOTSTRAP or (constant(a) and constant(b)):
        return d, math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap(
            (a, b),
            lambda x, y, axis: center(y, axis=axis) - center(x, axis=axis),
            vectorized=True,
            confidence_level=CONFIDENCE,
            n_resamples=RESAMPLES,
            method="percentile",
            rng=np.random.default_rng(SEED),
        )
    lo, hi = res.confidence_interval
    return d, float(lo), float(hi)


def _fmt_diff(d: float, lo: float, hi: float, metric: str, why_none: str) -> str:
    if math.isnan(d):
        return "–"
    m = metrics.column(metric).metric
    if m.kind == "cost":  # in the metric's own format, as each side's cell (bytes as KiB, MiB, …)

        def cost(v: float) -> str:
            return ("-" if v < 0 else "+") + m.format(abs(v))

        text = cost(d)
        return f"{text} ({why_none})" if math.isnan(lo) else f"{text} [{cost(lo)}, {cost(hi)}]"
    if math.isnan(lo):
        return f"{signed(d)} ({why_none})"
    return f"{signed(d)} [{signed(lo)}, {signed(hi)}]"


def _side(frame: pd.DataFrame, metric: str) -> str:
    """One side's cell, as the report writes it."""
    if metrics.column(metric).metric.kind == "quality":
        return format_summary(summarize(frame[metric]))
    return cost_cell(frame, metric)


@dataclass
class Difference:
    dataset: str
    variant: str
    metric: str
    d: float
    lo: float
    hi: float
    p: float = math.nan  # the exact sign-flip test's, where pairs differ by the same Δ (no interval)

    @property
    def significant(self) -> bool:
        """The interval excludes 0; with none, because every pair differs by the same nonzero Δ,
        the exact sign-flip test rejects at 5% (as the report decides such a Δ, before Holm)."""
        if not math.isnan(self.lo):
            return self.lo > 0 or self.hi < 0
        return self.d != 0 and self.p < ALPHA

    @property
    def decided(self) -> str:
        """The last column: yes / no, and which test said so where there is no interval."""
        if not math.isnan(self.lo):
            return "yes" if self.significant else "no"
        if math.isnan(self.p) or self.d == 0:
            return "– (no CI)"
        return f"{'yes' if self.significant else 'no'} (no CI; exact sign-flip p = {fmt(self.p, 2)})"


KINDS = ("quality", "cost")  # metrics.Metric.kind: what a model learned, and what it cost


def compare(a_dir: str | Path, b_dir: str | Path, kinds: tuple[str, ...] = KINDS) -> str:
    """Markdown: a table of B − A per variant × dataset × metric, and where each side was measured."""
    return compare_results(a_dir, b_dir, kinds)[0]


def compare_results(
    a_dir: str | Path, b_dir: str | Path, kinds: tuple[str, ...] = KINDS
) -> tuple[str, list[Difference]]:
    """The markdown of `compare` and every difference it found, for scripts (`--fail-on-difference`).
    `kinds` limits the metrics to quality or cost ones: a rerun on another machine, or under other
    load, differs in speed while what it learned is the same."""
    a, b = load(a_dir), load(b_dir)
    for side in (a, b):
        if side.meta.get("kind", "train") != "train":
            raise CompareError(
                f"{side.dir} holds a {side.meta['kind']!r} study: compare reads trained models' results "
                "(its report compares the kernels)"
            )
    fa, fb = a.finished, b.finished
    rows, found = [], []
    paired_any = False
    for dataset in [d for d in a.datasets() if d in set(fb["dataset"])]:
        ga, gb = fa[fa["dataset"] == dataset], fb[fb["dataset"] == dataset]
        split = ga["eval_split"].iloc[0]
        chosen = [m for m in quality_metrics(ga) if m in gb] + [
            m for m in headline_costs() if m in ga and m in gb
        ]
        chosen = [m for m in chosen if metrics.column(m).metric.kind in kinds]
        for variant in [v for v in ga["variant"].cat.categories if v in set(gb["variant"].astype(str))]:
            va, vb = ga[ga["variant"] == variant], gb[gb["variant"].astype(str) == variant]
            if va.empty or vb.empty:
                continue
            same_keys = set(va["key"]) == set(vb["key"])
            marks = {side: _marks(r, dataset, str(variant)) for side, r in (("A", a), ("B", b))}
            seeds = f"{len(va)} / {len(vb)}" + "".join(f" ({side}: {m})" for side, m in marks.items() if m)
            for metric in chosen:
                quality = metrics.column(metric).metric.kind == "quality"
                p = math.nan
                if same_keys and quality:
                    r, why = paired_by_key(va, vb, metric)
                    d, lo, hi = r.diff, r.lo, r.hi
                    p = r.p if r.constant else math.nan
                    paired_any = True
                elif quality:
                    d, lo, hi = welch_ci(va[metric], vb[metric])
                    why = f"no CI: < {MIN_SEEDS} seeds or no spread"
                else:
                    xa, _ = independent(va, metric)
                    xb, _ = independent(vb, metric)
                    d, lo, hi = difference_ci(xa, xb)
                    why = f"no CI: < {MIN_BOOTSTRAP} independent measurements a side"
                    if same_keys and len(xa) == len(xb) and np.array_equal(np.sort(xa), np.sort(xb)):
                        d, lo, hi = 0.0, math.nan, math.nan
                        why = "the very same measurements; no CI"
                found.append(Difference(dataset, str(variant), metric, d, lo, hi, p))
                rows.append(
                    [
                        dataset,
                        variant,
                        metric_name(metric, split),
                        seeds,
                        _side(va, metric) + (" (diverged)" if "every seed" in marks["A"] else ""),
                        _side(vb, metric) + (" (diverged)" if "every seed" in marks["B"] else ""),
                        _fmt_diff(d, lo, hi, metric, why),
                        found[-1].decided,
                    ]
                )
    lines = [f"# Comparison: {_title(a)} (A) vs {_title(b)} (B)", ""]
    changed = config_differences(a.meta, b.meta)
    lines += [f"**The sides differ in configuration**: {changed}.", ""] if changed else []
    if not rows:
        lines += ["The two result sets share no variant on any dataset: nothing to compare.", ""]
    else:
        lines += [
            "B − A per variant, dataset and metric. Loss and accuracy: mean [95% Student-t interval] per "
            "side; "
            + (
                "where both sides hold the same trial keys the trials are paired by key and Δ is the mean "
                "per-trial difference with a t interval (none where every pair differs by the same amount, "
                "e.g. identical results: a nonzero Δ then gets the exact sign-flip test); "
                if paired_any
                else ""
            )
            + "otherwise the difference of means with a Welch t interval over independent seeds. Speeds "
            "and memory: medians over independent measurements per side (a time shared by trials trained "
            "together counts once) and the difference of medians with a percentile bootstrap interval. "
            "'differs' marks a difference `--fail-on-difference` exits non-zero on: its CI excludes 0 "
            "(or, with no CI, the exact test's p < 0.05). Each row is its own test, not corrected for the "
            "number of rows and with no smallest effect: a screen for what changed, not a verdict "
            "(the report's comparisons are Holm-corrected and judged against each metric's smallest effect)."
            + (
                "" if set(kinds) == set(KINDS) else f" Shown: {' and '.join(kinds)} metrics only (--metrics)."
            ),
            "",
            markdown(
                rows,
                ["dataset", "variant", "metric", "seeds A / B", "A", "B", "B − A [95% CI]", "differs"],
            ),
            "",
        ]
    only = _unmatched(a, b)
    if only:
        lines += only + [""]
    lines += ["## Provenance", ""]
    for side, results in (("A", a), ("B", b)):
        measured = results.runs[results.runs["status"] != "skipped"]
        line = provenance_line(measured) if not measured.empty else "no measured trials."
        lines += [f"- **{side}** ({results.dir}): {line}"]
    return "\n".join(lines) + "\n", found


def config_differences(a: dict, b: dict) -> str:
    """What the two studies set differently ("training.optimizer: adam → sgd; training.lr: 0.01 → 1"),
    from each side's resolved spec in study.json; "" when they agree (or a side does not say)."""
    if not a.get("spec") or not b.get("spec"):
        return ""
    fa, fb = _flat(a["spec"]), _flat(b["spec"])
    keys = [k for k in dict.fromkeys([*fa, *fb]) if k != "description" and fa.get(k) != fb.get(k)]
    return "; ".join(f"{k}: {_value(fa.get(k))} → {_value(fb.get(k))}" for k in keys)


def _flat(spec, at: str = "") -> dict:
    if isinstance(spec, dict) and spec:
        out = {}
        for key, value in spec.items():
            out.update(_flat(value, f"{at}.{key}" if at else str(key)))
        return out
    return {at: spec}


def _value(value) -> str:
    if isinstance(value, float):
        return fmt(value, 3).rstrip("0").rstrip(".") if 1e-3 <= abs(value) < 1e6 else f"{value:g}"
    return "(unset)" if value is None else str(value)


def _marks(r: Results, dataset: str, variant: str) -> str:
    """The seeds of a variant on a dataset that diverged (averaged in, marked) or failed (left out)."""
    rows = r.runs[(r.runs["dataset"] == dataset) & (r.runs["variant"].astype(str) == variant)]
    counts = rows["status"].value_counts()
    n = len(rows)
    out = []
    if counts.get("diverged", 0):
        every = "every seed" if counts["diverged"] == n else f"{counts['diverged']} of {n} seeds"
        out.append(f"{every} diverged")
    if counts.get("failed", 0):
        out.append(f"{counts['failed']} of {n} failed, left out")
    return ", ".join(out)


def _title(r: Results) -> str:
    return f"`{r.name}` ({r.dir})"


def _unmatched(a: Results, b: Results) -> list[str]:
    out = []
    pairs = {
        side: set(zip(r.finished["dataset"], r.finished["variant"].astype(str), strict=True))
        for side, r in (("A", a), ("B", b))
    }
    for side, other in (("A", "B"), ("B", "A")):
        missing = sorted(pairs[side] - pairs[other])
        if missing:
            shown = ", ".join(f"{v} on {d}" for d, v in missing[:12]) + (" …" if len(missing) > 12 else "")
            out.append(f"Only in {side} (not compared): {shown}.")
    return out
