"""Published results set beside the study's own, one table per dataset.

The anchors come from the study's meta (study.json), where the runner copied them
from the study file; a dataset whose trials were skipped shows the anchors with
the reason it was not run here.
"""

from __future__ import annotations

import json

import pandas as pd
from tabulate import tabulate

from suite.kinds import FINISHED
from suite.report.load import headline_accuracy, last_line
from suite.report.resampling import replicates
from suite.report.stats import Summary
from suite.report.tables import eval_summary

INTRO = (
    "Published test accuracies of models of the same kind, from the sources named. They used their own "
    "preprocessing, sizes and training budgets, so they say what such a model can reach, not what this "
    "run must reach. Ours: accuracy on this study's eval split at the reported epoch, mean [95% interval]; "
    "the interval covers seeds and the finite test set (two-level) where per-example predictions were "
    "recorded, over folds with the corrected resampled t on a cross-validated dataset, else seeds only. "
    "A published figure is one number on its own test set: it is set against our interval, not tested, "
    "and only where every facet of its protocol that the anchor states (corpus, evaluation, training "
    "rows, input) is ours too; otherwise the row says what differs."
)


def our_protocol(meta: dict, rows: pd.DataFrame) -> dict[str, str]:
    """The protocol of one variant's rows on one dataset: its dataset entry's (study.json), the
    evaluation of a cross-validated dataset saying which folds ran, and a model's `input_len`
    (it reads the last input_len tokens) as its input."""
    config = json.loads(rows["config"].iloc[0]) if "config" in rows else {}
    params = config.get("dataset_params", {})
    name = rows["dataset_name"].iloc[0] if "dataset_name" in rows else rows["dataset"].iloc[0]
    entries = [
        e for e in meta.get("dataset_entries") or []
        if e["name"] == name and all(e["params"].get(k) == v for k, v in params.items())
    ]  # fmt: skip
    out = dict(entries[0].get("protocol") or {}) if entries else {}
    if "fold" in rows and rows["fold"].notna().all() and len(rows):
        ran, folds = rows["fold"].nunique(), int(rows["folds"].max())
        if ran < folds:
            out["evaluation"] = f"{ran} of the {folds} folds of {folds}-fold CV"
    input_len = (config.get("model") or {}).get("input_len")
    if input_len is not None:
        out["input"] = f"last {input_len} tokens"
    if (config.get("training") or {}).get("retrain") and out.get("retrained"):
        out["training"] = out["retrained"]
    out.pop("retrained", None)
    return out


def protocol_text(protocol: dict[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in protocol.items()) or "not stated"


def protocol_differences(published: dict[str, str], ours: dict[str, str]) -> list[str]:
    """The facets the anchor states where ours differs (or says nothing), in words."""
    return [
        f"{facet} (ours: {ours.get(facet, 'not stated')}; published: {value})"
        for facet, value in published.items()
        if ours.get(facet) != value
    ]


def comparable(anchor: dict, meta: dict, rows: pd.DataFrame) -> list[str]:
    """What differs between the anchor's protocol and ours ([] where they match)."""
    return protocol_differences(anchor.get("protocol") or {}, our_protocol(meta, rows))


def accuracy_summary(rows: pd.DataFrame, predictions: pd.DataFrame | None) -> Summary:
    """The headline accuracy, summarised as in the dataset tables."""
    return eval_summary(rows, headline_accuracy(rows), predictions)


def _ours(runs: pd.DataFrame, anchor: dict, predictions, meta: dict) -> list[str]:
    """[ours, where the published value falls against our interval, or what differs]."""
    dataset, variant, value = anchor["dataset"], anchor.get("variant"), anchor["value"]
    if variant is None:
        return ["no counterpart in this study", "–"]
    rows = runs[on_dataset(runs, dataset) & (runs["variant"] == variant) & runs["status"].isin(FINISHED)]
    if rows.empty:
        return ["not run here", "–"]
    s = accuracy_summary(rows, predictions)
    differs = comparable(anchor, meta, rows)
    spread = f" [{s.lo * 100:.1f}, {s.hi * 100:.1f}]" if s.has_ci else ""
    over = "" if s.sources == "seeds" else f"; interval over {s.sources}"
    count = replicates(rows)
    ours = f"{s.mean * 100:.1f}%{spread} ({variant}, {count if isinstance(count, str) else f'{count} seeds'}{over})"
    if differs:
        return [ours, "not compared: the protocols differ in " + "; ".join(differs)]
    if not s.has_ci:
        return [ours, "no interval"]
    if value < s.lo:
        where = f"below our interval (ours higher by ≥ {(s.lo - value) * 100:.1f} points)"
    elif value > s.hi:
        where = f"above our interval (ours lower by ≥ {(value - s.hi) * 100:.1f} points)"
    else:
        where = "inside our interval"
    return [ours, where]


def on_dataset(runs: pd.DataFrame, dataset: str) -> pd.Series:
    """Rows on an anchor's dataset: by name too, where a variant's own dataset parameters (a
    `vocab_size` of its own) make the report label its rows `imdb(vocab_size=10000)`."""
    mask = runs["dataset"] == dataset
    return mask | (runs["dataset_name"] == dataset) if "dataset_name" in runs else mask


def _balance(predictions: pd.DataFrame | None, runs: pd.DataFrame, dataset: str) -> str | None:
    """Our eval split's class shares, from the recorded labels."""
    if predictions is None or predictions.empty:
        return None
    keys = runs.loc[on_dataset(runs, dataset) & runs["status"].isin(FINISHED), "key"]
    if keys.empty:
        return None
    mine = predictions[predictions["key"] == keys.iloc[0]]
    if mine.empty:
        return None
    shares = mine["label"].value_counts(normalize=True).sort_index()
    return f"{len(mine):,} test rows, " + " / ".join(f"class {k}: {v:.1%}" for k, v in shares.items())


def _not_run_reason(runs: pd.DataFrame, dataset: str) -> str | None:
    """The reason a dataset has no finished trials (the first skip reason), or None if it has some."""
    mine = runs[on_dataset(runs, dataset)]
    if mine.empty or mine["status"].isin(FINISHED).any():
        return None
    reasons = mine["error"].dropna()
    return (last_line(reasons.iloc[0]) if len(reasons) else "") or "no finished trials"


def anchor_section(
    anchors: list[dict], runs: pd.DataFrame, predictions: pd.DataFrame | None = None, meta: dict | None = None
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
                protocol_text(a.get("protocol") or {}),
                *_ours(runs, a, predictions, meta or {}),
                a["source"],
            ]
            for a in anchors
            if a["dataset"] == dataset
        ]
        headers = ["published model", "published accuracy", "protocol", "ours", "published vs ours", "source"]
        lines += [tabulate(table, headers=headers, tablefmt="github", disable_numparse=True), ""]
    return lines
