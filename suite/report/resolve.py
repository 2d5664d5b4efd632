"""Which contrasts are still open: the report's contrasts and primary metric, judged by the
group-sequential design of suite.sequential, for `ablate run --until-resolved` (which seeds to add),
`ablate check --until-resolved` (what it will cost) and the report (seeds used, why each stopped).

Everything is decided from the stored rows alone, look by look over the seeds in their order (the
study's, then those added), so a run killed between batches, resumed, or rerun reaches the same
decisions. The family is every contrast × dataset found, m fixed before any Δ is seen; health (a
side diverged, both failed to learn) is the report's to judge on all the seeds in the end: a pilot of
4 seeds cannot tell a variant that learned little from one that failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from suite import metrics, sequential
from suite.report.contrasts import Contrast
from suite.report.findings import min_effects, primary_metric, study_contrasts
from suite.report.load import Results, example_matrix, headline_stage, quality_metrics
from suite.report.stats import MIN_SEEDS
from suite.report.verdicts import margin

RESOLVED = ("better", "worse", "interacts", "negligible", "equivalent", "additive", "identical")


@dataclass
class Cell:
    """One contrast on one dataset on the primary metric, and where the design has it."""

    contrast: Contrast
    dataset: str
    metric: str  # the result column
    look: sequential.Look | None  # None until `analyse` judges it
    margin: float = math.nan
    mean_a: float = math.nan
    mean_b: float = math.nan
    template_keys: tuple[str, ...] = ()  # a stored trial per variant of the contrast on this dataset
    deltas: np.ndarray | None = field(default=None, repr=False)  # Δ per seed, in the design's order
    # Δ per seed × test example (same order) where every side stored predictions on a held-out split:
    # the report's two-level statistic; None: seeds only
    matrix: np.ndarray | None = field(default=None, repr=False)

    @property
    def statistic(self) -> str:
        """Which variance the looks use, in words."""
        if self.matrix is not None:
            return f"two-level: seeds × {self.matrix.shape[1]} test examples"
        return "seeds only: no per-example predictions"

    @property
    def open(self) -> bool:
        return self.look is not None and self.look.stop is None

    @property
    def why(self) -> str:
        """Why it stopped, in words: resolved (the verdict), futility, unreachable, the cap, or open."""
        if self.look is None:
            return "not judged"
        stop = self.look.stop
        if stop is None:
            return f"open (the next look needs {self.look.next} seeds)"
        if stop == "cap":
            return f"the cap ({self.look.n} seeds): {self.look.word}"
        if stop == "unreachable":
            look = self.look
            return (
                f"more seeds cannot resolve this ({look.n} seeds): the test set's variance alone leaves the "
                f"interval ±{look.reach:.3g} wide at the remaining looks' widest level, and Δ with unlimited "
                f"seeds lies in [{look.low:+.3g}, {look.high:+.3g}] (one-sided {1 - sequential.FUTILITY_LEVEL:.0%} "
                f"each, over seeds): such an interval could neither exclude 0 nor fit inside ±{self.margin:.3g}; "
                "no verdict"
            )
        if stop == "futility":
            return (
                f"futility at {self.look.n} seeds: an effect of {sequential.FUTILITY_SD:g} seed SD of Δ or more is "
                f"ruled out (one-sided {1 - sequential.FUTILITY_LEVEL:.0%}); no verdict"
            )
        return f"resolved at {self.look.n} seeds: {stop}"


def seed_order(study_seeds: list[int], most: int) -> list[int]:
    """The seeds in the order looks take them: the study's, then the next integers above them."""
    seeds = list(study_seeds)
    nxt = max(seeds) + 1 if seeds else 0
    while len(seeds) < most:
        seeds.append(nxt)
        nxt += 1
    return seeds


def design_from(meta: dict) -> tuple[sequential.Design, list[int]] | None:
    """The design and seed order a sequential run recorded in study.json (None: not sequential)."""
    info = meta.get("sequential")
    if not info:
        return None
    design = sequential.Design(
        int(info["first"]), int(info["batch"]), int(info["max_seeds"]), int(info.get("family") or 1),
        float(info.get("alpha", sequential.ALPHA)), spending=str(info.get("spending", "pocock")),
    )  # fmt: skip
    return design, [int(s) for s in info["seeds"]]


def analyse(
    results: Results, design: sequential.Design, seeds: list[int]
) -> tuple[sequential.Design, list[Cell]]:
    """Every primary contrast × dataset judged by `design` (its family: all of them)."""
    ok = results.finished
    found = study_contrasts(results)
    if not found or ok.empty:
        return design, []
    rank = {s: i for i, s in enumerate(seeds)}
    ok = ok[ok["seed"].isin(rank)]
    primary = primary_metric(results)
    overrides = min_effects(results)
    cells: list[Cell] = []
    for dataset in results.datasets():
        g = ok[ok["dataset"] == dataset]
        if g.empty:
            continue
        column = next(
            (m for m in quality_metrics(g)
             if metrics.column(m).metric.name == primary and metrics.column(m).split is None),
            None,
        )  # fmt: skip
        if column is None:
            continue
        labels = {str(v) for v in g["variant"].unique()}
        by_label = {
            str(v): rows.set_index(["seed", "device"]) for v, rows in g.groupby("variant", observed=True)
        }
        metric = metrics.column(column).metric
        for contrast in found:
            if not set(contrast.labels) <= labels:
                continue
            d, mean_a, mean_b, keys = _deltas(by_label, contrast, column, rank, design.first)
            chance = (
                float(g["chance_loss"].min()) if metric.name == "loss" and "chance_loss" in g else math.nan
            )
            reference = mean_a if contrast.kind != "interaction" else (mean_a + mean_b) / 2
            threshold = margin(metric, reference, chance, overrides.get(metric.name))
            template = tuple(str(by_label[label]["key"].iloc[0]) for label in contrast.labels)
            matrix = _example_deltas(results, g, contrast, column, keys)
            cells.append(
                Cell(contrast, dataset, column, None, threshold, mean_a, mean_b, template, d, matrix)
            )
    design = replace(design, family=max(len(cells), 1))  # every test found: fixed before any Δ is seen
    for c in cells:
        values = None if c.contrast.kind == "interaction" else (c.mean_a, c.mean_b)
        data = c.matrix if c.matrix is not None else c.deltas
        c.look = sequential.judge(data, design, c.margin, metrics.column(c.metric).metric.better(1.0),
                                  values, c.contrast.kind == "interaction")  # fmt: skip
    return design, cells


def _deltas(by_label: dict, contrast: Contrast, column: str, rank: dict, first: int):
    """The contrast's Δ per seed in the design's seed order (seeds every side has), and the sides'
    means on the first look's seeds (the reference value a margin is relative to)."""
    frames = [by_label[label] for label in contrast.labels]
    common = frames[0].index
    for f in frames[1:]:
        common = common.intersection(f.index)
    common = sorted(common, key=lambda sd: (rank[sd[0]], str(sd[1])))
    weights = [w for _, w in contrast.weights]
    values = [f.loc[common, column].to_numpy(float) if common else np.array([]) for f in frames]
    d = sum(w * v for w, v in zip(weights, values, strict=True)) if common else np.array([])
    keys = [list(f.loc[common, "key"]) if common else [] for f in frames]
    head = [i for i, sd in enumerate(common) if rank[sd[0]] < first]
    mean_b = (
        sum(w * float(np.nanmean(v[head])) for w, v in zip(weights, values, strict=True) if w > 0)
        if head
        else math.nan
    )
    mean_a = (
        -sum(w * float(np.nanmean(v[head])) for w, v in zip(weights, values, strict=True) if w < 0)
        if head
        else math.nan
    )
    return np.asarray(d, float), mean_a, mean_b, keys


def _example_deltas(results: Results, rows, contrast: Contrast, column: str, keys: list[list[str]]):
    """Δ per seed × test example, as the report's `_contrast_test` takes it (a held-out eval split,
    the reported epoch's predictions for every side, the same examples), or None: seeds only."""
    col = metrics.column(column)
    held_out = rows["eval_split"].iloc[0] != "train" if "eval_split" in rows else False
    if (
        not (held_out and col.split is None and col.stage == headline_stage(rows))
        or results.predictions.empty
    ):
        return None
    if not keys or len(keys[0]) < MIN_SEEDS:
        return None
    mats = [example_matrix(results.predictions, k, col.metric.name) for k in keys]
    if any(m is None for m in mats) or len({m.shape for m in mats}) != 1:
        return None
    return sum(w * m for (_, w), m in zip(contrast.weights, mats, strict=True))


def wanted(cells: list[Cell], seeds: list[int]) -> list[tuple[str, list[int]]]:
    """(a stored trial's key, the seeds its variant and dataset still need) for every open cell."""
    out: dict[str, list[int]] = {}
    for c in cells:
        if c.open and c.look.next:
            for key in c.template_keys:
                out.setdefault(key, [])
                out[key] = sorted(set(out[key]) | set(seeds[: c.look.next]), key=seeds.index)
    return list(out.items())


def record(design: sequential.Design, seeds: list[int], cells: list[Cell]) -> dict:
    """What study.json keeps of a sequential run: the design, the seed order and each cell's state."""
    return {
        **design.describe(),
        "seeds": seeds,
        "cells": [
            {
                "contrast": c.contrast.name,
                "dataset": c.dataset,
                "seeds": c.look.n if c.look else 0,
                "verdict": c.look.word if c.look else "not compared",
                "stopped": (c.look.stop or "open") if c.look else "not compared",
                "statistic": c.statistic,
                "why": c.why,
                **(
                    {"delta": c.look.diff, "lo": c.look.lo, "hi": c.look.hi, "level": c.look.level}
                    if c.look and math.isfinite(c.look.lo)
                    else {}
                ),
            }
            for c in cells
        ],
    }


def base_design(study_seeds: list[int], batch: int, most: int) -> sequential.Design:
    """The design `--until-resolved` runs: its first look at the study's seeds, then every `batch`."""
    return sequential.Design(len(study_seeds), batch, max(most, len(study_seeds)))


def decider(study_seeds: list[int], batch: int, most: int):
    """`want(store)` for suite.runner.run_until_resolved: the seeds the open cells still need, and the
    record study.json keeps, from the stored rows alone."""
    from suite.report.load import load

    design = base_design(study_seeds, batch, most)
    seeds = seed_order(study_seeds, design.most)

    def want(store) -> tuple[list[tuple[str, list[int]]], dict]:
        try:
            results = load(store.dir)
        except FileNotFoundError:
            return [], record(design, seeds, [])
        judged, cells = analyse(results, design, seeds)
        return wanted(cells, seeds), record(judged, seeds, cells)

    return want


def summary_lines(info: dict) -> list[str]:
    """The end of a sequential run: each contrast × dataset with the seeds it took and why it stopped."""
    lines = [
        f"sequential: looks at {', '.join(map(str, info.get('looks', [])))} seeds; α {info.get('alpha')} split over "
        f"{info.get('family')} test(s) ({info.get('spending')} spending)"
    ]
    for cell in info.get("cells", []):
        statistic = f" ({cell['statistic']})" if cell.get("statistic") else ""
        if "lo" in cell:  # the repeated interval at the look that stopped it, on the look's variance
            statistic = (
                f"; Δ {cell['delta']:+.3f} [{cell['lo']:+.3f}, {cell['hi']:+.3f}] "
                f"({1 - cell['level']:.2%} repeated){statistic}"
            )
        lines.append(
            f"  {cell['contrast']} · {cell['dataset']}: {cell['seeds']} seeds, {_stop_words(cell)}{statistic}"
        )
    return lines


def spent_line(results: Results) -> str:
    """A sequential run's cost and outcome in one sentence, measured from its rows: the trials, the
    seeds per variant × dataset, the training time, and how the tests stopped."""
    info = results.meta.get("sequential") or {}
    cells = info.get("cells") or []
    ok = results.finished
    if not cells or ok.empty:
        return ""
    seeds = ok.groupby(["variant", "dataset"], observed=True)["seed"].nunique()
    train = float(ok["train_seconds"].sum()) if "train_seconds" in ok else math.nan
    stops = [c.get("stopped") for c in cells]
    parts = [f"{sum(s in RESOLVED for s in stops)} of {len(cells)} tests resolved"]
    for stop, words in (("futility", "stopped for futility"), ("unreachable", "unreachable by more seeds"),
                        ("cap", "at the cap"), ("open", "still open")):  # fmt: skip
        if stop in stops:
            parts.append(f"{stops.count(stop)} {words}")
    span = f"{seeds.min()}–{seeds.max()}" if seeds.min() != seeds.max() else f"{seeds.min()}"
    time = f", {train:.0f} s of training" if math.isfinite(train) else ""
    return (
        f"Seeds spent: {len(ok)} trials ({span} seeds per variant × dataset{time}); " + ", ".join(parts) + "."
    )


def _stop_words(cell: dict) -> str:
    stop = cell["stopped"]
    if stop in ("open", "not compared"):
        return stop
    if stop == "cap":
        return f"the cap: {cell['verdict']}"
    if stop == "futility":
        return "futility (no verdict)"
    if stop == "unreachable":
        return "more seeds cannot resolve it (the test set's variance; no verdict)"
    return f"resolved: {stop}"


def plan_lines(
    directory, study_seeds: list[int], variants: int, datasets: int, batch: int, most: int
) -> list[str]:
    """`ablate check --until-resolved`: from the stored rows, each open contrast's expected seeds and
    time (normal approximation at its estimated effect) and the worst case at the cap; without rows,
    that a pilot batch (the study's own seeds) comes first."""
    from suite.report.load import load

    design = base_design(study_seeds, batch, most)
    seeds = seed_order(study_seeds, design.most)
    head = (
        f"until resolved: looks at {', '.join(map(str, design.looks))} seeds "
        f"(the study's {design.first}, then every {batch}, at most {design.most})"
    )
    try:
        results = load(directory)
    except FileNotFoundError:
        results = None
    if results is None or results.finished.empty:
        worst = (design.most - design.first) * variants * datasets
        return [
            head,
            f"needs a pilot batch: no stored runs yet, so the study's {design.first} seeds run first "
            f"({design.first * variants * datasets} trials); worst case at --max-seeds {design.most}: "
            f"{worst} more trials",
        ]
    judged, cells = analyse(results, design, seeds)
    ok = results.finished
    per = (
        ok.groupby(["variant", "dataset"], observed=True)["wall_seconds"].median()
        if "wall_seconds" in ok
        else None
    )
    overall = float(ok["wall_seconds"].median()) if "wall_seconds" in ok else math.nan
    lines = [head, f"α {judged.alpha} split over {judged.family} test(s): each spends {judged.each:.4g}"]
    open_pairs: set[tuple[str, str]] = set()
    total_expected = 0.0
    for c in cells:
        name = f"{c.contrast.name} · {c.dataset}"
        if not c.open:
            lines.append(f"  {name}: {c.why}")
            continue
        have = len(c.deltas)
        effect = abs(c.look.diff) / c.look.sd if c.look.sd and c.look.sd > 0 else math.nan
        if math.isfinite(effect):
            # normal approximation, futility left out; the test set's variance in seed variances of Δ
            floor = c.look.floor / c.look.sd**2 if c.look.floor > 0 else 0.0
            expected, _ = sequential.expected_seeds(judged, effect, floor)
            expected = min(float(design.most), max(float(have), expected))
        else:  # no estimate of the effect yet (too few seeds, or the same Δ in every seed)
            expected = float(c.look.next or design.most)
        cost = sum(_wall(per, overall, label, c.dataset) for label in c.contrast.labels)
        extra = max(expected - have, 0.0)
        total_expected += extra * cost
        open_pairs |= {(label, c.dataset) for label in c.contrast.labels}
        lines.append(
            f"  {name}: open at {have} seeds (effect ≈ {effect:.2f} seed SD of Δ): expected ≈ {expected:.1f} seeds, "
            f"≈ {_seconds(extra * cost)} more; worst case {design.most} seeds, {_seconds((design.most - have) * cost)}"
        )
    if open_pairs:
        worst_trials = len(open_pairs) * (design.most - design.first)
        worst_s = sum(_wall(per, overall, v, d) for v, d in open_pairs) * (design.most - design.first)
        lines.append(
            f"worst case at --max-seeds {design.most}: at most {worst_trials} more trials, ≈ {_seconds(worst_s)} "
            f"(expected ≈ {_seconds(total_expected)}, counting a variant shared by contrasts once per contrast)"
        )
    else:
        lines.append("every contrast has stopped: --until-resolved adds no seed")
    return lines


def _wall(per, overall: float, variant: str, dataset: str) -> float:
    try:
        value = float(per.loc[(variant, dataset)]) if per is not None else overall
    except KeyError:
        value = overall
    return value if math.isfinite(value) else 0.0


def _seconds(s: float) -> str:
    if not math.isfinite(s):
        return "unknown time"
    if s < 120:
        return f"{s:.0f} s"
    return f"{s / 60:.0f} min"


def apply(results: Results, comparisons: list) -> None:
    """Where the study ran sequentially (study.json's `sequential`), its primary comparisons take the
    design's decisions: the seeds of the look that stopped each, its test there, its repeated
    confidence interval (at that look's nominal level) and why it stopped."""
    found = design_from(results.meta)
    if found is None:
        return
    from suite.report.stats import Test
    from suite.report.verdicts import Verdict

    design, seeds = found
    _, cells = analyse(results, design, seeds)
    by = {(c.contrast.name, c.dataset): c for c in cells}
    for comp in comparisons:
        cell = by.get((comp.contrast.name, comp.dataset))
        if not comp.primary or cell is None or comp.stopped or cell.look is None:
            continue
        look = cell.look
        n = look.n or len(cell.deltas)
        d = cell.deltas[:n]
        mean = float(np.mean(d)) if n else math.nan
        agree = int((np.sign(mean) * d > 0).sum()) if n and mean else 0
        se = look.se if math.isfinite(look.se) else 0.0
        df = look.df if math.isfinite(look.df) else float(n - 1)
        test = Test(n, look.diff, look.sd, se, df, look.p, look.test, agree, look.sources, look.examples, look.p,
                    1 - look.level if look.level == look.level else 0.95, look.lo, look.hi, look.rejected)  # fmt: skip
        comp.result = test
        comp.verdict = Verdict(look.word, cell.margin)
        comp.sequential = cell.why
        comp.mean_a, comp.mean_b = _means_at(cell, n, results)


def _means_at(cell: Cell, n: int, results: Results) -> tuple[float, float]:
    """The two sides' means over the seeds of the look that stopped the cell."""
    ok = results.finished
    g = ok[ok["dataset"] == cell.dataset]
    seeds = (results.meta.get("sequential") or {}).get("seeds") or []
    head = set(seeds[:n])
    g = g[g["seed"].isin(head)]
    means = {str(v): float(rows[cell.metric].mean()) for v, rows in g.groupby("variant", observed=True)}
    b = sum(w * means.get(label, math.nan) for label, w in cell.contrast.weights if w > 0)
    a = -sum(w * means.get(label, math.nan) for label, w in cell.contrast.weights if w < 0)
    return a, b
