"""Published results set beside the study's own, one table per dataset.

The anchors come from the study's meta (study.json), where the runner copied them
from the study file; a dataset whose trials were skipped shows the anchors with
the reason it was not run here.
"""

from __future__ import annotations

import pandas as pd
from tabulate import tabulate

from suite.report.stats import summarize

INTRO = (
    "Published test accuracies of models of the same kind, from the sources named. They used their own "
    "preprocessing, sizes and training budgets, so they say what such a model can reach, not what this "
    "run must reach. Ours: final accuracy on this study's eval split, mean [95% bootstrap CI] over seeds."
)


def _ours(runs: pd.DataFrame, dataset: str, variant: str | None) -> str:
    if variant is None:
        return "no counterpart in this study"
    rows = runs[(runs["dataset"] == dataset) & (runs["variant"] == variant) & (runs["status"] == "ok")]
    if rows.empty:
        return "not run here"
    s = summarize(rows["final_accuracy"] * 100)
    spread = f" [{s.lo:.1f}, {s.hi:.1f}]" if s.has_ci else ""
    return f"{s.mean:.1f}%{spread} ({variant}, {len(rows)} seeds)"


def _not_run_reason(runs: pd.DataFrame, dataset: str) -> str | None:
    """The reason a dataset has no finished trials (the first skip reason), or None if it has some."""
    mine = runs[runs["dataset"] == dataset]
    if mine.empty or (mine["status"] == "ok").any():
        return None
    reasons = mine["error"].dropna()
    return reasons.iloc[0].strip().splitlines()[-1] if len(reasons) else "no finished trials"


def anchor_section(anchors: list[dict], runs: pd.DataFrame) -> list[str]:
    """Markdown lines for the report; nothing when the study names no anchors."""
    if not anchors:
        return []
    lines = ["## Published anchors", "", INTRO, ""]
    datasets = list(dict.fromkeys(a["dataset"] for a in anchors))
    for dataset in datasets:
        lines += [f"### {dataset}", ""]
        reason = _not_run_reason(runs, dataset)
        if reason:
            lines += [f"Not run here: {reason}", ""]
        table = [
            [a["model"], f"{a['value'] * 100:.1f}%", _ours(runs, dataset, a.get("variant")), a["source"]]
            for a in anchors
            if a["dataset"] == dataset
        ]
        headers = ["published model", "published accuracy", "ours", "source"]
        lines += [tabulate(table, headers=headers, tablefmt="github", disable_numparse=True), ""]
    return lines
