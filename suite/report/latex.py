"""A study's answer and main results as booktabs LaTeX, for a paper (`ablate report --latex`).

Written from what the report wrote (comparisons.csv) and the store, through pandas' Styler so
the tables are plain `tabular`s a paper can \\input. Every cell is escaped here: variant names
carry underscores, contrasts carry arrows, and a pdflatex run without extra packages must
compile it (Unicode symbols become math macros).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from suite import metrics
from suite.report.findings import healths
from suite.report.load import Results, headline_stage, load
from suite.report.stats import format_summary, signed
from suite.report.tables import eval_summary, metric_label

SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
SYMBOLS = {  # what the report's text uses that pdflatex cannot set without packages
    "Δ": r"$\Delta$",
    "→": r"$\rightarrow$",
    "±": r"$\pm$",
    "−": "-",
    "–": "--",
    "≈": r"$\approx$",
    "×": r"$\times$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "·": r"$\cdot$",
}


def escape(text) -> str:
    """Text as LaTeX that sets it literally."""
    out = "".join(SPECIAL.get(ch, ch) for ch in str(text))
    for symbol, macro in SYMBOLS.items():
        out = out.replace(symbol, macro)
    return out


def _tabular(frame: pd.DataFrame, caption: str, label: str, align: str) -> str:
    """A booktabs table of already escaped cells."""
    frame = frame.set_axis([escape(c) for c in frame.columns], axis=1)
    styler = frame.style.hide(axis="index")
    return styler.to_latex(
        hrules=True,
        column_format=align,
        caption=escape(caption),
        label=label,
        position="htbp",
        position_float="centering",
    )


def _interval(delta: float, lo: float, hi: float) -> str:
    if math.isnan(delta):
        return "–"
    if math.isnan(lo) or math.isnan(hi):
        return signed(delta)
    return f"{signed(delta)} [{signed(lo)}, {signed(hi)}]"


def _agree(row) -> str:
    agree, n = row.get("agree"), row.get("n")
    if isinstance(agree, str) and agree.strip():
        return agree
    if agree is None or pd.isna(agree):
        return "–"
    return f"{int(agree)}/{int(n)}" if n is not None and not pd.isna(n) else f"{int(agree)}"


def primary_rows(comparisons: pd.DataFrame) -> pd.DataFrame:
    """The verdict family: the rows of comparisons.csv marked primary."""
    return comparisons[comparisons["primary"].astype(str).str.lower().isin(("true", "1"))]


def answer_table(comparisons: pd.DataFrame, study: str) -> str | None:
    """A row per primary contrast × dataset: Δ with its interval, the seeds that agree, the verdict."""
    rows = primary_rows(comparisons)
    if rows.empty:
        return None
    order = {c: i for i, c in enumerate(dict.fromkeys(rows["contrast"]))}
    rows = rows.iloc[sorted(range(len(rows)), key=lambda i: order[rows["contrast"].iloc[i]])]  # by contrast
    metric = ", ".join(metric_label(m) for m in dict.fromkeys(rows["metric"].astype(str)))
    kinds = list(dict.fromkeys(rows["interval"].dropna().astype(str))) if "interval" in rows else []
    interval = (
        f"; interval: {kinds[0]}."
        if len(kinds) == 1
        else "; each interval at the level its test was judged at, none where every seed gave the same Δ."
        if kinds
        else "."
    )
    frame = pd.DataFrame(
        {
            "contrast": [escape(c) for c in rows["contrast"]],
            "dataset": [escape(d) for d in rows["dataset"]],
            "Δ [interval]": [
                escape(_interval(float(r["delta"]), float(r["lo"]), float(r["hi"])))
                for _, r in rows.iterrows()
            ],
            "seeds agreeing": [escape(_agree(r)) for _, r in rows.iterrows()],
            "verdict": [escape(v) for v in rows["verdict"]],
        }
    )
    caption = f"{study}: effect of each contrast on {metric} (Δ = b − a){interval}"
    return _tabular(frame, caption, f"tab:{_label(study)}-answer", r"p{0.4\linewidth}lrcl")


def results_table(results: Results) -> str | None:
    """A row per dataset × variant: seeds, health and the eval split's quality metrics, mean
    [95% interval] as in the report's tables."""
    finished = results.finished
    if finished.empty:
        return None
    state = healths(results)
    quality = [m.name for m in metrics.every("quality")]
    rows = []
    for dataset in results.datasets():
        group = finished[finished["dataset"] == dataset]
        stage = headline_stage(group)
        for variant, g in group.groupby("variant", sort=True, observed=True):
            h = state.get((dataset, str(variant)))
            row = {
                "dataset": escape(dataset),
                "eval split": escape(g["eval_split"].iloc[0]),
                "variant": escape(variant),
                "seeds": str(len(g)),
                "health": escape(h.state if h else "–"),
            }
            for name in quality:
                column = f"{stage}_{name}"
                if column not in g:
                    row[name] = "--"
                    continue
                row[name] = escape(format_summary(eval_summary(g, column, results.predictions)))
            rows.append(row)
    frame = pd.DataFrame(rows).rename(columns={m: f"{m} ({metrics.get(m).unit})" for m in quality})
    caption = (
        f"{results.name}: results on the eval split at the reported epoch, mean [95% Student-t interval] "
        "over seeds (and test examples where per-example predictions were recorded)."
    )
    return _tabular(frame, caption, f"tab:{_label(results.name)}-results", "lllrl" + "r" * len(quality))


def _label(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name)


def write_latex(results_dir: str | Path) -> tuple[Path, list[str]]:
    """Write tables.tex beside report.md; returns its path and notes on what was left out."""
    results = load(Path(results_dir))
    parts = [
        f"% {results.name}: tables written by `ablate report --latex`; needs \\usepackage{{booktabs}}.",
        "",
    ]
    notes = []
    csv = results.dir / "comparisons.csv"
    answer = answer_table(pd.read_csv(csv), results.name) if csv.exists() else None
    if answer is None:
        why = "no comparisons.csv" if not csv.exists() else "comparisons.csv has no primary contrast"
        notes.append(f"answer table omitted: {why} in {results.dir}")
        parts += [f"% The answer table is omitted: {why}.", ""]
    else:
        parts += [answer, ""]
    table = results_table(results)
    if table is None:
        notes.append("results table omitted: no trial finished")
        parts += ["% The results table is omitted: no trial finished.", ""]
    else:
        parts += [table]
    path = results.dir / "tables.tex"
    path.write_text("\n".join(parts))
    return path, notes
