"""Markdown tables (tabulate) of a study's numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from tabulate import tabulate

from suite import metrics
from suite.report import resampling
from suite.report.load import (
    example_matrix,
    headline_stage,
    last_line,
    metric_name,
    point_unit,
    quality_metrics,
)
from suite.report.stats import (
    Summary,
    fmt,
    format_summary,
    independent,
    signed,
    summarize,
    summarize_examples,
)
from suite.report.verdicts import contrast_text


def metric_label(column: str) -> str:
    """'selected_accuracy' → 'accuracy (fraction correct)'; a name the registry lacks stays itself."""
    try:
        c = metrics.column(column)
    except KeyError:  # UnknownNameError
        return str(column)
    return f"{c.label() if c.stage else c.metric.label} ({c.metric.unit})"


def markdown(rows, headers) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _cell(values, column: str | None = None) -> str:
    bounds = metrics.column(column).metric.bounds if column else (-math.inf, math.inf)
    return _summary_cell(summarize(values, bounds))


def _summary_cell(s: Summary) -> str:
    text = format_summary(s)
    if s.n >= 2 and not s.constant and not math.isnan(s.std):
        mean, _, rest = text.partition(" ")
        return f"{mean} ± {fmt(s.std)} {rest}".strip()
    return text


def cost_cell(g: pd.DataFrame, column: str) -> str:
    """The median over independent measurements; a value measured once for several trials
    (trained together, or of one shape for peak memory) says so and gets nothing that looks like
    spread."""
    if column not in g:
        return "–"
    metric = metrics.column(column).metric
    values, shared = independent(g, column)
    if len(values) == 0:
        return "–"
    text = metric.format(float(np.median(values)))
    if len(values) == 1 and shared > 1:
        together = "trained together" if metric.shared_by == "timing_group" else "measured together"
        return f"{text} (1 measurement, {shared} trials {together})"
    if shared > 1:
        return f"{text} (median of {len(values)} measurements, each of up to {shared} trials)"
    return text


def eval_summary(g: pd.DataFrame, column: str, predictions: pd.DataFrame | None) -> Summary:
    """Seeds × test examples where the rows' predictions are recorded (eval split, reported
    epoch), else over seeds."""
    col = metrics.column(column)
    bounds = col.metric.bounds
    # examples are a sample only when held out (results without an eval_split column were)
    held_out = len(g) and ("eval_split" not in g or g["eval_split"].iloc[0] != "train")
    if resampling.cross_validated(g):  # folds share training rows: the corrected resampled t
        return resampling.fold_summary(g[column], resampling.fold_ratio(g), bounds)
    if predictions is not None and held_out and col.split is None and col.stage == headline_stage(g):
        matrix = example_matrix(predictions, list(g["key"]), col.metric.name)
        if matrix is not None:
            return summarize_examples(matrix, bounds)
    return summarize(g[column], bounds)


def headline_costs() -> list[str]:
    """The costs every dataset table shows and `ablate compare` compares (suite.metrics)."""
    return [m.name for m in metrics.every("cost", headline=True)]


def _side_columns(runs: pd.DataFrame) -> list[str]:
    """The headline-stage columns of the splits other than the eval split that the rows hold."""
    stage = headline_stage(runs)
    eval_split = runs["eval_split"].iloc[0]
    every_split = [m.name for m in metrics.every("quality", splits="all")]
    return [
        f"{stage}_{s}_{m}"
        for m in every_split
        for s in ("train", "val")
        if s != eval_split and f"{stage}_{s}_{m}" in runs and runs[f"{stage}_{s}_{m}"].notna().any()
    ]


def _final_columns(runs: pd.DataFrame) -> list[str]:
    """The final epoch's eval metrics, where some trial reported another epoch (and the rows hold
    them: history points that left the eval split out, `training.history_splits: val`, give none)."""
    moved = "selected_epoch" in runs and (runs["selected_epoch"] != runs["final_epoch"]).any()
    every_split = [m.name for m in metrics.every("quality", splits="all")]
    held = [f"final_{m}" for m in every_split if f"final_{m}" in runs and runs[f"final_{m}"].notna().any()]
    return held if headline_stage(runs) != "final" and moved else []


def _reported_epoch(g: pd.DataFrame) -> str:
    epochs = g["selected_epoch"].dropna() if "selected_epoch" in g else pd.Series(dtype=float)
    return f"{epochs.median():g} of {g['final_epoch'].max():g}" if len(epochs) else "–"


def quality_table(
    runs: pd.DataFrame, predictions: pd.DataFrame | None = None, state: dict | None = None
) -> str:
    """What each variant learned on one dataset, a row per variant: seeds, health, the reported
    epoch, the eval split's metrics and train accuracy (the gap that reads as overfitting). Other
    splits and the final epoch are in `splits_table`, costs in `cost_table`."""
    stage = headline_stage(runs)
    eval_split = runs["eval_split"].iloc[0]
    train = [c for c in _side_columns(runs) if c == f"{stage}_train_accuracy"]
    rows = []
    for variant, g in runs.groupby("variant", sort=True, observed=True):
        h = (state or {}).get((g["dataset"].iloc[0], str(variant)))
        row = [variant, resampling.replicates(g), h.state if h else "–"]
        row += [_reported_epoch(g)] if stage == "selected" else []
        row += [_summary_cell(eval_summary(g, m, predictions)) for m in quality_metrics(runs)]
        row += [_cell(g[c], c) for c in train]
        rows.append(row)
    reported = f"reported {point_unit(runs)} (median)"  # steps where the data is drawn fresh each step
    headers = ["variant", "seeds", "health"] + ([reported] if stage == "selected" else [])
    headers += [metric_name(m, eval_split) for m in quality_metrics(runs)] + [metric_name(c) for c in train]
    return markdown(rows, headers)


def splits_table(runs: pd.DataFrame) -> str | None:
    """Every split beside the eval split, and the final epoch's eval metrics where another epoch
    was reported: the appendix's detail behind `quality_table`. None when there is nothing more."""
    stage = headline_stage(runs)
    columns = [c for c in _side_columns(runs) if c != f"{stage}_train_accuracy"] + _final_columns(runs)
    if not columns:
        return None
    eval_split = runs["eval_split"].iloc[0]
    rows = [
        [variant, *(_cell(g[c], c) for c in columns)]
        for variant, g in runs.groupby("variant", sort=True, observed=True)
    ]
    headers = ["variant"] + [metric_name(c, eval_split if c.startswith("final_") else None) for c in columns]
    return markdown(rows, headers)


SUPERSCRIPTS = "¹²³⁴⁵⁶⁷⁸⁹"


def cost_table(finished: pd.DataFrame) -> str:
    """What each variant costs, a row per dataset × variant: the headline costs (medians over
    independent measurements, `cost_cell`) and the parameter count. How a value was shared
    ('1 measurement, 10 trials trained together') is a numbered note under the table, once."""
    costs = headline_costs()
    notes: dict[str, str] = {}

    def noted(cell: str) -> str:
        value, sep, note = cell.partition(" (")
        if not sep or len(notes) >= len(SUPERSCRIPTS) and note not in notes:
            return cell
        mark = notes.setdefault(note.removesuffix(")"), SUPERSCRIPTS[len(notes)])
        return f"{value} {mark}"

    rows = []
    for dataset in dict.fromkeys(finished["dataset"]):
        group = finished[finished["dataset"] == dataset]
        for variant, g in group.groupby("variant", sort=True, observed=True):
            params = f"{int(g['params'].iloc[0]):,}" if "params" in g and g["params"].notna().any() else "–"
            rows.append([dataset, variant, *(noted(cost_cell(g, c)) for c in costs), params])
    headers = ["dataset", "variant"] + [metrics.get(c).label + " (median)" for c in costs] + ["parameters"]
    kept = [
        i for i in range(len(headers)) if i < 2 or any(row[i] != "–" for row in rows)
    ]  # none measured: no column
    table = markdown([[row[i] for i in kept] for row in rows], [headers[i] for i in kept])
    return "\n\n".join([table, *(f"{mark} {note}." for note, mark in notes.items())])


def comparisons_table(comparisons) -> str:
    """Every contrast × dataset × metric (suite.report.findings.Comparison, judged): the appendix."""
    rows = []
    for c in comparisons:
        r = c.result
        metric = metrics.column(c.metric).metric
        if r.has_ci:
            ci = f"[{fmt(r.lo)}, {fmt(r.hi)}] ({r.confidence * 100:.4g}%)"
        else:
            ci = "– (same Δ in every seed)" if r.test == "sign" else "–"
        word = (verdict_text_for(c, metric) if c.verdict else "–") + (f" ({c.stopped})" if c.stopped else "")
        if c.notes:
            word += f"; flagged: {'; '.join(c.notes)}"
        rows.append(
            [
                c.contrast.name,
                c.dataset,
                metric_name(c.metric, c.split),
                fmt(c.mean_a) if c.contrast.kind != "interaction" else "–",
                fmt(c.mean_b) if c.contrast.kind != "interaction" else "–",
                signed(r.diff),
                ci,
                r.sources,
                f"{r.agree}/{r.n}",
                fmt(r.p, 4),
                fmt(r.p_adj, 4),
                word,
            ]
        )
    headers = ["contrast", "dataset", "metric", "first", "second", "Δ", "interval of Δ", "covers", "agree", "p",
               "p (Holm)", "verdict"]  # fmt: skip
    return markdown(rows, headers)


def verdict_text_for(c, metric) -> str:
    if c.verdict.word == "described":
        return "described (not in the verdict family)"
    return contrast_text(c.verdict, metric)


def failures_table(bad: pd.DataFrame) -> str:
    rows = [
        [
            r.variant,
            r.dataset,
            r.seed,
            r.device,
            r.status,
            last_line(r.error)[:120],
        ]
        for r in bad.itertuples()
    ]
    return markdown(rows, ["variant", "dataset", "seed", "device", "status", "reason"])


def provenance_line(runs: pd.DataFrame) -> str:
    """Where and when the rows were measured; '?' for what the rows do not record (a kind whose
    rows lack a column, results older than it)."""

    def values(col):
        return ", ".join(sorted({str(v) for v in runs[col].dropna()})) if col in runs else "?"

    when = runs["measured_at"].dropna() if "measured_at" in runs else pd.Series(dtype=object)
    span = f"{when.min()} – {when.max()} (UTC)" if len(when) else "time not recorded"
    return (
        f"Measured with torch {values('torch_version')} on {values('device_name')} "
        f"({values('threads')} threads), Python {values('python_version')}, "
        f"commit {values('git_commit')}, host {values('host')}, {span}."
    )
