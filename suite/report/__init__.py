"""Reports: markdown tables (tabulate) and seaborn figures from a study's result tables.

A report reads only what the store wrote under results/<study>/; it never
reaches back into the study spec or the runner.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from suite.report.anchors import anchor_section
from suite.report.figures import curves
from suite.report.stats import format_mean_ci
from suite.store import Store


def _human_bytes(n: float) -> str:
    if n is None or math.isnan(n):
        return "–"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _median(series: pd.Series) -> float:
    series = series.dropna() if series is not None else series
    return float(series.median()) if series is not None and len(series) else math.nan


def _rate(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:,.0f}"


def dataset_table(runs: pd.DataFrame) -> str:
    rows = []
    for variant, g in runs.groupby("variant", sort=True, observed=True):
        rows.append(
            [
                variant,
                len(g),
                format_mean_ci(g["final_loss"]),
                format_mean_ci(g["final_accuracy"]),
                _rate(_median(g.get("train_samples_per_s"))),
                _rate(_median(g.get("infer_samples_per_s"))),
                _human_bytes(_median(g.get("peak_train_mem_bytes"))),
                _human_bytes(_median(g.get("peak_infer_mem_bytes"))),
                f"{int(g['params'].iloc[0]):,}" if "params" in g else "–",
            ]
        )
    headers = [
        "variant",
        "seeds",
        "final loss (mean ± 95% CI)",
        "final accuracy (mean ± 95% CI)",
        "train samples/s (median)",
        "inference samples/s (median)",
        "peak train memory",
        "peak inference memory",
        "parameters",
    ]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def provenance_line(runs: pd.DataFrame) -> str:
    def values(col):
        return ", ".join(sorted({str(v) for v in runs[col].dropna()})) if col in runs else "?"

    return (
        f"Measured with torch {values('torch_version')} on {values('device_name')} "
        f"({values('threads')} threads), Python {values('python_version')}, "
        f"commit {values('git_commit')}, host {values('host')}, "
        f"{runs['measured_at'].min()} – {runs['measured_at'].max()} (UTC)."
    )


def write_report(results_dir: str | Path) -> Path:
    """Write report.md and figures/*.png for the study whose results are in results_dir."""
    store = Store(results_dir)
    meta = store.meta()
    runs, history = store.runs(), store.history()
    if runs.empty:
        raise FileNotFoundError(f"{store.runs_path} has no results yet: run the study first")
    if meta.get("keys"):
        runs = runs[runs["key"].isin(meta["keys"])]
    name = meta.get("name", store.dir.name)
    order = meta.get("variants")
    if order:
        runs = runs.assign(variant=pd.Categorical(runs["variant"], categories=order, ordered=True))
        runs = runs.sort_values(["variant", "seed"])
    figures = store.dir / "figures"

    lines = [f"# {name}", ""]
    if meta.get("description"):
        lines += [f"**Question.** {meta['description']}", ""]
    counts = runs["status"].value_counts().to_dict()
    lines += [
        f"{len(runs)} trials: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ".",
        "Each table gives the mean over seeds with the half-width of a 95% t-interval; "
        "speeds and memory are medians over seeds. Peak memory is the most memory one "
        "training step (or one inference pass) allocated beyond what was live before it.",
        "",
    ]
    ok = runs[runs["status"].isin(["ok", "diverged"])]
    notes = meta.get("dataset_notes", {})
    for dataset, group in ok.groupby("dataset", sort=False):
        split = group["eval_split"].iloc[0]
        lines += [f"## {dataset}", ""]
        lines += [
            f"Final metrics on the `{split}` split" + (f"; {notes[dataset]}." if notes.get(dataset) else "."),
            "",
        ]
        lines += [dataset_table(group), ""]
    lines += anchor_section(meta.get("anchors", []), runs)

    if not history.empty and not ok.empty:
        h = history.merge(ok[["key", "variant", "dataset", "seed"]], on="key")
        h = h[h["split"] == h["key"].map(ok.set_index("key")["eval_split"])]
        for metric in ("loss", "accuracy"):
            path = curves(
                h,
                metric,
                figures / f"{metric}_curves.png",
                f"{name}: {metric} over training (95% CI over seeds)",
            )
            lines += [f"![{metric} curves](figures/{path.name})", ""]

    bad = runs[~runs["status"].isin(["ok"])]
    if not bad.empty:
        lines += ["## Trials that did not finish normally", ""]
        table = [
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
        lines += [
            tabulate(
                table, headers=["variant", "dataset", "seed", "device", "status", "reason"], tablefmt="github"
            ),
            "",
        ]

    measured = runs[runs["status"] != "skipped"]
    if not measured.empty:
        lines += ["## Provenance", "", provenance_line(measured), ""]
    path = store.dir / "report.md"
    path.write_text("\n".join(lines))
    return path
