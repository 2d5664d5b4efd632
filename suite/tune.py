"""Equal tuning budgets: every variant gets the same small search before it is compared.

A study's `tune:` names knobs and their values (`lr: [1e-3, 3e-3]`, `dropout: [0, 0.3]`): the
grid's points are tried for every variant × dataset × device at a few *tuning seeds*, scored on
the validation split only (the metric at the val-chosen epoch), and the best point then runs at
the study's own seeds, which the tuning seeds never overlap. A variant may list other values for a
knob (`variants[i].tune`), but every variant tries the same number of configurations.

Tuning trials are ordinary trials (their keys follow the general rule), so an interrupted run
resumes; the chosen configuration's trials are known once a group's tuning trials have finished
(`resolve`), and the study's trial list grows by them. `run` drives the two passes.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from suite import data, models
from suite.kinds import FINISHED
from suite.models.config import ConfigError
from suite.spec import format_validation
from suite.study import StudyError, TrainingSpec, Trial, TuneSpec, grid_points, seed_list


def tuning_seeds(spec: TuneSpec, study_seeds: list[int], path) -> list[int]:
    """The seeds tuning trials run at: the listed ones, or `seeds` counting up from `seed_base`."""
    seeds = seed_list(spec.seeds, spec.seed_base)
    overlap = sorted(set(seeds) & set(study_seeds))
    if overlap:
        raise StudyError(
            f"{path}: tune.seeds: seed {overlap[0]} is also one of the study's seeds; "
            "the chosen configuration must be measured on fresh seeds"
        )
    return seeds


def configure(trial: Trial, point: dict[str, Any], seed: int) -> Trial:
    """`trial` with the point's knobs applied (training keys to its training, the rest to its
    model) at `seed`; its key follows the general rule (suite.identity: a knob at its default is
    left out)."""
    training_knobs = {k: v for k, v in point.items() if k in TrainingSpec.model_fields}
    model_knobs = {k: v for k, v in point.items() if k not in training_knobs}
    training = trial.training
    if training_knobs:
        spec = TrainingSpec.model_validate({**trial.training, **training_knobs})
        training = spec.model_dump(exclude={"vectorize"})
    model = trial.model
    if model_knobs:
        model = models.config.parse(trial.model, **model_knobs).as_dict()
    return dataclasses.replace(trial, model=model, seed=seed, training=training)


def scored_on_val(trial: Trial) -> Trial:
    """A tuning trial is scored on val at its chosen epoch: retraining on train + val afterwards
    (training.retrain) would change nothing it is scored on, so it is left to the study's trials."""
    if not trial.training.get("retrain"):
        return trial
    return dataclasses.replace(trial, training={**trial.training, "retrain": False})


@dataclass
class Group:
    """One variant on one dataset and device: the configurations it tries and the one it keeps."""

    variant: str
    dataset: str
    device: str
    points: list[dict[str, Any]]
    tuning: list[list[Trial]]  # per point, its trials at the tuning seeds
    finals: list[Trial]  # the untuned trials at the study's seeds: the template for the chosen point
    chosen: int | None = None  # index into points, once every tuning trial has finished
    scores: list[float | None] = field(default_factory=list)  # mean val metric per point
    final: list[Trial] = field(default_factory=list)  # the chosen point at the study's seeds

    def describe(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "dataset": self.dataset,
            "device": self.device,
            "points": [
                {"knobs": point, "keys": [t.key for t in trials], "val_score": score}
                for point, trials, score in itertools.zip_longest(self.points, self.tuning, self.scores)
            ],
            "chosen": self.chosen,
            "final_keys": [t.key for t in self.final],
        }


@dataclass
class Plan:
    """A study's tuning: what `Study.trials()` holds before and after the choices are made."""

    metric: str
    seeds: list[int]
    groups: list[Group]

    def trials(self) -> list[Trial]:
        return [t for g in self.groups for trials in g.tuning for t in trials] + [
            t for g in self.groups for t in g.final
        ]

    def tuning_keys(self) -> list[str]:
        return [t.key for g in self.groups for trials in g.tuning for t in trials]

    def describe(self) -> dict[str, Any]:
        """The tuning record kept in the study's meta: the report's source."""
        return {
            "metric": self.metric,
            "seeds": self.seeds,
            "keys": self.tuning_keys(),
            "groups": [g.describe() for g in self.groups],
        }


def expand(
    spec: TuneSpec,
    trials: list[Trial],
    own_grids: dict[str, dict[str, list[Any]]],
    study_seeds: list[int],
    path,
) -> Plan:
    """The tuning plan of a study whose untuned trials are `trials`; `own_grids` holds each variant
    label's own knob values (`variants[i].tune`), which replace the study's for that variant."""
    seeds = tuning_seeds(spec, study_seeds, path)
    budget = math.prod(len(v) for v in spec.grid.values())
    groups: dict[tuple, Group] = {}
    for trial in trials:
        where = (trial.variant, trial.dataset, json_params(trial), trial.device)
        if where in groups:
            groups[where].finals.append(trial)
            continue
        grid = {**spec.grid, **own_grids.get(trial.variant, {})}
        size = math.prod(len(v) for v in grid.values())
        if size != budget:
            raise StudyError(
                f"{path}: variants ({trial.variant}).tune: {size} configurations, but the study's tune.grid "
                f"gives every variant {budget}; an equal budget needs the same count"
            )
        points = grid_points(grid)
        ds = data.create(trial.dataset, **trial.dataset_params)
        if "val" not in ds.splits:
            raise StudyError(
                f"{path}: tune: dataset {trial.dataset!r} has no val split to score configurations on "
                f"(its splits: {', '.join(ds.splits)}); tuning never looks at test"
            )
        try:
            tuning = [[scored_on_val(configure(trial, point, seed)) for seed in seeds] for point in points]
            for point_trials in tuning:
                cfg = models.config.parse(point_trials[0].model)
                cfg.check(vocab_size=ds.vocab_size, seq_len=ds.seq_len)
                cfg.check_task(ds.task)
        except (ConfigError, ValueError, TypeError) as err:
            first = (
                format_validation(path, err, {}).splitlines()[0] if isinstance(err, ValidationError) else ""
            )
            message = first.removeprefix(f"{path}: ") or str(err)
            raise StudyError(f"{path}: tune.grid ({trial.variant}): {message}") from None
        groups[where] = Group(trial.variant, trial.dataset, trial.device, points, tuning, [trial])
    return Plan(metric=spec.metric, seeds=seeds, groups=list(groups.values()))


def json_params(trial: Trial) -> str:
    return json.dumps(trial.dataset_params, sort_keys=True)


def score(rows, metric: str) -> float:
    """Mean val metric of one configuration's tuning trials, as a higher-is-better number
    (val loss negated); a diverged or failed trial scores −∞, so it is never chosen."""
    column = f"selected_{metric}"
    values = []
    for _, row in rows.iterrows():
        value = row.get(column)
        ok = row["status"] == "ok" and value is not None and math.isfinite(value)
        values.append(value if ok else -math.inf)
    mean = sum(values) / len(values)
    return -mean if metric == "val_loss" and math.isfinite(mean) else mean


def resolve(study, store, *, before_a_run: bool = False) -> None:
    """Choose a configuration for every group whose tuning trials have all ended (on val only)
    and add its trials at the study's seeds to `study`; derived from the store on every call.
    `before_a_run`: a group with a failed or skipped tuning trial waits, since the run tries it
    again and may choose otherwise. A group whose tuning trials were all skipped (its data absent)
    keeps its first configuration, so its final trials are recorded as skipped too. Never reads a
    test metric."""
    plan: Plan = study.tuning
    runs = store.runs()
    latest = runs.set_index("key") if len(runs) else None  # the store keeps one row per trial
    for group in plan.groups:
        group.chosen, group.scores, group.final = None, [], []
        keys = [[t.key for t in trials] for trials in group.tuning]
        if latest is None or not all(k in latest.index for ks in keys for k in ks):
            continue
        statuses = {latest.loc[k, "status"] for ks in keys for k in ks}
        if before_a_run and not statuses <= set(FINISHED):
            continue
        if statuses == {"skipped"}:
            group.chosen, group.scores = 0, [None] * len(group.points)
        else:  # ended (ok, diverged, failed), or skipped
            group.scores = [score(latest.loc[ks], plan.metric) for ks in keys]
            best = max(group.scores)
            group.chosen = group.scores.index(best)  # ties go to the earlier point in the grid
        point = group.points[group.chosen]
        group.final = [configure(t, point, t.seed) for t in group.finals]


def pending_note(study) -> str:
    """For `ablate check`: what tuning has yet to add (a chosen configuration is not known yet)."""
    plan: Plan = study.tuning
    waiting = [g for g in plan.groups if g.chosen is None]
    if not waiting:
        return ""
    per_group = len(waiting[0].finals)
    return (
        f"\ntuning: {len(waiting)} of {len(plan.groups)} variant × dataset groups still tuning; each adds "
        f"{per_group} trial(s) at the study's seeds once its configurations have run"
    )


def run(study, store, run_once: Callable[..., dict[str, int]]) -> dict[str, int]:
    """Tuning trials first (with any chosen configurations an earlier run could already resolve),
    then the chosen configurations; `run_once` writes the study's meta and runs what the store
    lacks (the second pass never forces: the first ran everything forced already)."""
    resolve(study, store, before_a_run=True)
    first = run_once()
    before = {t.key for t in study.trials()}
    resolve(study, store)
    if {t.key for t in study.trials()} == before:  # the same trials: every choice was already made
        return first
    second = run_once(force=False)
    # A skipped trial is never kept as finished, so the second pass tried every skip again.
    counts = {k: first[k] + second[k] for k in second if k not in ("cached", "skipped")}
    counts["skipped"] = second["skipped"]
    counts["cached"] = len(study.trials()) - sum(counts.values())
    return counts
