"""Health, comparisons against the baseline and the sentences they support, top-down.

Every sentence here is made from a number computed in `suite.report.stats` and judged
in `suite.report.verdicts`: a difference is called better or worse only when it is
significant (Holm-corrected p < 0.05 and a CI that excludes zero; the same Δ in every seed has
no interval, and the exact sign-flip test alone decides) and larger than the metric's
`min_effect`; otherwise it reads negligible, equivalent or inconclusive (with
the seeds needed), and two variants that both failed to learn are never ranked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from suite import metrics
from suite.report import resampling
from suite.report.contrasts import Contrast, find, from_runs
from suite.report.load import (
    Results,
    approximated,
    example_matrix,
    headline_accuracy,
    headline_stage,
    metric_name,
    point_unit,
    quality_metrics,
)
from suite.report.stats import (
    MIN_SEEDS,
    Test,
    describe,
    example_test,
    exponent,
    family,
    fmt,
    measurement_ids,
    min_p,
    seed_test,
    signed,
    t_interval,
)
from suite.report.verdicts import (
    DIVERGED,
    Health,
    Verdict,
    contrast_text,
    contrast_verdict,
    health,
    margin,
)


def scaling_costs() -> dict[str, tuple[str, str]]:
    """Column → (axis label with unit, what the finding calls it): the costs fitted against T."""
    return {m.name: m.scaling for m in metrics.every("cost") if m.scaling}


def min_effects(results: Results) -> dict[str, float]:
    """The study's `min_effect` overrides (metric name → absolute threshold)."""
    return dict((results.meta.get("spec") or {}).get("min_effect") or {})


def healths(results: Results) -> dict[tuple[str, str], Health]:
    """(dataset, variant) → health at the reported epoch, from every finished trial."""
    out = {}
    done = results.finished
    margin = min_effects(results).get("accuracy")
    for dataset in results.datasets():
        g = done[done["dataset"] == dataset]
        stage = headline_stage(g)
        train = f"{stage}_train_accuracy" if g["eval_split"].iloc[0] != "train" else None
        for variant, v in g.groupby("variant", observed=True, sort=False):
            out[(dataset, str(variant))] = health(v, f"{stage}_accuracy", f"{stage}_loss", train, margin)
    return out


def primary_metric(results: Results) -> str:
    """The study's primary metric (`primary:`, else the registry's for its datasets' task): the only one
    in the verdict family."""
    chosen = (results.meta.get("spec") or {}).get("primary")
    if chosen:
        return chosen
    runs = results.runs
    tasks = set(runs["task"].dropna()) if "task" in runs else set()
    return metrics.primary(tasks.pop() if len(tasks) == 1 else None).name


@dataclass
class Comparison:
    """One contrast on one dataset and one metric."""

    dataset: str
    contrast: Contrast
    metric: str  # the result column
    split: str
    result: Test
    primary: bool = False
    mean_a: float = math.nan  # the reference side's value (the cells' mean for a factorial side)
    mean_b: float = math.nan
    verdict: Verdict | None = None
    notes: list[str] = field(default_factory=list)  # health flags beside the verdict
    stopped: str | None = None  # why no verdict is given (a side diverged; both failed)
    sequential: str | None = (
        None  # a sequential run: the seeds it took and why it stopped (suite.report.resolve)
    )

    @property
    def variant(self) -> str:
        return self.contrast.b

    @property
    def baseline(self) -> str:
        return self.contrast.a


def study_contrasts(results: Results) -> list[Contrast]:
    """The contrasts of the study's finished variants (suite.report.contrasts)."""
    ok = results.finished
    if ok.empty:
        return []
    spec = results.meta.get("spec") or {}
    configs = from_runs(ok.sort_values("variant", kind="stable"))
    return find(configs, results.baseline, spec.get("compare"), spec.get("grid"))


def compare_contrasts(results: Results) -> list[Comparison]:
    """Every contrast per dataset and quality metric, paired by seed (and device; and test example
    where predictions were recorded). The primary metric's comparisons form the verdict family
    (Holm over contrasts × datasets; intervals at the level each was tested at); the other metrics
    get unadjusted 95% intervals and no verdict."""
    ok = results.finished
    found = study_contrasts(results)
    if not found:
        return []
    state = healths(results)
    primary = primary_metric(results)
    overrides = min_effects(results)
    out: list[Comparison] = []
    for dataset in results.datasets():
        g = ok[ok["dataset"] == dataset]
        split = g["eval_split"].iloc[0]
        labels = {str(v) for v in g["variant"].unique()}
        unit = ["seed", "fold", "device"] if resampling.cross_validated(g) else ["seed", "device"]
        by_label = {str(v): rows.set_index(unit) for v, rows in g.groupby("variant", observed=True)}
        for contrast in found:
            if not set(contrast.labels) <= labels:
                continue
            sides = [state.get((dataset, label)) for label in contrast.labels]
            stopped = None
            if any(h and h.state == DIVERGED for h in sides):
                stopped = "a side diverged"
            elif all(h and h.failed for h in sides):
                stopped = "both failed to learn" if len(sides) == 2 else "every cell failed to learn"
            order = sorted(zip(contrast.weights, sides, strict=True), key=lambda x: x[0][1])  # a's side first
            notes = [
                f"{label}: {', '.join(h.flags)}" for (label, _), h in order if h and h.flags and not stopped
            ]
            for metric in quality_metrics(g):
                test, mean_a, mean_b = _contrast_test(results, by_label, contrast, metric)
                col = metrics.column(metric)
                is_primary = col.metric.name == primary and col.split is None
                out.append(
                    Comparison(dataset, contrast, metric, split, test, is_primary, mean_a, mean_b,
                               notes=list(notes), stopped=stopped)
                )  # fmt: skip
    members = [
        c
        for c in out
        if c.primary and not c.stopped and c.result.n >= MIN_SEEDS and math.isfinite(c.result.p)
    ]
    family([c.result for c in members])
    tested = {id(c) for c in members}
    for c in out:
        if id(c) not in tested:
            describe(c.result)
    size = len(members)
    for c in out:
        metric = metrics.column(c.metric).metric
        g = ok[ok["dataset"] == c.dataset]
        chance = float(g["chance_loss"].min()) if metric.name == "loss" and "chance_loss" in g else math.nan
        reference = c.mean_a if c.contrast.kind != "interaction" else (c.mean_a + c.mean_b) / 2
        threshold = margin(metric, reference, chance, overrides.get(metric.name))
        if not c.primary:
            c.verdict = Verdict("described", threshold)
            continue
        values = (math.nan, math.nan) if c.contrast.kind == "interaction" else (c.mean_a, c.mean_b)
        c.verdict = contrast_verdict(c.result, metric, threshold, c.contrast.kind, values, c.stopped, size)
    return out


def _contrast_test(
    results: Results, by_label: dict, contrast: Contrast, metric: str
) -> tuple[Test, float, float]:
    """The contrast's Δ per seed (Σ weight × value), tested; two-level where every cell has
    predictions on a held-out eval split at the reported epoch."""
    frames = [by_label[label] for label in contrast.labels]
    common = frames[0].index
    for f in frames[1:]:
        common = common.intersection(f.index)
    common = common.sort_values()
    values = [f.loc[common, metric].to_numpy(float) for f in frames]
    weights = [w for _, w in contrast.weights]
    mean_b = (
        sum(w * float(np.nanmean(v)) for w, v in zip(weights, values, strict=True) if w > 0)
        if len(common)
        else math.nan
    )
    mean_a = (
        -sum(w * float(np.nanmean(v)) for w, v in zip(weights, values, strict=True) if w < 0)
        if len(common)
        else math.nan
    )
    col = metrics.column(metric)
    first = frames[0]
    if "fold" in first.index.names:  # paired by (seed, fold); folds share training rows
        d = sum(w * v for w, v in zip(weights, values, strict=True)) if len(common) else np.array([])
        return resampling.fold_test(d, resampling.fold_ratio(pd.concat(frames))), mean_a, mean_b
    held_out = first["eval_split"].iloc[0] != "train"  # the course's toy sets: eval = train, no sample
    if (
        held_out and col.split is None and col.stage == headline_stage(first)
        and not results.predictions.empty and len(common) >= MIN_SEEDS
    ):  # fmt: skip
        mats = [
            example_matrix(results.predictions, list(f.loc[common, "key"]), col.metric.name) for f in frames
        ]
        if all(m is not None for m in mats) and len({m.shape for m in mats}) == 1:
            d = sum(w * m for w, m in zip(weights, mats, strict=True))
            return example_test(d), mean_a, mean_b
    d = sum(w * v for w, v in zip(weights, values, strict=True)) if len(common) else np.array([])
    return seed_test(d), mean_a, mean_b


def health_findings(results: Results, state: dict[tuple[str, str], Health]) -> list[str]:
    """The first paragraph: which variants learned each task, and which did not (and why)."""
    lines = []
    for dataset in results.datasets():
        mine = {v: h for (d, v), h in state.items() if d == dataset}
        if not mine:
            continue
        by_state: dict[str, list[str]] = {}
        why_once: dict[str, str] = {}
        for variant, h in mine.items():
            plain = h.state in ("learned", "unknown")
            by_state.setdefault(h.state, []).append(variant if plain else f"{variant} ({h.why})")
            if h.state == "unknown":
                why_once[h.state] = h.why
        parts = [
            f"{s} ({why_once[s]}): {', '.join(vs)}" if s in why_once else f"{s}: {', '.join(vs)}"
            for s, vs in by_state.items()
        ]
        unit = point_unit(results.finished[results.finished["dataset"] == dataset])
        lines.append(f"Health on **{dataset}** at the reported {unit} — " + "; ".join(parts) + ".")
    return lines


def summary_findings(results: Results, state: dict[tuple[str, str], Health]) -> list[str]:
    """One line per dataset: variants ranked by the primary metric, ties (within min_effect) grouped."""
    ok = results.finished
    overrides = min_effects(results)
    lines = []
    for dataset in results.datasets():
        g = ok[ok["dataset"] == dataset]
        column = headline_accuracy(g)
        metric = metrics.column(column).metric
        means = g.groupby("variant", observed=True)[column].mean().dropna()
        if means.empty:
            continue
        ranked = means.sort_values(ascending=not metric.higher_is_better)
        threshold = metric.min_effect(float(ranked.iloc[0]), overrides.get(metric.name))
        groups: list[list[str]] = []
        last = None
        for variant, value in ranked.items():
            h = state.get((dataset, str(variant)))
            text = f"{variant} {metric.format(value)}" + (f" ({h.state})" if h and h.failed else "")
            if last is not None and abs(value - last) <= threshold:
                groups[-1].append(text)
            else:
                groups.append([text])
            last = value
        order = " > ".join(" ≈ ".join(group) for group in groups)
        failed = [v for (d, v), h in state.items() if d == dataset and h.failed]
        tail = f"; failed to learn or diverged: {', '.join(failed)}" if failed else ""
        lines.append(
            f"**{dataset}**, {metric_name(column, g['eval_split'].iloc[0])}, ranked by mean (≈: within "
            f"{metric.format(threshold)}; a rank is not a verdict, see the Answer): {order}{tail}."
        )
    return lines


def _delta(c: Comparison) -> str:
    """'1.000 → 0.500, Δ −0.500 in all 10 seeds' or 'Δ +0.012 [0.004, 0.020] (99.8%), 9/10 agree'."""
    r = c.result
    metric = metrics.column(c.metric).metric
    means = (
        "" if c.contrast.kind == "interaction" else f"{metric.format(c.mean_a)} → {metric.format(c.mean_b)}, "
    )
    units = _units(r)
    if r.test == "sign":
        return f"{means}Δ {signed(r.diff)} in all {r.n} {units}"
    ci = f" [{fmt(r.lo)}, {fmt(r.hi)}] ({_level(r.confidence)})" if r.has_ci else ""
    return f"{means}Δ {signed(r.diff)}{ci}, {r.agree}/{r.n} {units} agree"


def _units(r: Test) -> str:
    """What a test's replicates are: seeds, or (seed, fold) pairs of a cross-validation."""
    return "folds" if r.sources == resampling.FOLD_SOURCES else "seeds"


def _level(confidence: float) -> str:
    text = f"{confidence * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _pvalue(c: Comparison) -> str:
    r = c.result
    test = "exact sign test" if r.test == "sign" else "t" if r.test == "t" else r.test
    if c.sequential:
        return f"{test} p = {fmt(r.p, 4)} against the look's level {fmt(1 - r.confidence, 4)}"
    return f"{test} p = {fmt(r.p, 4)}, Holm {fmt(r.p_adj, 4)}"


def answer_clause(c: Comparison) -> str:
    """One dataset's part of a contrast's answer sentence."""
    metric = metrics.column(c.metric).metric
    v = c.verdict
    if c.stopped:
        return f"{c.dataset}: not compared ({c.stopped})"
    if v.word in ("too few seeds", "identical"):
        unit = _units(c.result)[:-1]
        return f"{c.dataset}: {f'identical in every {unit}' if v.word == 'identical' else f'too few seeds ({c.result.n})'}"
    flags = f"; flagged: {'; '.join(c.notes)}" if c.notes else ""
    stop = f"; {c.sequential}" if c.sequential else ""
    return f"{c.dataset}: {_delta(c)}: {contrast_text(v, metric)} ({_pvalue(c)}{stop}){flags}"


def answer_section(results: Results, comparisons: list[Comparison], state: dict) -> list[str]:
    """The report's opening: one sentence per contrast with a clause per dataset (Δ, its interval,
    the seeds that agree, the verdict), then the caveats that change the reading."""
    primary = [c for c in comparisons if c.primary]
    if not primary:
        if results.finished.empty:
            return []
        ranking = summary_findings(results, state)
        return [
            "## Answer",
            "",
            "No verdict: no two variants differ in one knob and the study names no baseline or `compare:` "
            "pairs, so nothing is tested. The ranking below is by mean, not a verdict.",
            "",
            *[f"- {line}" for line in ranking],
            "",
        ]
    members = [c for c in primary if math.isfinite(c.result.p_adj)]
    label = metric_name(primary[0].metric, primary[0].split)
    info = results.meta.get("sequential")
    folds = any(c.result.sources == resampling.FOLD_SOURCES for c in primary)
    paired = "paired by seed and fold, with the corrected resampled t" if folds else "paired by seed"
    intro = f"On {label} (the primary metric; Δ = second − first, {paired}). " + (
        f"Run until resolved: a group-sequential design (looks at {', '.join(map(str, info.get('looks', [])))} "
        f"seeds, α {info.get('alpha')} split over {info.get('family')} contrast × dataset tests, "
        f"{info.get('spending')} spending); each Δ is at the look that stopped it, with its repeated confidence "
        "interval (valid after the stopping rule; over seeds and test examples where predictions are stored, "
        "as the fixed report's, else over seeds) at that look's level; "
        "'in all n seeds': the exact sign test (docs/sequential.md)."
        if info and members
        else f"Verdicts over {len(members)} contrast × dataset test{'' if len(members) == 1 else 's'}, "
        "Holm-corrected; each interval is at the level its test was judged at, so it excludes 0 exactly "
        "when the verdict does; 'in all n seeds': the same Δ in every seed, decided by the exact sign "
        "test (see Method)."
        if members
        else "No contrast could be tested: in each, a side diverged or both failed to learn."
    )
    lines = ["## Answer", "", intro, ""]
    by_contrast: dict[str, list[Comparison]] = {}
    for c in primary:
        by_contrast.setdefault(c.contrast.name, []).append(c)
    for name, cs in by_contrast.items():
        con = cs[0].contrast
        pair = f" ({con.a} → {con.b})" if con.kind == "pair" and f"{con.a} → {con.b}" not in name else ""
        lines.append(f"- **{name}**{pair} — " + "; ".join(answer_clause(c) for c in cs) + ".")
    caveats = answer_caveats(results, comparisons, state)
    if caveats:
        lines += ["", "Caveats that change the reading:", ""] + [f"- {c}" for c in caveats]
    return [*lines, ""]


def answer_caveats(results: Results, comparisons: list[Comparison], state: dict) -> list[str]:
    out = []
    ok = results.finished
    same = [d for d in results.datasets() if ok.loc[ok["dataset"] == d, "eval_split"].iloc[0] == "train"]
    if same:
        rows = []
        for d in same:
            keys = set(ok.loc[ok["dataset"] == d, "key"])
            p = results.predictions
            n = p[p["key"].isin(keys)].groupby("key").size().max() if not p.empty and "key" in p else None
            rows.append(f"{d} ({int(n)} rows)" if n is not None and n == n else d)
        out.append(
            f"The eval split is the training split on {', '.join(rows)}: these Δ describe how well each "
            "variant fits (memorises) those rows, not how it generalises."
        )
    flagged: dict[str, list[str]] = {}
    for (dataset, variant), h in state.items():
        for flag in h.caveats:
            flagged.setdefault(flag, []).append(f"{variant} on {dataset}")
    meaning = {
        "still improving": "the val-chosen epoch is the last in most seeds: more epochs may change a Δ against them",
        "overfit": "train accuracy more than 0.10 above eval",
        "overconfident": "accuracy above chance but eval loss no better than a constant predictor's",
    }
    for flag, where in flagged.items():
        shown = ", ".join(where[:6]) + (f" and {len(where) - 6} more" if len(where) > 6 else "")
        out.append(f"{flag.capitalize()} ({meaning.get(flag, flag)}): {shown}.")
    rebuilt, underflow = approximated(results.predictions)
    keys = set(ok["key"])
    rebuilt, underflow = [k for k in rebuilt if k in keys], [k for k in underflow if k in keys]
    if underflow:
        names = ok[ok["key"].isin(underflow)].apply(
            lambda r: f"{r['variant']} seed {r['seed']} on {r['dataset']}", axis=1
        )
        out.append(
            f"{len(underflow)} trial(s) stored no per-example loss and a true-class probability that "
            f"underflowed float32 ({', '.join(names)}): their loss is the trial's measured one, over seeds "
            "only, not rebuilt from the probabilities."
        )
    elif rebuilt and any(
        c.result.sources == "seeds × test examples" and "loss" in c.metric for c in comparisons
    ):
        out.append(
            f"The per-example loss of {len(rebuilt)} trial(s) is rebuilt as −log p(true) from float32 "
            "probabilities (results older than the stored `nll`)."
        )
    return out


def contrast_rows(comparisons: list[Comparison]) -> pd.DataFrame:
    """comparisons.csv: one row per contrast × dataset × metric (suite.report.training writes it)."""
    rows = []
    for c in comparisons:
        r = c.result
        con = c.contrast
        if r.test == "sign":
            interval = f"none: the same Δ in all {r.n} {_units(r)} (exact sign test)"
        elif not r.has_ci:
            interval = "none"
        else:
            scope = (
                "Holm level, in the verdict family"
                if c.primary and math.isfinite(r.p_adj)
                else "unadjusted, described only"
            )
            interval = f"{_level(r.confidence)} t interval over {r.sources} ({scope})"
        if c.sequential and r.has_ci:
            interval = f"{_level(r.confidence)} repeated confidence interval over {r.sources} (group-sequential look)"
        rows.append(
            {
                "contrast": con.name, "knob": con.knob, "a": con.a, "b": con.b, "value_a": con.value_a,
                "value_b": con.value_b, "within": con.within, "dataset": c.dataset, "metric": c.metric,
                "primary": bool(c.primary and math.isfinite(r.p_adj)), "n": r.n, "delta": r.diff, "lo": r.lo,
                "hi": r.hi, "interval": interval, "p": r.p, "p_adj": r.p_adj, "agree": r.agree,
                "min_effect": c.verdict.min_effect if c.verdict else math.nan,
                "verdict": c.verdict.word if c.verdict else "",
                "flags": "; ".join(([c.stopped] if c.stopped else []) + c.notes),
                "stopped_by": c.sequential or "",
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=CSV_COLUMNS)


CSV_COLUMNS = [
    "contrast", "knob", "a", "b", "value_a", "value_b", "within", "dataset", "metric", "primary", "n",
    "delta", "lo", "hi", "interval", "p", "p_adj", "agree", "min_effect", "verdict", "flags", "stopped_by",
]  # fmt: skip


def method_note(results: Results, comparisons: list[Comparison]) -> str:
    if not comparisons:
        return ""
    ok = results.finished
    replicate = resampling.replicate_ids(ok)  # (seed, fold)
    seeds = (
        ok.assign(replicate=replicate).groupby(["dataset", "variant"], observed=True)["replicate"].nunique()
    )
    n = int(seeds.min()) if len(seeds) else 0
    m = sum(1 for c in comparisons if c.primary and math.isfinite(c.result.p_adj))
    two = any(c.result.sources == "seeds × test examples" for c in comparisons)
    overrides = min_effects(results)
    loss, acc = metrics.get("loss"), metrics.get("accuracy")
    thresholds = (
        f"accuracy {overrides['accuracy']}" if "accuracy" in overrides else f"accuracy {acc.min_effect_abs}"
    ) + (
        f", loss {overrides['loss']}"
        if "loss" in overrides
        else f", loss max({loss.min_effect_rel:.0%} of the reference's, {loss.min_effect_chance:.0%} of the "
        "chance loss)"
    )
    level = (
        "Where every trial recorded per-example predictions on a held-out split, Δ's test and interval "
        "cover seeds and test examples (two-level: var(seed means)/S + var(example means)/N, t at "
        "Welch–Satterthwaite df). "
        if two
        else ""
    )
    folds = (
        "On a cross-validated dataset the replicates are (seed, fold) pairs, and Δ's test and interval "
        "(and each variant's) are the Nadeau–Bengio corrected resampled t: variance (1/J + "
        "n_test/n_train)·s² over the J pairs, df J − 1, since the folds share most of their training "
        "rows and a plain t over them is too narrow. "
        if any(c.result.sources == resampling.FOLD_SOURCES for c in comparisons)
        else ""
    )
    return (
        "**Method.** A contrast sets two variants whose configurations differ in one knob (a grid's "
        "main effects and interactions average its cells, paired by seed); Δ per seed is tested with a "
        "paired t test, or, where every seed gives the same Δ (no spread to estimate), the exact sign "
        f"test (p = 2/2^n: {fmt(min_p(n), 4)} at {n} seeds). {level}{folds}The verdict family is the primary "
        f"metric's {m} contrast × dataset tests, Holm-corrected; the other metrics are described with "
        "unadjusted 95% intervals (appendix). **better/worse** when Holm rejects and |Δ| exceeds the "
        f"smallest effect worth a word ({thresholds}); negligible when it rejects but |Δ| is smaller; "
        "equivalent when the printed interval lies inside ±that effect (never where the effect is larger "
        "than both values); inconclusive otherwise, with the seeds that would resolve it. A pair where "
        "a side diverged or both failed to learn is not compared. Details: docs/statistics.md."
    ) + (
        " **This run was sequential** (`--until-resolved`): the primary metric's verdicts come from its "
        "group-sequential design instead — α split by Bonferroni over the family, each contrast judged at the "
        "look that stopped it, with a repeated confidence interval (docs/sequential.md)."
        if results.meta.get("sequential")
        else ""
    )


# ---- scaling ---------------------------------------------------------------------------------


def scaling_frame(results: Results) -> pd.DataFrame | None:
    """Cost per trial against T, where one dataset is run at three or more lengths."""
    ok = results.finished
    if "T" not in ok or ok["T"].dropna().nunique() < 3:
        return None
    frame = ok[ok["T"].notna()].copy()
    frame["T"] = frame["T"].astype(float)
    with np.errstate(divide="ignore"):
        for m in metrics.every("cost"):
            if m.reciprocal_of and m.reciprocal_of in frame:
                frame[m.name] = 1.0 / frame[m.reciprocal_of]
    frame["variant"] = frame["variant"].astype(str)
    return frame


def fit_range(frame: pd.DataFrame) -> list[float]:
    """The lengths an exponent is fitted over: the three largest, where fixed per-call
    overheads matter least (all of them when there are only three)."""
    return sorted(frame["T"].unique())[-3:]


def measurements(g: pd.DataFrame, column: str) -> tuple[pd.DataFrame, int]:
    """Rows (seed, T, column) with one row per independent measurement: a value the registry
    says is shared (a vectorized group's training time, a memory group's peak memory) counts
    once; the second value is the most trials one measurement covers."""
    metric = metrics.get(column)
    if metric.shared_by is None:
        return g[["seed", "T", column]], 1
    frame = g.assign(_m=measurement_ids(g, g[column], metric.shared_by))
    per = frame.groupby(["T", "_m"], sort=False)
    one = per.first().reset_index()
    one["seed"] = one.groupby("T").cumcount()  # measurements at one length, numbered
    return one[["seed", "T", column]], int(per.size().max())


def scaling_points(frame: pd.DataFrame) -> pd.DataFrame:
    """What the scaling figure draws: per (column, variant, T) the mean of the independent
    measurements and its 95% Student-t interval over them (NaN below MIN_SEEDS measurements,
    e.g. one shared by the whole group). Columns: column, variant, T, mean, lo, hi, n."""
    rows = []
    for column in scaling_costs():
        if column not in frame:
            continue
        data = frame[frame[column].notna() & (frame[column] > 0)]
        for variant, g in data.groupby("variant", sort=False):
            one, _ = measurements(g, column)
            for t, v in one.groupby("T", sort=True):
                values = v[column].to_numpy(float)
                lo, hi = t_interval(values)
                rows.append(
                    {"column": column, "variant": variant, "T": t, "mean": values.mean(), "lo": lo, "hi": hi,
                     "n": len(values)}
                )  # fmt: skip
    return pd.DataFrame(rows, columns=["column", "variant", "T", "mean", "lo", "hi", "n"])


def scaling_exponents(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float, float, int, int]]:
    """(column, variant) → (exponent, lo, hi, trials per measurement, fewest measurements at a length)."""
    lengths = fit_range(frame)
    fitted = frame[frame["T"].isin(lengths)]
    out = {}
    for column in scaling_costs():
        if column not in frame:
            continue
        for variant, g in fitted.groupby("variant", sort=False):
            if g[column].notna().sum() >= 2:
                rows, shared = measurements(g, column)
                fewest = int(rows.groupby("T")[column].count().min())
                out[(column, variant)] = (*exponent(rows, "T", column), shared, fewest)
    return out


def scaling_findings(frame: pd.DataFrame, exponents: dict) -> list[str]:
    lengths = fit_range(frame)
    span = f"T = {int(lengths[0])}–{int(lengths[-1])}"
    lines = []
    for column, (_, what) in scaling_costs().items():
        found = [(v, k) for (c, v), k in exponents.items() if c == column and not math.isnan(k[0])]
        if not found:
            continue
        found.sort(key=lambda x: -x[1][0])
        parts = []
        for variant, (k, lo, hi, shared, fewest) in found:
            if not math.isnan(lo):
                ci = f" [{lo:.2f}, {hi:.2f}]"
            elif shared > 1 and fewest == 1:
                ci = f" (1 measurement per length, shared by {shared} trials; no CI)"
            elif shared > 1 and fewest < MIN_SEEDS:
                ci = f" ({fewest} measurements per length, each shared by up to {shared} trials; no CI)"
            elif fewest < MIN_SEEDS:
                ci = f" (no CI: fewer than {MIN_SEEDS} measurements per length)"
            else:
                ci = " (every measurement's curve gives the same exponent; no CI)"
            parts.append(f"{variant} T^{k:.2f}{ci}")
        lines.append(
            f"{what} grows as (fitted over {span}, 95% CI over independent measurements): "
            + ", ".join(parts)
            + "."
        )
    return lines
