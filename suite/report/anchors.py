"""Published results set beside the study's own, one table per dataset.

The anchors come from the study's meta (study.json), where the runner copied them
from the study file; a dataset whose trials were skipped shows the anchors with
the reason it was not run here.
"""

from __future__ import annotations

import pandas as pd
from tabulate import tabulate

from suite.kinds import FINISHED
from suite.report.load import headline_accuracy, last_line
from suite.report.stats import Summary
from suite.report.tables import eval_summary

INTRO = (
    "Published test accuracies of models of the same kind, from the sources named. They used their own "
    "preprocessing, sizes and training budgets, so they say what such a model can reach, not what this "
    "run must reach. Ours: accuracy on this study's eval split at the reported epoch, mean [95% interval]; "
    "the interval covers seeds and the finite test set (two-level) where per-example predictions were "
    "recorded, else seeds only. A published figure is one number on its own test set: it is set against "
    "our interval, not tested."
)


def accuracy_summary(rows: pd.DataFrame, predictions: pd.DataFrame | None) -> Summary:
    """The headline accuracy, summarised as in the dataset tables."""
    return eval_summary(rows, headline_accuracy(rows), predictions)


def _ours(runs: pd.DataFrame, dataset: str, variant: str | None, predictions, value: float) -> list[str]:
    """[ours, where the published value falls against our interval]."""
    if variant is None:
        return ["no counterpart in this study", "–"]
    rows = runs[(runs["dataset"] == dataset) & (runs["variant"] == variant) & runs["status"].isin(FINISHED)]
    if rows.empty:
        return ["not run here", "–"]
    s = accuracy_summary(rows, predictions)
    spread = f" [{s.lo * 100:.1f}, {s.hi * 100:.1f}]" if s.has_ci else ""
    over = "" if s.sources == "seeds" else f"; interval over {s.sources}"
    ours = f"{s.mean * 100:.1f}%{spread} ({variant}, {len(rows)} seeds{over})"
    if not s.has_ci:
        return [ours, "no interval"]
    if value < s.lo:
        where = f"below our interval (ours higher by ≥ {(s.lo - value) * 100:.1f} points)"
    elif value > s.hi:
        where = f"above our interval (ours lower by ≥ {(value - s.hi) * 100:.1f} points)"
    else:
        where = "inside our interval"
    return [ours, where]


def _balance(predictions: pd.DataFrame | None, runs: pd.DataFrame, dataset: str) -> str | None:
    """Our eval split's class shares, from the recorded labels."""
    if predictions is None or predictions.empty:
        return None
    keys = runs.loc[(runs["dataset"] == dataset) & runs["status"].isin(FINISHED), "key"]
    if keys.empty:
        return None
    mine = predictions[predictions["key"] == keys.iloc[0]]
    if mine.empty:
        return None
    shares = mine["label"].value_counts(normalize=True).sort_index()
    return f"{len(mine):,} test rows, " + " / ".join(f"class {k}: {v:.1%}" for k, v in shares.items())


def _not_run_reason(runs: pd.DataFrame, dataset: str) -> str | None:
    """The reason a dataset has no finished trials (the first skip reason), or None if it has some."""
    mine = runs[runs["dataset"] == dataset]
    if mine.empty or mine["status"].isin(FINISHED).any():
        return None
    reasons = mine["error"].dropna()
    return (last_line(reasons.iloc[0]) if len(reasons) else "") or "no finished trials"


def anchor_section(
    anchors: list[dict], runs: pd.DataFrame, predictions: pd.DataFrame | None = None
) -> list[str]:
    """Markdown lines for the report; nothing when the study names no anchors."""
    if not anchors:
        return []
    lines = ["## Published anchors", "", INTRO, ""]
    datasets = list(dict.fromkeys(a["dataset"] for a in anchors))
    for dataset in datasets:
        lines += [f"### {dataset}", ""]
        reason = _not_run_reason(runs, dataset)
        if reason:
            skipped = (runs.loc[runs["dataset"] == dataset, "status"] == "skipped").all()
            said = "its trials were skipped (the reason is stated once, at the top of the report)"
            lines += [f"Not run here: {said if skipped else reason}", ""]
        balance = _balance(predictions, runs, dataset)
        if balance:
            lines += [
                f"Class balance — ours: {balance}; published: "
                + "; ".join(
                    dict.fromkeys(
                        a.get("class_balance") or "not stated by the study"
                        for a in anchors
                        if a["dataset"] == dataset
                    )
                )
                + ".",
                "",
            ]
        table = [
            [
                a["model"],
                f"{a['value'] * 100:.1f}%",
                *_ours(runs, dataset, a.get("variant"), predictions, a["value"]),
                a["source"],
            ]
            for a in anchors
            if a["dataset"] == dataset
        ]
        headers = ["published model", "published accuracy", "ours", "published vs ours", "source"]
        lines += [tabulate(table, headers=headers, tablefmt="github", disable_numparse=True), ""]
    return lines
