"""The report of a training study: findings, markdown tables and figures.

`write_training_report` assembles sections, each made by one small function: findings
(`findings.py`, from the statistics in `stats.py`), tables (`tables.py`) and figures
(`figures.py`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from suite import metrics
from suite.report import figures, resampling, resolve
from suite.report.anchors import anchor_section
from suite.report.findings import (
    answer_section,
    compare_contrasts,
    contrast_rows,
    health_findings,
    healths,
    method_note,
    scaling_costs,
    scaling_exponents,
    scaling_findings,
    scaling_frame,
    scaling_points,
    summary_findings,
)
from suite.report.load import Results, headline_accuracy, headline_stage, load, point_unit, quality_metrics
from suite.report.stats import MIN_SEEDS
from suite.report.tables import (
    comparisons_table,
    cost_table,
    eval_summary,
    failures_table,
    headline_costs,
    metric_label,
    provenance_line,
    quality_table,
    splits_table,
)
from suite.report.tuning import lead_section, skipped_lines, tuning_section


def write_training_report(results_dir: str | Path) -> Path:
    """Write report.md and figures/*.png for the training study whose results are in results_dir."""
    results = load(Path(results_dir))
    figures_dir = results.dir / "figures"
    ok = results.finished
    comparisons = compare_contrasts(results)
    resolve.apply(results, comparisons)  # a sequential run: each contrast at the look that stopped it
    state = healths(results) if not ok.empty else {}
    scaling = scaling_frame(results)
    exponents = scaling_exponents(scaling) if scaling is not None else {}

    lines = [f"# {results.name}", ""]
    if results.meta.get("description"):
        lines += [f"**Question.** {results.meta['description'].strip()}", ""]
    counts = results.runs["status"].value_counts().to_dict()
    lines += [
        f"{len(results.runs)} trials: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ".",
        "",
    ]
    answer = answer_section(results, comparisons, state)
    spent = resolve.spent_line(results)  # a sequential run: what it spent, how its tests stopped
    lines += answer[:4] + [spent, ""] + answer[4:] if spent and len(answer) > 4 else answer
    lines += skipped_lines(results.runs)
    lines += lead_section(results, comparisons)
    rows = contrast_rows(comparisons) if comparisons else None  # also comparisons.csv, written below
    lines += effects_section(results, rows, figures_dir)

    lines += ["## Findings", ""]
    lines += [f"- {line}" for line in _findings(results, comparisons, scaling, exponents, state)]
    note = method_note(results, comparisons)
    lines += ["", note, ""] if note else [""]

    lines += _dataset_sections(results, state)
    lines += _cost_section(results.finished)
    lines += _extrapolation_section(ok)
    lines += _samples_section(ok)
    lines += anchor_section(results.meta.get("anchors", []), results.runs, results.predictions, results.meta)
    lines += tuning_section(results)
    lines += _figure_section(results, ok, scaling, exponents, figures_dir)

    bad = results.runs[~results.runs["status"].isin(("ok", "skipped"))]  # skips: one line each, above
    if not bad.empty:
        lines += ["## Trials that did not finish normally", "", failures_table(bad), ""]
    measured = results.runs[results.runs["status"] != "skipped"]
    if not measured.empty:
        lines += ["## Provenance", "", provenance_line(measured), ""]
    csv = results.dir / "comparisons.csv"
    if comparisons:
        rows.to_csv(csv, index=False)
        lines += [
            "## Appendix: every comparison",
            "",
            "Each contrast on each dataset and quality metric (also in `comparisons.csv`): the primary "
            "metric's rows carry the verdicts; the others are described with unadjusted 95% intervals.",
            "",
            comparisons_table(comparisons),
            "",
        ]
    elif csv.exists():
        csv.unlink()  # a study that lost its contrasts keeps no stale table
    lines += _splits_section(results)
    path = results.dir / "report.md"
    path.write_text("\n".join(lines))
    return path


def effects_section(results: Results, comparisons: pd.DataFrame | None, directory: Path) -> list[str]:
    """The effects figure under the Answer: the verdict family's Δ with intervals, per dataset."""
    if comparisons is None or comparisons.empty:
        return []
    path = figures.effects(comparisons, directory / "effects.png", f"{results.name}: contrast effects")
    if path is None:
        return []
    primary = figures.effect_rows(comparisons)
    metric = ", ".join(metric_label(m) for m in dict.fromkeys(primary["metric"].astype(str)))
    kinds = [str(k) for k in dict.fromkeys(primary.get("interval", pd.Series(dtype=str)).dropna())]
    interval = (
        f"its interval ({kinds[0]})"
        if len(kinds) == 1
        else "the interval printed beside its verdict (a marker alone: the same Δ in every seed)"
    )
    caption = (
        f"Effect of each contrast on {metric}: Δ = b − a (the second variant minus the first) with "
        f"{interval}, a panel per dataset; the grey band is ±the smallest effect worth a word, and the "
        "marker and colour give the verdict."
    )
    return [f"![{caption}](figures/{path.name})", "", f"*{caption}*", ""]


def _findings(results: Results, comparisons, scaling, exponents, state) -> list[str]:
    """Top-down: health first, one summary line per dataset, then the detailed comparisons."""
    ok = results.finished
    if ok.empty:
        return ["No trial finished, so there is nothing to report."]
    lines = health_findings(results, state) + summary_findings(results, state)
    replicate = resampling.replicate_ids(ok)  # (seed, fold)
    seeds = (
        ok.assign(replicate=replicate).groupby(["dataset", "variant"], observed=True)["replicate"].nunique()
    )
    if seeds.min() < MIN_SEEDS:
        lines.append(
            f"Some variants have only {seeds.min()} seed(s) on a dataset: with fewer than {MIN_SEEDS} "
            "seeds no interval can be trusted, so none is given for them."
        )
    if not comparisons:
        lines.append("No two variants differ in one knob and the study names no baseline, so none is tested.")
    lines += scaling_findings(scaling, exponents) if scaling is not None else []
    return lines


def _dataset_sections(results: Results, state) -> list[str]:
    """A quality table per dataset, then one cost table: what was learned reads apart from what
    it cost."""
    lines = [
        "## Results per dataset",
        "",
        "Loss and accuracy: mean ± standard deviation over seeds [95% Student-t interval of the mean]. "
        "On the eval split, where every trial recorded its per-example predictions, the interval covers "
        "seeds and test examples (two-level), else seeds only. 'all n equal' where every seed gave the "
        "same value (no interval: the spread is unknown, not zero). Health: learned; failed to learn "
        "(eval accuracy not clearly above the majority class); overconfident (it is, but the eval loss "
        "is no better than the best constant predictor's); overfit (train accuracy more than 0.10 above "
        "eval); still improving (the val-chosen epoch is the last in most seeds); diverged. Only failed "
        "and diverged variants stop a comparison; the first state that holds is shown. "
        "Costs are in the next section; the other splits and the final epoch in the appendix.",
        "",
    ]
    for dataset in results.datasets():
        group = results.finished[results.finished["dataset"] == dataset]
        split = group["eval_split"].iloc[0]
        note = _note(results.meta, group)
        lines += [f"### {dataset}", "", _epoch_note(group, split) + (f"; {note}." if note else "."), ""]
        lines += [quality_table(group, results.predictions, state), ""]
    return lines


def _cost_section(finished: pd.DataFrame) -> list[str]:
    if finished.empty:
        return []
    shared = "memory_group" in finished and finished["memory_group"].notna().any()
    memory = "is" if shared else "and memory are"
    memory_shared = (
        ", measured once per architecture, data and input shapes (`memory_group`) and counted once"
        if shared
        else ""
    )
    measured = any(
        c in finished and finished[c].notna().any()
        for c in headline_costs()
        if metrics.get(c).unit == "bytes"
    )
    peak = (
        "Peak memory is the most one training step (or inference pass) allocated beyond what was live "
        f"before it{memory_shared}."
        if measured
        else "Peak memory was not measured (`measure.memory: false`)."
    )
    return [
        "## Cost",
        "",
        "Speeds and memory are medians over independent measurements: a training speed measured once "
        "for seeds trained together in one vectorized step (`timing_group`) counts once, and is shown "
        f"as one measurement; inference speed {memory} measured per trial. {peak}",
        "",
        cost_table(finished),
        "",
    ]


def _extrapolation_section(ok: pd.DataFrame) -> list[str]:
    """Loss (and accuracy) at 1×, 2×, 4× the training context (`measure.context_factors`): mean ±
    standard deviation over seeds, a row per variant and dataset; – where a model cannot read a length."""
    stage = "selected"
    factors = [
        f
        for f in metrics.CONTEXT_FACTORS
        if f"{stage}_loss{f}x" in ok and ok[f"{stage}_loss{f}x"].notna().any()
    ]
    if ok.empty or not factors:
        return []
    names = [f"loss{f}x" for f in factors] + [f"beyond{f}x" for f in factors if f > 1]
    names += [f"accuracy{f}x" for f in factors]
    names = [n for n in names if f"{stage}_{n}" in ok]
    header = ["dataset", "variant", *(metrics.get(n).label for n in names)]
    rows = []
    for (dataset, variant), g in ok.groupby(["dataset", "variant"], observed=True, sort=True):
        cells = []
        for n in names:
            values = g[f"{stage}_{n}"].dropna()
            metric = metrics.get(n)
            if values.empty:
                cells.append("–")
            elif len(values) == 1:
                cells.append(metric.format(values.iloc[0]))
            else:
                cells.append(f"{metric.format(values.mean())} ± {metric.format(values.std())}")
        rows.append([dataset, variant, *cells])
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    table += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return [
        "## Length extrapolation",
        "",
        "The reported model on the eval split cut into windows of 1×, 2× and 4× the training context (the "
        "same number of tokens at each length): mean ± standard deviation over seeds. 'Loss past the trained "
        "context' counts only positions beyond it. – : the model cannot read that length (a learned position "
        "table has as many rows as the training context).",
        "",
        *table,
        "",
    ]


def _splits_section(results: Results) -> list[str]:
    """The appendix behind the quality tables: every other split, and the final epoch."""
    lines = []
    for dataset in results.datasets():
        table = splits_table(results.finished[results.finished["dataset"] == dataset])
        if table is not None:
            lines += [f"### {dataset}", "", table, ""]
    if not lines:
        return []
    return [
        "## Appendix: every split",
        "",
        "At the reported epoch, mean ± standard deviation over seeds [95% Student-t interval]; the "
        "final epoch's eval metrics where another epoch was reported.",
        "",
        *lines,
    ]


def _samples_section(ok: pd.DataFrame) -> list[str]:
    """Text drawn from each variant's reported model (lowest seed) at each temperature (`measure.sample_tokens`)."""
    if ok.empty or "samples" not in ok or ok["samples"].isna().all():
        return []
    lines = [
        "## Samples",
        "",
        "Characters drawn one at a time from the reported model of each variant's lowest seed, after the "
        "study's prompt, at each softmax temperature (lower: more conservative).",
        "",
    ]
    for (dataset, variant), g in ok.dropna(subset=["samples"]).groupby(
        ["dataset", "variant"], observed=True, sort=True
    ):
        first = g.sort_values("seed").iloc[0]
        for temperature, text in json.loads(first["samples"]).items():
            lines += [
                f"**{variant}** on {dataset}, seed {first['seed']}, temperature {temperature}:",
                "",
                "```text",
                text,
                "```",
                "",
            ]
    return lines


def _epoch_note(group: pd.DataFrame, split: str) -> str:
    """Which epoch (or step, for data drawn fresh each step) the headline numbers are at, and how it
    was chosen."""
    unit = point_unit(group)
    if headline_stage(group) == "final":
        return f"Metrics on the `{split}` split at the final {unit}"
    how = sorted(set(group["selection"].dropna())) if "selection" in group else []
    if unit == "step":  # the row's own words say epoch: the engine's name for its last history point
        how = [h.replace("final epoch", "final step") for h in how]
    if how and all(h.startswith(f"final {unit} (training.select: final)") for h in how):
        return f"Metrics on the `{split}` split at the final {unit} (the study reports the last point: training.select: final)"
    if how and all(h.startswith(f"final {unit}") for h in how):
        return (
            f"Metrics on the `{split}` split at the final {unit} ({'; '.join(how)}): this study has no "
            f"validation split to choose {'a step' if unit == 'step' else 'an epoch'} on"
        )
    return (
        f"Metrics on the `{split}` split at the {unit} chosen on the validation split "
        f"({'; '.join(how) or 'best val accuracy'}), never on `{split}` (the final {unit}'s in the appendix)"
    )


def _note(meta: dict, group: pd.DataFrame) -> str | None:
    """What the runner said about this dataset entry (older results: per dataset name)."""
    name = group["dataset_name"].iloc[0]
    params = json.loads(group["config"].iloc[0]).get("dataset_params", {})
    for entry in meta.get("dataset_entries", []):
        if entry["name"] == name and entry["params"] == params:
            return entry["note"]
    if "dataset_entries" in meta or group["dataset"].iloc[0] != name:
        return None  # older results keep one note per name, which may be another entry's
    return meta.get("dataset_notes", {}).get(name)


def _figure_section(results: Results, ok: pd.DataFrame, scaling, exponents, directory: Path) -> list[str]:
    if ok.empty:
        return []
    lines = ["## Figures", ""]

    def add(path: Path, caption: str):
        lines.extend([f"![{caption}](figures/{path.name})", "", f"*{caption}*", ""])

    summary = _summary_frame(ok, results.predictions)
    unit = point_unit(ok)
    add(
        figures.point_plot(
            summary,
            directory / "final_metrics.png",
            f"{results.name}: metrics per variant at the reported {unit}",
        ),
        f"Metrics per variant at the reported {unit}: mean and 95% Student-t interval (over seeds and test "
        "examples where per-example predictions were recorded, else over seeds).",
    )
    history = results.history
    if not history.empty:
        h = history.merge(ok[["key", "variant", "dataset", "seed", "eval_split"]], on="key")
        eval_h, where = h[h["split"] == h["eval_split"]], "the eval split"
        if eval_h.empty:  # training.history_splits: val (the eval split was evaluated once, at the end)
            eval_h, where = h[h["split"] == "val"], "the val split"
        in_steps = set(ok.loc[ok["point_unit"] == "step", "dataset"]) if "point_unit" in ok else set()
        for metric in ("loss", "accuracy") if not eval_h.empty else ():
            chance = chance_levels(ok, metric)
            path = figures.curves(
                eval_h,
                metric,
                directory / f"{metric}_curves.png",
                f"{results.name}: {metric} on {where} (95% CI over seeds)",
                chance,
                in_steps,
            )
            add(path, curves_caption(eval_h, metric, chance, where))
        several = h.groupby("dataset")["split"].transform("nunique") > 1
        if several.any():
            path = figures.split_curves(
                h[several],
                "accuracy",
                directory / "train_vs_eval.png",
                f"{results.name}: accuracy per split",
                in_steps,
            )
            if path is not None:
                add(
                    path,
                    "Accuracy on every split over training (mean over seeds), a panel per variant and "
                    "dataset: a widening gap between train and the held-out splits is overfitting.",
                )
    lines += _grid_figures(results, ok, directory, add)
    if scaling is not None:
        panels = {
            c: label for c, (label, _) in scaling_costs().items() if c in scaling and scaling[c].notna().any()
        }
        points = scaling_points(scaling)
        path = figures.scaling(
            points, panels, exponents, directory / "scaling.png", f"{results.name}: cost vs sequence length"
        )
        add(path, scaling_caption(points, panels))
    lines += _positional_figure(results, ok, directory, add)
    lines += _attention_figures(results, ok, directory, add)
    return lines


def chance_levels(ok: pd.DataFrame, metric: str) -> dict[str, float]:
    """Per dataset, what a model that learned nothing scores on the eval split: the majority
    class's accuracy (the largest any trial recorded) or the constant predictor's loss (the
    smallest); none for results older than these columns."""
    column, pick = {"accuracy": ("chance_accuracy", "max"), "loss": ("chance_loss", "min")}.get(
        metric, (None, None)
    )
    if column not in ok:
        return {}
    levels = ok.groupby("dataset", observed=True)[column].agg(pick).dropna()
    return {str(k): float(v) for k, v in levels.items()}


def curves_caption(history: pd.DataFrame, metric: str, chance: dict, where: str = "the eval split") -> str:
    """The curves' caption: what is drawn (on `where`), and where a band is drawn other than as computed."""
    caption = f"{metric.capitalize()} on {where} over training, mean and 95% CI band over seeds"
    if chance:
        what = (
            "the majority class's accuracy" if metric == "accuracy" else "the best constant predictor's loss"
        )
        beside = (
            ""
            if where == "the eval split"
            else f", drawn beside {where}'s curves: val's own chance is not stored"
        )
        caption += f"; the dashed line is chance ({what} on the eval split{beside})"
    bands = figures.curve_bands(history, metric)
    if figures.log_floor(bands) is None:
        return caption + "."
    caption += "; log axis: values span decades."
    cut = figures.cut_bands(bands)
    if cut:
        caption += (
            f" {cut} {'bands reach' if cut > 1 else 'band reaches'} 0 or below somewhere, which a log axis cannot "
            "show: there they end at half the smallest mean drawn."
        )
    return caption


def scaling_caption(points: pd.DataFrame, panels: dict[str, str]) -> str:
    """The scaling figure's caption, which says where a band is drawn other than as computed."""
    drawn = points[points["column"].isin(panels) & points["lo"].notna()]
    cut = int((drawn["lo"] <= 0).sum())
    caption = (
        "Cost vs sequence length on log-log axes: the mean of the independent measurements at each "
        "length, with a 95% Student-t band over them (a measurement shared by trials trained or "
        f"measured together counts once; no band where a length has fewer than {MIN_SEEDS}); "
        "legends give fitted exponents."
    )
    if cut:
        caption += (
            f" {cut} of the {len(drawn)} intervals {'reaches' if cut == 1 else 'reach'} 0 or below "
            "(wider than the mean), which a log axis cannot show: those bands end at half the "
            "panel's smallest mean."
        )
    return caption


def _summary_frame(ok: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for dataset in dict.fromkeys(ok["dataset"]):
        g = ok[ok["dataset"] == dataset]
        for metric in quality_metrics(g):
            column = metrics.column(metric)
            for variant, v in g.groupby("variant", observed=True):
                s = eval_summary(v, metric, predictions)
                rows.append(
                    {
                        "dataset": dataset,
                        "label": column.label("eval split" if column.split is None else None),
                        "unit": column.metric.unit,
                        "variant": str(variant),
                        "mean": s.mean,
                        "lo": s.lo,
                        "hi": s.hi,
                    }
                )
    return pd.DataFrame(rows)


def _grid_figures(results: Results, ok: pd.DataFrame, directory: Path, add) -> list[str]:
    """The headline accuracy against each numeric grid axis, a line per variant (and other axes)."""
    # meta["grid"] holds each axis's values as the schema reads them, and meta["factors"] each label's
    # point (any section: training.lr); results stored before them had model axes only
    grid = results.meta.get("grid") or (results.meta.get("spec") or {}).get("grid") or {}
    factors = results.meta.get("factors") or {}
    numeric = [
        a
        for a, values in grid.items()
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    ]
    if not numeric:
        return []
    config = ok["config"].map(json.loads)
    if factors:
        frame = ok.assign(**{a: ok["variant"].map(lambda v, a=a: factors.get(v, {}).get(a)) for a in grid})
    else:
        frame = ok.assign(**{a: config.map(lambda c, a=a: c["model"].get(a)) for a in grid})
    column = headline_accuracy(ok)
    for i, axis in enumerate(numeric):
        others = [a for a in grid if a != axis]
        frame["line"] = frame["variant"].astype(str).str.replace(r"\[.*\]$", "", regex=True) + frame[
            others
        ].apply(lambda r, others=others: "".join(f", {a}={r[a]}" for a in others), axis=1)
        path = figures.grid_axis(
            frame,
            axis,
            column,
            metrics.column(column).label(),
            directory / f"grid_{i}.png",
            f"{results.name}: {metrics.column(column).label()} against {axis}",
        )
        add(
            path,
            f"{metrics.column(column).label().capitalize()} against the grid axis `{axis}`: mean and 95% "
            "Student-t interval over seeds, a line per variant and value of the other axes, a panel per dataset.",
        )
    return []


def _positional_figure(results: Results, ok: pd.DataFrame, directory: Path, add) -> list[str]:
    """The position tables the study's variants use: the fixed sinusoidal and rotary tables only
    where a variant uses them, and the learned tables the trials recorded (`measure.artifacts`)."""
    kinds = set(ok["positional"].dropna()) if "positional" in ok else set()
    learned = _learned_tables(results, ok) if "learned" in kinds else {}
    dim = int(ok["dim"].dropna().max()) if "dim" in ok and ok["dim"].notna().any() else 0
    rope = ok[ok["positional"] == "rope"] if "rope" in kinds else ok.iloc[:0]
    rope_dim = dim // int(rope["heads"].max()) if len(rope) and dim else None
    drawn = bool(learned) or (dim and ("sinusoidal" in kinds or rope_dim is not None))
    untabled = "learned" in kinds and not learned
    note = (
        ["The learned position tables were not recorded (`measure.artifacts: true` records them).", ""]
        if untabled
        else []
    )
    if not drawn:
        return note
    length = max([8, *ok["T"].dropna().astype(int), *(v.shape[0] for v in learned.values())])
    path = figures.positional_heatmaps(
        length,
        dim,
        learned,
        directory / "positional_encodings.png",
        f"{results.name}: positional encodings (dim {dim})",
        sinusoidal="sinusoidal" in kinds,
        rope_dim=rope_dim,
    )
    fixed = [
        k for k, used in (("sinusoidal", "sinusoidal" in kinds), ("rotary", rope_dim is not None)) if used
    ]
    parts = [f"the fixed {' and '.join(fixed)} table{'s' if len(fixed) > 1 else ''}"] if fixed else []
    if learned:
        parts.append(
            "each learned table after training (first seed; positions past the training length are never trained)"
        )
    add(path, f"Positional encodings the study's variants use, as heatmaps: {'; '.join(parts)}.")
    return note


def _learned_tables(results: Results, ok: pd.DataFrame) -> dict[str, np.ndarray]:
    """The first seed's learned position table per variant and dataset, where recorded."""
    art = results.artifacts
    if art.empty or not (art["kind"] == "learned_positions").any():
        return {}
    tables = art[art["kind"] == "learned_positions"].merge(
        ok[["key", "variant", "dataset", "seed"]], on="key"
    )
    learned = {}
    for (dataset, variant), g in tables.groupby(["dataset", "variant"], observed=True, sort=False):
        first = g.sort_values("seed").iloc[0]
        learned[f"{variant}, {dataset}, seed {first.seed}"] = np.asarray(first["values"]).reshape(
            first["rows"], first["cols"]
        )
    return learned


def _attention_figures(results: Results, ok: pd.DataFrame, directory: Path, add) -> list[str]:
    art = results.artifacts
    if art.empty or not (art["kind"] == "attention").any():
        return []
    att = art[(art["kind"] == "attention") & (art["input"] == 0) & (art["layer"] == 0)]
    att = att.merge(ok[["key", "variant", "dataset", "seed"]], on="key")
    for i, (dataset, g) in enumerate(att.groupby("dataset", sort=False)):
        first_seed = g.groupby("variant", observed=True)["seed"].transform("min")
        g = g[g["seed"] == first_seed].sort_values(["variant", "head"])
        panels = [
            (str(r.variant), int(r.head), np.asarray(r.values).reshape(r.rows, r.cols), list(r.tokens))
            for r in g.itertuples()
        ]
        path = figures.attention_heads(
            panels,
            directory / f"attention_{i}.png",
            f"{results.name}: attention weights on {dataset} (first test row, layer 1, first seed)",
        )
        add(
            path,
            f"Attention weights per head on {dataset}: the first row of the eval split, layer 1, the "
            "first seed of each variant; ticks are position:token.",
        )
    return []
