"""`ablate compare A B`: the differences between two result sets, with CIs.

A and B are two results folders: two studies, or one study's results from two
commits or machines. Rows are matched by variant, dataset and metric; the two
sides are independent runs, so the difference of means gets an unpaired
bootstrap CI (both samples resampled), not a paired one.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
from scipy import stats

from suite.report.load import Results, load, metric_name, quality_metrics
from suite.report.stats import (
    CONFIDENCE,
    MIN_SEEDS,
    RESAMPLES,
    SEED,
    clean,
    constant,
    format_summary,
    signed,
    summarize,
)
from suite.report.tables import markdown, provenance_line

COSTS = ("train_samples_per_s", "infer_samples_per_s", "peak_train_mem_bytes", "peak_infer_mem_bytes")


def difference_ci(a, b, center=np.mean) -> tuple[float, float, float]:
    """center(b) − center(a) with a 95% percentile bootstrap CI resampling each side on its own."""
    a, b = clean(a), clean(b)
    if len(a) == 0 or len(b) == 0:
        return math.nan, math.nan, math.nan
    d = float(center(b) - center(a))
    if min(len(a), len(b)) < MIN_SEEDS:
        return d, math.nan, math.nan
    if constant(a) and constant(b):
        return d, d, d
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


def _fmt_diff(d: float, lo: float, hi: float, metric: str) -> str:
    if math.isnan(d):
        return "–"
    if not metric.startswith(("final", "best")):  # speeds and bytes: whole numbers
        text = f"{d:+,.0f}"
        return text if math.isnan(lo) else f"{text} [{lo:+,.0f}, {hi:+,.0f}]"
    if math.isnan(lo):
        return f"{signed(d)} (no CI: < {MIN_SEEDS} seeds)"
    if lo == hi:
        return f"{signed(d)} (every seed equal on both sides)"
    return f"{signed(d)} [{signed(lo)}, {signed(hi)}]"


def _side(values, metric: str) -> str:
    if metric.startswith(("final", "best")):
        return format_summary(summarize(values))
    x = clean(values)
    return f"{np.median(x):,.0f} (median)" if len(x) else "–"


def compare(a_dir: str | Path, b_dir: str | Path) -> str:
    """Markdown: a table of B − A per variant × dataset × metric, and where each side was measured."""
    a, b = load(a_dir), load(b_dir)
    fa, fb = a.finished, b.finished
    rows = []
    for dataset in [d for d in a.datasets() if d in set(fb["dataset"])]:
        ga, gb = fa[fa["dataset"] == dataset], fb[fb["dataset"] == dataset]
        split = ga["eval_split"].iloc[0]
        metrics = [m for m in quality_metrics(ga) if m in gb] + [m for m in COSTS if m in ga and m in gb]
        for variant in [v for v in ga["variant"].cat.categories if v in set(gb["variant"].astype(str))]:
            va, vb = ga[ga["variant"] == variant], gb[gb["variant"].astype(str) == variant]
            if va.empty or vb.empty:
                continue
            for metric in metrics:
                quality = metric.startswith("final")
                d, lo, hi = difference_ci(va[metric], vb[metric], np.mean if quality else np.median)
                rows.append(
                    [
                        dataset,
                        variant,
                        metric_name(metric, split) if metric.startswith("final") else metric,
                        f"{len(va)} / {len(vb)}",
                        _side(va[metric], metric),
                        _side(vb[metric], metric),
                        _fmt_diff(d, lo, hi, metric),
                    ]
                )
    lines = [f"# Comparison: {_title(a)} (A) vs {_title(b)} (B)", ""]
    if not rows:
        lines += ["The two result sets share no variant on any dataset: nothing to compare.", ""]
    else:
        lines += [
            "B − A per variant, dataset and metric. Loss and accuracy: mean [95% BCa bootstrap CI] per "
            "side, and the difference of means with a 95% bootstrap CI resampling each side's seeds "
            "independently. Speeds and memory: medians per side and the difference of medians with its bootstrap CI.",
            "",
            markdown(rows, ["dataset", "variant", "metric", "seeds A / B", "A", "B", "B − A [95% CI]"]),
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
    return "\n".join(lines) + "\n"


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
