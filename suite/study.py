"""Study specs: a YAML file that fully determines a set of trials.

Data flows one way: `load_study(path)` → `Study` → `study.trials()` → runner.
Every knob has its default here (training, measurement) or in
`suite.models.config.ModelConfig` (models) or the dataset factory's signature.
Everything is checked when the study loads, before any trial runs.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from suite import data, models
from suite.executors.spec import ExecutorSpec
from suite.models.config import ConfigError
from suite.registry import UnknownNameError

DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")


EVAL_BATCH_SIZE = 4096  # left out of trial keys at this default, so earlier results keep their keys
MAX_TRIALS = 100_000  # a study larger than this is refused before it is expanded ($ABLATE_MAX_TRIALS)
MAX_TRIALS_ENV = "ABLATE_MAX_TRIALS"
MAX_YAML_NODES = 100_000  # YAML aliases may not expand a study file past this many nodes
SEED_LIMIT = 2**32  # numpy's seeds are 0 ≤ s < 2³²
TUNE_SEED_BASE = 10_000  # tuning seeds count up from here, clear of the study's (suite.tune)
SELECT_DEFAULT = "val_accuracy"  # as EVAL_BATCH_SIZE: training.select is left out of keys at this default
# Knobs added with issue #14, left out of trial keys at these defaults (as select); only suite.train
# implements them, so a trial with any of them set trains one at a time (suite.vectorized.group_key).
LR_SCHEDULE_DEFAULT = "constant"
WARMUP_DEFAULT = 0.0
LABEL_SMOOTHING_DEFAULT = 0.0
ONE_AT_A_TIME_KNOBS = {
    "lr_schedule": LR_SCHEDULE_DEFAULT,
    "warmup": WARMUP_DEFAULT,
    "label_smoothing": LABEL_SMOOTHING_DEFAULT,
}


def check_devices(devices: list[str]) -> list[str]:
    """A study's device list: at least one, each cpu, cuda, cuda:N or mps."""
    for d in devices:
        if not DEVICE_PATTERN.match(d):
            raise ValueError(f"device {d!r} is not one of cpu, cuda, cuda:N, mps")
    if not devices:
        raise ValueError("list at least one device")
    return devices


class StudyError(ValueError):
    """A study that cannot run; the message names the file, key path and value."""


class TrainingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.0, ge=0, lt=1)  # sgd and rmsprop
    epochs: int = Field(10, ge=1)
    steps: int | None = Field(None, ge=1)  # if set, train this many steps instead of epochs
    batch_size: int | None = Field(None, ge=1)  # None: full batch, as the course
    history_every: int = Field(1, ge=1)  # epochs (or steps, with `steps`) between history points
    grad_clip: float | None = Field(None, gt=0)  # max global gradient norm per step (null: none)
    # Learning rate over the run (suite.train.lr_factor): linear warm-up over the first `warmup`
    # fraction of steps, then constant, cosine decay to 0 or linear decay to 0.
    lr_schedule: Literal["constant", "cosine", "linear"] = LR_SCHEDULE_DEFAULT
    warmup: float = Field(WARMUP_DEFAULT, ge=0, lt=1)
    label_smoothing: float = Field(LABEL_SMOOTHING_DEFAULT, ge=0, lt=1)  # on the training loss only
    # Train seeds of one variant together in one stacked step (suite.vectorized) where the model
    # allows; how trials run, not what they compute, so it is not part of a trial's key.
    vectorize: bool = True
    eval_batch_size: int = Field(
        EVAL_BATCH_SIZE, ge=1
    )  # rows per evaluation pass: bounds memory, not results
    # Model selection (suite.train.Selector): the reported epoch is the history point with the best
    # val accuracy (or loss), its weights kept; `final` reports the last. Never the test split.
    select: Literal["val_accuracy", "val_loss", "final"] = SELECT_DEFAULT
    # Early stopping: stop after this many history points without a better val metric (null: never).
    patience: int | None = Field(None, ge=1)


class TuneSpec(BaseModel):
    """An equal tuning budget per variant (suite.tune): the grid's points, each tried at `seeds`
    fresh seeds and scored on the validation split; the best then runs at the study's seeds."""

    model_config = ConfigDict(extra="forbid")

    # knob → values; a knob is a training key (lr, weight_decay, label_smoothing, …) or a model one
    grid: dict[str, list[Any]] = Field(min_length=1)
    seeds: int | list[int] = Field(2)  # a count (from seed_base up) or the seeds themselves
    seed_base: int = Field(TUNE_SEED_BASE, ge=0, lt=SEED_LIMIT)  # tuning seeds count up from here
    metric: Literal["val_accuracy", "val_loss"] = "val_accuracy"  # never a test metric

    @field_validator("grid")
    @classmethod
    def _grid(cls, v):
        allowed = set(TrainingSpec.model_fields) - {"vectorize", "eval_batch_size"}
        allowed |= set(models.config.field_names())
        for key, values in v.items():
            if key not in allowed:
                raise ValueError(
                    f"{key!r} is not a training or model knob{_did_you_mean(key, sorted(allowed))}"
                )
            if not values:
                raise ValueError(f"{key}: list at least one value")
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v):
        if isinstance(v, int) and v < 1 or isinstance(v, list) and (not v or len(set(v)) != len(v)):
            raise ValueError("tuning seeds: a count ≥ 1, or a non-empty list without repeats")
        return v


class MeasureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    throughput: bool = True  # inference throughput (training throughput is always timed)
    memory: bool = True  # peak memory of one training step and one inference pass
    warmup: int = Field(3, ge=0)  # untimed repetitions before timing
    repeats: int = Field(10, ge=1)  # timed repetitions; the median is reported
    inference_batch: int = Field(256, ge=1)  # rows per timed inference pass
    # After training, record the learned position table and per-head attention weights on
    # a few eval rows into artifacts.parquet, for the report's heatmaps.
    artifacts: bool = False


class AnchorSpec(BaseModel):
    """A published result, shown in the report beside the study's own; never run."""

    model_config = ConfigDict(extra="forbid")

    dataset: str  # a dataset of the study
    model: str  # the published model, in words
    variant: str | None = None  # the study's variant label that corresponds to it, if any
    metric: Literal["accuracy"] = "accuracy"
    value: float = Field(ge=0, le=1)
    source: str = Field(min_length=1)  # who published it, where
    class_balance: str | None = None  # the published test set's class shares, in words (e.g. "50/50")


class StudySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""  # the question the study answers; the report opens with it
    variants: list[str | dict[str, Any]] = Field(min_length=1)
    datasets: list[str | dict[str, Any]] = Field(min_length=1)
    seeds: int | list[int] = 3
    devices: list[str] = ["cpu"]
    # torch intra-op threads while the trials run; null: torch's default (all cores). Left out, a
    # serial run uses 1 (suite.execution): tiny models run fastest on one, since waking a second
    # thread costs more than the op. How trials run, so not in their keys.
    threads: int | None = Field(None, ge=1)
    model: dict[str, Any] = {}  # overrides applied to every variant
    grid: dict[str, list[Any]] = {}  # axes over model parameters, crossed with every variant
    training: TrainingSpec = TrainingSpec()
    measure: MeasureSpec = MeasureSpec()
    baseline: str | None = None  # a variant label the others are compared with, paired by seed
    executor: ExecutorSpec = ExecutorSpec()  # how trials run; not part of a trial's key
    kind: Literal["train"] = "train"  # `kind: kernels` studies have their own schema (suite.bench.spec)
    anchors: list[AnchorSpec] = []  # published results the report sets beside the study's
    # The smallest difference worth calling better or worse, per quality metric (accuracy: a
    # fraction, loss: nats); defaults live in suite.metrics. Read by the report, not in trial keys.
    min_effect: dict[str, float] = {}
    tune: TuneSpec | None = None  # an equal tuning budget per variant before the comparison (suite.tune)

    @field_validator("min_effect")
    @classmethod
    def _min_effect(cls, v):
        from suite import metrics

        for name, value in v.items():
            try:
                metric = metrics.get(name)
            except UnknownNameError as err:
                raise ValueError(str(err)) from None
            if metric.kind != "quality":
                raise ValueError(f"min_effect.{name}: only quality metrics (loss, accuracy) take one")
            if not value > 0:
                raise ValueError(f"min_effect.{name}: must be a positive number, got {value!r}")
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v):
        if isinstance(v, int):
            if not 1 <= v <= SEED_LIMIT:
                raise ValueError(f"a seed count must be between 1 and 2^32 = {SEED_LIMIT}")
        elif len(set(v)) != len(v) or not v:
            raise ValueError("a seed list must be non-empty and without repeats")
        else:
            bad = [s for s in v if not 0 <= s < SEED_LIMIT]
            if bad:
                raise ValueError(f"seed {bad[0]} is out of range: seeds are 0 ≤ s < 2^32 = {SEED_LIMIT}")
        return v

    @field_validator("devices")
    @classmethod
    def _devices(cls, v):
        return check_devices(v)


SECTIONS: dict[tuple, type[BaseModel]] = {
    (): StudySpec,
    ("training",): TrainingSpec,
    ("measure",): MeasureSpec,
    ("executor",): ExecutorSpec,
    ("tune",): TuneSpec,
}


@dataclass(frozen=True)
class Trial:
    """One model × dataset × seed × device, fully resolved: what the runner needs, nothing more."""

    study: str
    variant: str  # the label shown in reports
    variant_name: str  # the registry name
    model: dict[str, Any]
    dataset: str
    dataset_params: dict[str, Any]
    seed: int
    device: str
    training: dict[str, Any]
    measure: dict[str, Any]
    vectorize: bool = True  # may share a stacked step with other seeds (training.vectorize)
    threads: int | None = None  # torch threads while it runs (the study's `threads`)

    def config(self) -> dict[str, Any]:
        """Everything that determines the result (the study's name and how it runs do not)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("study", "vectorize", "threads")}

    @property
    def key(self) -> str:
        return config_key(self.config())


def config_key(config: dict[str, Any]) -> str:
    """A trial's key: a hash of the canonical JSON of its resolved configuration."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class Study:
    name: str
    path: Path
    spec: StudySpec
    _trials: list[Trial] = field(default_factory=list, repr=False)
    overrides: dict[str, Any] = field(default_factory=dict)  # `key.path=value`s applied (suite.overrides)
    tuning: Any = None  # suite.tune.Plan where the study has `tune:`; its choices add trials
    _own_tune: dict[str, dict] = field(default_factory=dict, repr=False)  # variants[i].tune by label

    @property
    def description(self) -> str:
        return self.spec.description.strip()

    def trials(self) -> list[Trial]:
        return list(self._trials)

    def meta(self) -> dict[str, Any]:
        """What the report needs to know about the study, stored beside its results."""
        trials = self.trials()
        entries = dict.fromkeys((t.dataset, json.dumps(t.dataset_params, sort_keys=True)) for t in trials)
        notes = {entry: data.create(entry[0], **json.loads(entry[1])).note for entry in entries}
        return {
            "name": self.name,
            "description": self.description,
            "keys": [t.key for t in trials],
            "variants": list(dict.fromkeys(t.variant for t in trials)),
            "baseline": self.spec.baseline,
            "dataset_notes": {name: note for (name, _), note in notes.items()},
            "dataset_entries": [  # a note per dataset entry (one name may have several)
                {"name": name, "params": json.loads(params), "note": note}
                for (name, params), note in notes.items()
            ],
            "spec": self.spec.model_dump(),
            "anchors": [a.model_dump() for a in self.spec.anchors],
            **({"tuning": self.tuning.describe()} if self.tuning is not None else {}),
        }


def load_study(path: str | Path, name: str | None = None, *, vectorize: bool | None = None) -> Study:
    """Parse, validate and expand a study file; raise StudyError naming what is wrong.
    `vectorize` overrides the file's training.vectorize (the CLI's --no-vectorize)."""
    path = Path(path)
    return study_from_mapping(read_study_file(path), path, name, vectorize=vectorize)


def read_study_file(path: Path) -> dict[str, Any]:
    """A study file's YAML mapping, loaded safely and not yet validated."""
    try:
        raw = load_yaml(path.read_text(), path)
    except FileNotFoundError:
        raise StudyError(f"{path}: no such study file") from None
    except UnicodeDecodeError:
        raise StudyError(f"{path}: not a text file (not UTF-8)") from None
    except yaml.YAMLError as err:
        raise StudyError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise StudyError(f"{path}: a study must be a YAML mapping of keys, got {type(raw).__name__}")
    return raw


def study_from_mapping(
    raw: dict[str, Any], path: Path, name: str | None = None, *, vectorize: bool | None = None
) -> Study:
    """Validate and expand a study's mapping (from its file, perhaps with command-line overrides)."""
    if raw.get("kind", "train") == "kernels":
        from suite.bench.spec import load_kernel_study

        return load_kernel_study(path, raw, name)
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as err:
        raise StudyError(_format_validation(path, err)) from None
    if vectorize is not None:
        spec.training.vectorize = vectorize
    _check_size(path, spec)
    study = Study(name=name or path.stem, path=path, spec=spec)
    study._trials = _expand(study)
    _check_anchors(study)
    if spec.tune is not None:  # the trials become the tuning trials; suite.tune adds the chosen ones
        from suite import tune

        seeds = list(range(spec.seeds)) if isinstance(spec.seeds, int) else spec.seeds
        study.tuning = tune.expand(spec.tune, study._trials, study._own_tune, seeds, path)
        study._trials = study.tuning.trials()
    return study


def load_yaml(text: str, path: Path):
    """Safe YAML whose aliases cannot expand past MAX_YAML_NODES (an alias bomb is refused
    before it is built, where expanding it would take minutes and gigabytes)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > MAX_YAML_NODES:
            raise StudyError(
                f"{path}: its YAML aliases (*name) expand to more than {MAX_YAML_NODES:,} values; "
                "write the study out without nested aliases"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_size(node, memo: dict[int, int]) -> int:
    """Values a YAML node stands for once every alias is expanded (shared nodes counted each time)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a node that contains itself (a cycle) counts once
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[id(node)] = min(size, MAX_YAML_NODES + 1)
    return memo[id(node)]


def max_trials() -> int:
    value = os.environ.get(MAX_TRIALS_ENV)
    try:
        return int(value) if value else MAX_TRIALS
    except ValueError:
        raise StudyError(f"${MAX_TRIALS_ENV}={value!r}: must be a whole number") from None


def _check_size(path: Path, spec: StudySpec) -> None:
    """Count the trials before building any: a typo such as `seeds: 1000000000` must be refused
    at once, not after minutes and gigabytes of expansion."""
    seeds = spec.seeds if isinstance(spec.seeds, int) else len(spec.seeds)
    grid = math.prod(len(v) for v in spec.grid.values())
    factors = {
        "datasets": len(spec.datasets),
        "variants": len(spec.variants),
        "grid points": grid,
        "seeds": seeds,
        "devices": len(spec.devices),
    }
    count = math.prod(factors.values())
    limit = max_trials()
    if count > limit:
        shown = " × ".join(f"{n:,} {what}" for what, n in factors.items() if n != 1 or what == "seeds")
        raise StudyError(
            f"{path}: {count:,} trials ({shown}) is more than the limit of {limit:,}; "
            f"if that is meant, run with {MAX_TRIALS_ENV}={count}"
        )


def _check_param_types(name: str, params: dict[str, Any], where: str, path: Path) -> None:
    """A dataset parameter must have its default's type, so `V: lots` is named, not a TypeError deep inside."""
    kinds = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
    for key, param in inspect.signature(data.REGISTRY.get(name)).parameters.items():
        if key not in params or param.default is inspect.Parameter.empty or param.default is None:
            continue
        expected, value = type(param.default), params[key]
        if expected not in kinds or value is None:
            continue
        fits = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            fits = True
        if not fits:
            raise StudyError(
                f"{path}: {where}.{key}: expected {kinds[expected]} (like the default {param.default!r}), "
                f"got {value!r}"
            )


def _check_anchors(study: Study) -> None:
    """An anchor names a dataset (and variant label) of the study, so a typo cannot hide it."""
    datasets = list(dict.fromkeys(t.dataset for t in study._trials))
    variants = list(dict.fromkeys(t.variant for t in study._trials))
    for i, anchor in enumerate(study.spec.anchors):
        if anchor.dataset not in datasets:
            raise StudyError(
                f"{study.path}: anchors[{i}].dataset: {anchor.dataset!r} is not a dataset of this study "
                f"({', '.join(datasets)})"
            )
        if anchor.variant is not None and anchor.variant not in variants:
            raise StudyError(
                f"{study.path}: anchors[{i}].variant: {anchor.variant!r} is not a variant label of this "
                f"study ({', '.join(variants)})"
            )


def _format_validation(path: Path, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = e["loc"]
        where = _key_path(loc)
        if e["type"] == "extra_forbidden":
            section = SECTIONS.get(tuple(loc[:-1]))
            allowed = f"; allowed keys: {', '.join(section.model_fields)}" if section else ""
            hint = _did_you_mean(str(loc[-1]), list(section.model_fields)) if section else ""
            lines.append(f"{path}: {where}: unknown key{allowed}{hint}")
        elif e["type"] == "missing":
            lines.append(f"{path}: {where}: {e['msg']}")  # its input is the whole mapping: not shown
        else:
            got = e.get("input")
            lines.append(f"{path}: {where}: {e['msg']} (got {got!r})")
    return "\n".join(dict.fromkeys(lines))


def _did_you_mean(name: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=3, cutoff=0.6)
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "int", "list[int]", "dict[str,any]") or "[" in str(part):
            continue  # pydantic's union-branch labels, not keys in the file
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _entry(item: str | dict[str, Any], where: str, path: Path) -> tuple[str, str | None, dict]:
    """A variant or dataset entry: a bare name, or {name, label?, ...params}."""
    if isinstance(item, str):
        return item, None, {}
    item = dict(item)
    name = item.pop("name", None)
    if not isinstance(name, str):
        raise StudyError(f"{path}: {where}.name: each entry needs a name (got {name!r})")
    label = item.pop("label", None)
    if label is not None and not isinstance(label, str):
        raise StudyError(f"{path}: {where}.label: must be a string (got {label!r})")
    return name, label, item


def _default_label(name: str, params: dict[str, Any]) -> str:
    if not params:
        return name
    return f"{name}({', '.join(f'{k}={v}' for k, v in params.items())})"


def _expand(study: Study) -> list[Trial]:
    spec, path = study.spec, study.path
    seeds = list(range(spec.seeds)) if isinstance(spec.seeds, int) else spec.seeds

    entries = [
        (f"datasets[{i}]", *_entry(item, f"datasets[{i}]", path)) for i, item in enumerate(spec.datasets)
    ]

    def make_datasets(overrides: dict[str, Any], where_override: str = "") -> list:
        """The study's datasets, with a variant's own `dataset:` parameters applied to each."""
        out = []
        for where, name, _, params in entries:
            try:
                resolved = data.resolve_params(name, {**params, **overrides})
                _check_param_types(name, resolved, where_override or where, path)
                out.append(data.create(name, **resolved))
            except StudyError:
                raise
            except (UnknownNameError, ValueError, TypeError) as err:
                raise StudyError(f"{path}: {where_override or where}: {err}") from None
        return out

    datasets = make_datasets({})

    for key, values in spec.grid.items():
        if key not in models.config.field_names():
            raise StudyError(
                f"{path}: grid.{key}: unknown model parameter"
                f"{_did_you_mean(key, models.config.field_names())}; "
                f"allowed: {', '.join(models.config.field_names())}"
            )
        if not values:
            raise StudyError(f"{path}: grid.{key}: list at least one value")
    grid_points = [
        dict(zip(spec.grid, combo, strict=True)) for combo in itertools.product(*spec.grid.values())
    ] or [{}]

    base_training = spec.training.model_dump(exclude={"vectorize"})
    variants = []  # (label, name, ModelConfig, training, datasets)
    for i, item in enumerate(spec.variants):
        where = f"variants[{i}]"
        name, label, own = _entry(item, where, path)
        # A variant may train differently or see other dataset parameters than the rest (a course
        # replays each model with its own optimizer and input length); without these keys it shares
        # the study's, and its trials' keys are what they were.
        own_training = own.pop("training", None)
        own_dataset = own.pop("dataset", None)
        own_tune = own.pop("tune", None)
        training = base_training
        if own_training is not None:
            if not isinstance(own_training, dict):
                raise StudyError(f"{path}: {where}.training: must be a mapping of training keys")
            try:
                merged = TrainingSpec.model_validate({**spec.training.model_dump(), **own_training})
            except ValidationError as err:
                raise StudyError(
                    _format_validation(path, err).replace(f"{path}: ", f"{path}: {where}.training.")
                ) from None
            training = merged.model_dump(exclude={"vectorize"})
        variant_datasets = datasets
        if own_dataset is not None:
            if not isinstance(own_dataset, dict):
                raise StudyError(f"{path}: {where}.dataset: must be a mapping of dataset parameters")
            variant_datasets = make_datasets(own_dataset, f"{where}.dataset")
        clash = sorted(set(own) & set(spec.grid))
        if clash:
            raise StudyError(f"{path}: {where}.{clash[0]}: also a grid axis; set it in one place only")
        for point in grid_points:
            params = {**spec.model, **point, **own}
            try:
                cfg = models.resolve(name, **params)
            except UnknownNameError as err:
                raise StudyError(f"{path}: {where}: {err}") from None
            except ConfigError as err:
                bad_shared = set(spec.model) - set(models.config.field_names())
                raise StudyError(f"{path}: {'model' if bad_shared else where}: {err}") from None
            text = label or _default_label(name, own)
            if point:
                text += "[" + ", ".join(f"{k}={v}" for k, v in point.items()) + "]"
            for ds in variant_datasets:
                try:
                    cfg.check(vocab_size=ds.vocab_size, seq_len=ds.seq_len)
                except ConfigError as err:
                    raise StudyError(f"{path}: {where} ({text}) on dataset {ds.name!r}: {err}") from None
            variants.append((text, name, cfg, training, variant_datasets))
            if own_tune is not None:
                if not isinstance(own_tune, dict) or spec.tune is None:
                    raise StudyError(
                        f"{path}: {where}.tune: a mapping of knob → values, beside a study-level tune.grid"
                    )
                study._own_tune[text] = own_tune

    labels = [v[0] for v in variants]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise StudyError(f"{path}: variants: label {dupes[0]!r} is used twice; give each entry its own label")

    if spec.baseline is not None and spec.baseline not in labels:
        raise StudyError(
            f"{path}: baseline: {spec.baseline!r} is not one of the study's variants; "
            f"valid: {', '.join(labels)}"
        )

    measure = spec.measure.model_dump()
    if not measure["artifacts"]:  # left out when off, so keys of earlier results stay valid
        del measure["artifacts"]
    return [
        Trial(
            study=study.name,
            variant=label,
            variant_name=name,
            model=cfg.to_dict(),
            dataset=ds.name,
            dataset_params=ds.params,
            seed=seed,
            device=device,
            training=_keyed_training(training),
            measure=measure,
            vectorize=spec.training.vectorize,
            threads=spec.threads,
        )
        for d in range(len(datasets))
        for label, name, cfg, training, variant_datasets in variants
        for ds in [variant_datasets[d]]
        for seed in seeds
        for device in spec.devices
    ]


def _keyed_training(training: dict[str, Any]) -> dict[str, Any]:
    """The training settings as a trial's key sees them: knobs added after results were committed
    (eval_batch_size, select, patience) enter the key only away from their defaults."""
    out = dict(training)
    if out["eval_batch_size"] == EVAL_BATCH_SIZE:
        del out["eval_batch_size"]
    if out.get("select") == SELECT_DEFAULT:
        del out["select"]
    if out.get("patience", 0) is None:
        del out["patience"]
    for name, default in ONE_AT_A_TIME_KNOBS.items():
        if out.get(name) == default:
            del out[name]
    return out
