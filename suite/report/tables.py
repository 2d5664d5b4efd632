"""Markdown tables (tabulate) of a study's numbers."""

from __future__ import annotations

import math

import pandas as pd
from tabulate import tabulate

from suite.report.load import metric_name, quality_metrics
from suite.report.stats import Paired, fmt, format_summary, signed, summarize


def markdown(rows, headers) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def human_bytes(n: float) -> str:
    if n is None or math.isnan(n):
        return "–"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _median(g: pd.DataFrame, column: str) -> float:
    if column not in g:
        return math.nan
    series = g[column].dropna()
    return float(series.median()) if len(series) else math.nan


def _rate(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:,.0f}"


def _cell(values) -> str:
    s = summarize(values)
    text = format_summary(s)
    if s.n >= 2 and not s.constant and not math.isnan(s.std):
        mean, _, rest = text.partition(" ")
        return f"{mean} ± {fmt(s.std)} {rest}".strip()
    return text


def dataset_table(runs: pd.DataFrame) -> str:
    """A row per variant: quality as mean ± sd [95% CI], cost as medians over seeds."""
    metrics = quality_metrics(runs)
    eval_split = runs["eval_split"].iloc[0]
    rows = []
    for variant, g in runs.groupby("variant", sort=True, observed=True):
        rows.append(
            [variant, len(g)]
            + [_cell(g[m]) for m in metrics]
            + [
                _rate(_median(g, "train_samples_per_s")),
                _rate(_median(g, "infer_samples_per_s")),
                human_bytes(_median(g, "peak_train_mem_bytes")),
                human_bytes(_median(g, "peak_infer_mem_bytes")),
                f"{int(g['params'].iloc[0]):,}" if "params" in g and g["params"].notna().any() else "–",
            ]
        )
    headers = ["variant", "seeds"] + [metric_name(m, eval_split) for m in metrics]
    headers += [
        "train samples/s (median)",
        "inference samples/s (median)",
        "peak train memory (median)",
        "peak inference memory (median)",
        "parameters",
    ]
    return markdown(rows, headers)


def verdict(c: Paired) -> str:
    if c.n < 3:
        return f"too few seeds ({c.n})"
    if c.better == c.worse == 0:
        return "identical in every seed"
    if not c.significant:
        return "not significant"
    return "**better**" if c.better > c.worse else "**worse**"


def comparisons_table(comparisons: list[tuple[str, str, str, str, Paired]]) -> str:
    """comparisons: (dataset, variant, metric, eval split, Paired)."""
    rows = []
    for dataset, variant, metric, split, c in comparisons:
        ci = f"[{fmt(c.lo)}, {fmt(c.hi)}]" if c.has_ci else "–"
        rows.append(
            [
                dataset,
                variant,
                metric_name(metric, split),
                fmt(c.base),
                fmt(c.mean),
                signed(c.diff),
                ci,
                f"{c.better}/{c.n}",
                fmt(c.p, 4),
                fmt(c.p_holm, 4),
                verdict(c),
            ]
        )
    headers = [
        "dataset",
        "variant",
        "metric",
        "baseline",
        "variant mean",
        "Δ",
        "95% CI of Δ",
        "better in",
        "p",
        "p (Holm)",
        "verdict",
    ]
    return markdown(rows, headers)


def failures_table(bad: pd.DataFrame) -> str:
    rows = [
        [
            r.variant,
            r.dataset,
            r.seed,
            r.device,
            r.status,
            (r.error or "").strip().splitlines()[-1][:120] if r.error else "",
        ]
        for r in bad.itertuples()
    ]
    return markdown(rows, ["variant", "dataset", "seed", "device", "status", "reason"])


def provenance_line(runs: pd.DataFrame) -> str:
    def values(col):
        return ", ".join(sorted({str(v) for v in runs[col].dropna()})) if col in runs else "?"

    return (
        f"Measured with torch {values('torch_version')} on {values('device_name')} "
        f"({values('threads')} threads), Python {values('python_version')}, "
        f"commit {values('git_commit')}, host {values('host')}, "
        f"{runs['measured_at'].min()} – {runs['measured_at'].max()} (UTC)."
    )
