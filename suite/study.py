"""The training study (`kind: train`, the default): variants × datasets × grid × seeds × devices.

Its YAML fully determines its trials: `load(raw, path, name)` → `Study` → `study.trials()`.
Every knob has its default here (training, measurement), in `suite.models.config.ModelConfig`
and each encoder's config class (models) or in the dataset factory's signature.
Everything is checked when the study loads, before any trial runs. How a trial is run
is `suite.train_run`'s; which of its fields make its key is `suite.identity`'s.
"""

from __future__ import annotations

import inspect
import itertools
import json
import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from suite import data, identity, metrics, models
from suite.executors.spec import ExecutorSpec
from suite.kinds import load_study  # noqa: F401 - where callers have found it
from suite.models.config import ConfigError, ModelConfig
from suite.registry import UnknownNameError
from suite.spec import (
    MAX_TRIALS_ENV,
    Devices,
    StudyError,
    did_you_mean,
    format_validation,
    max_trials,
)
from suite.train_defaults import (
    EVAL_BATCH_SIZE,
    EVAL_KNOBS,
    HISTORY_SPLITS,
    LM_KNOBS,
    ONE_AT_A_TIME_KNOBS,
    SELECT_DEFAULT,
)

SEED_LIMIT = 2**32  # numpy's seeds are 0 ≤ s < 2³²
SERIAL_THREADS = 1  # torch threads of a serial run that sets none (suite.execution says why)
TUNE_SEED_BASE = 10_000  # tuning seeds count up from here, clear of the study's (suite.tune)

# The fields each section has keyed since its first committed results; any later knob enters a
# trial's key only away from its default (suite.identity, rule 2 and 3).
TRAINING_BASELINE = (
    "optimizer",
    "lr",
    "weight_decay",
    "momentum",
    "epochs",
    "steps",
    "batch_size",
    "history_every",
    "grad_clip",
)
MEASURE_BASELINE = ("throughput", "memory", "warmup", "repeats", "inference_batch")
# What a trial keeps of itself, not what it computes: never in its key (rule 1 of suite.identity),
# so turning checkpoints on finds the trials already run (the runner reruns those lacking one).
UNKEYED_MEASURE = ("checkpoint",)


def select_choices(task: str | None = None) -> list[str]:
    """What `training.select` accepts: `final`, or `val_` and a quality metric the evaluator
    computes (on a dataset of `task`: suite.metrics registers them, a plugin's own once loaded)."""
    return ["final", *(f"val_{m.name}" for m in metrics.computed(task))]


def check_select(value: str) -> str:
    if value not in select_choices():
        raise ValueError(f"not a point to select; valid: {', '.join(select_choices())}")
    return value


RHO_OPTIMIZERS = ("rmsprop", "adadelta")  # the optimizers whose decay `rho` sets


class TrainingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    optimizer: Literal["adam", "adamw", "sgd", "rmsprop", "adadelta"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.0, ge=0, lt=1)  # sgd and rmsprop
    epochs: int = Field(10, ge=1, le=1_000_000)  # more would run for months at any size
    steps: int | None = Field(None, ge=1, le=1_000_000_000)  # if set, train this many steps instead of epochs
    batch_size: int | None = Field(None, ge=1)  # None: full batch, as the course
    history_every: int = Field(1, ge=1)  # epochs (or steps, with `steps`) between history points
    grad_clip: float | None = Field(None, gt=0)  # max global gradient norm per step (null: none)
    # Learning rate over the run (suite.train.lr_factor): linear warm-up over the first `warmup`
    # fraction of steps, then constant, cosine decay to 0 or linear decay to 0.
    lr_schedule: Literal["constant", "cosine", "linear"] = ONE_AT_A_TIME_KNOBS["lr_schedule"]
    warmup: float = Field(ONE_AT_A_TIME_KNOBS["warmup"], ge=0, lt=1)
    min_lr: float = Field(LM_KNOBS["min_lr"], ge=0)  # where cosine or linear decay ends (below lr)
    beta1: float = Field(LM_KNOBS["beta1"], ge=0, lt=1)  # adam and adamw
    beta2: float = Field(LM_KNOBS["beta2"], ge=0, lt=1)  # adam and adamw (nanoGPT's small models: 0.99)
    # The decay of the running average of squared gradients (Keras' name): Adadelta's rho,
    # RMSprop's alpha (Kim 2014: Adadelta 0.95; Keras' RMSprop 0.9); null: torch's default.
    rho: float | None = Field(LM_KNOBS["rho"], ge=0, lt=1)
    # Added to the update's denominator (adam, adamw, rmsprop, adadelta; Keras 2: 1e-7); null: torch's.
    eps: float | None = Field(LM_KNOBS["eps"], gt=0, lt=1)
    # Which parameters weight_decay applies to: all, or matrices and embeddings only (dim ≥ 2; not
    # biases or LayerNorm gains), nanoGPT's `configure_optimizers` split.
    weight_decay_on: Literal["all", "matrices"] = ONE_AT_A_TIME_KNOBS["weight_decay_on"]
    # Rows of each split evaluated at every history point: evenly spaced, the same ones each time
    # (the row's metrics are on them too); null: every row. A long corpus is estimated, not read whole.
    eval_rows: int | None = Field(LM_KNOBS["eval_rows"], ge=1)
    # The splits each history point evaluates: "all"; "held_out" (not the training split: the row has
    # no *_train_* columns, divergence is read from the first split evaluated); "val" (val alone; the
    # eval split is evaluated once, at the selected point: its row has selected_* but no final_/best_
    # columns). The weights, the selection and early stopping are the same (suite.train.history_splits).
    history_splits: Literal[HISTORY_SPLITS] = EVAL_KNOBS["history_splits"]
    label_smoothing: float = Field(
        ONE_AT_A_TIME_KNOBS["label_smoothing"], ge=0, lt=1
    )  # on the training loss only
    # Train seeds of one variant together in one stacked step (suite.vectorized) where the model
    # allows; how trials run, not what they compute, so it is not part of a trial's key.
    vectorize: bool = True
    eval_batch_size: int = Field(
        EVAL_BATCH_SIZE, ge=1
    )  # rows per evaluation pass: bounds memory, not results
    # Model selection (suite.train.Selector): the reported epoch is the history point with the best
    # value of `val_<metric>` (any quality metric the evaluator computes: val_accuracy, val_loss,
    # val_bits, ...), its weights kept; `final` reports the last. Never the test split.
    select: Annotated[str, AfterValidator(check_select)] = SELECT_DEFAULT
    # Early stopping: stop after this many history points without a better val metric (null: never).
    patience: int | None = Field(None, ge=1)
    # After the val split has chosen the epoch, train a fresh model (same seed, same configuration)
    # on train + val for that many epochs and report its eval-split metrics: what published results
    # that train on every training row did. The row records it (`retrained_epochs`, `train_rows`).
    retrain: bool = ONE_AT_A_TIME_KNOBS["retrain"]
    # Length bucketing (suite.train.bucketed): each epoch's seeded shuffle is cut into pools of this
    # many batches, each pool sorted by row length before it is cut into batches, and the epoch's
    # batches shuffled; a batch then trains without the columns that are padding in all its rows.
    # Faster where lengths vary, but it changes which rows train together (and where dropout draws
    # land): results are equal in distribution only, not to the bit. null: off.
    bucket_pool: int | None = Field(ONE_AT_A_TIME_KNOBS["bucket_pool"], ge=2, le=1_000_000)

    @model_validator(mode="after")
    def _min_lr_below_lr(self):
        if self.min_lr and self.min_lr > self.lr:
            raise ValueError(f"min_lr={self.min_lr} must not exceed lr={self.lr}: the decay ends there")
        if self.min_lr and self.lr_schedule == "constant":
            raise ValueError(
                "min_lr is where a decay ends; lr_schedule: constant has none (use cosine or linear)"
            )
        return self

    @model_validator(mode="after")
    def _knobs_the_optimizer_has(self):
        if self.rho is not None and self.optimizer not in RHO_OPTIMIZERS:
            raise ValueError(
                f"rho is the squared-gradient average's decay of {' and '.join(RHO_OPTIMIZERS)}; "
                f"optimizer {self.optimizer} has none (leave rho unset)"
            )
        if self.eps is not None and self.optimizer == "sgd":
            raise ValueError(
                "eps is added to an adaptive optimizer's denominator; sgd has none (leave eps unset)"
            )
        return self

    @model_validator(mode="after")
    def _patience_needs_selection(self):
        if self.patience is not None and self.select == "final":
            raise ValueError("patience stops on the val metric that select names; select: final has none")
        if self.retrain and (self.select == "final" or self.steps is not None):
            raise ValueError(
                "retrain trains again for the val-chosen epochs: it needs select on val and epochs, not steps"
            )
        return self


def seed_list(seeds: int | list[int], base: int = 0) -> list[int]:
    """`seeds:` as the seeds themselves: a count counts up from `base`, a list is itself."""
    return [base + i for i in range(seeds)] if isinstance(seeds, int) else list(seeds)


def seed_count(seeds: int | list[int]) -> int:
    return seeds if isinstance(seeds, int) else len(seeds)


def check_seeds(v: int | list[int]) -> int | list[int]:
    """A seed count (1 … 2³²) or a non-empty list of distinct seeds in 0 ≤ s < 2³² (numpy's range)."""
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


def _whole(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _seed_types(v: Any) -> Any:
    """Whole numbers only, refused in one line (`seeds: true` is not one seed, nor 1.0 seed 1)."""
    if not (_whole(v) or (isinstance(v, list) and all(_whole(s) for s in v))):
        raise ValueError("a seed count or a list of seeds, e.g. 5 or [0, 1, 2]")
    return v


# `seeds:` of a study or of its tuning
Seeds = Annotated[int | list[int], BeforeValidator(_seed_types), AfterValidator(check_seeds)]


class TuneSpec(BaseModel):
    """An equal tuning budget per variant (suite.tune): the grid's points, each tried at `seeds`
    fresh seeds and scored on the validation split; the best then runs at the study's seeds."""

    model_config = ConfigDict(extra="forbid")

    # knob → values; a knob is a training key (lr, weight_decay, label_smoothing, …) or a model one
    grid: dict[str, list[Any]] = Field(min_length=1)
    seeds: Seeds = 2  # a count (from seed_base up) or the seeds themselves
    seed_base: int = Field(TUNE_SEED_BASE, ge=0, lt=SEED_LIMIT)  # tuning seeds count up from here
    metric: Literal["val_accuracy", "val_loss"] = "val_accuracy"  # never a test metric

    @field_validator("grid")
    @classmethod
    def _grid(cls, v):
        return check_grid(v)

    @model_validator(mode="after")
    def _seeds_fit(self):
        if isinstance(self.seeds, int) and self.seed_base + self.seeds > SEED_LIMIT:
            raise ValueError(f"seed_base + seeds must stay below 2^32 = {SEED_LIMIT}")
        return self


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of a grid's values, first key slowest: {a: [1, 2], b: [3]} → [{a: 1, b: 3}, {a: 2, b: 3}]."""
    return [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]


def check_grid(grid) -> dict[str, list]:
    """A tuning grid (the study's `tune.grid`, a variant's own `tune:`): training or model knob →
    non-empty list of values. The study's `grid:` axes are checked by `grid_axes`."""
    if not isinstance(grid, dict) or not grid:
        raise ValueError("a mapping of knob → list of values, e.g. {lr: [0.001, 0.01]}")
    allowed = set(models.config.field_names())
    allowed |= set(TrainingSpec.model_fields) - {"vectorize", "eval_batch_size"}
    for key, values in grid.items():
        if key == "encoder":
            raise ValueError("encoder cannot be tuned: a variant's encoder is the one its name gives")
        if key not in allowed:
            hint = did_you_mean(key, sorted(allowed)) or f"; allowed: {', '.join(sorted(allowed))}"
            raise ValueError(f"{key}: unknown training or model knob{hint}")
        if not isinstance(values, list):
            raise ValueError(f"{key}: a list of values, e.g. {key}: [{values!r}]")
        if not values:
            raise ValueError(f"{key}: list at least one value")
    return grid


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
    # Keep each trial's selected weights as results/<study>/checkpoints/<key>.safetensors
    # (suite.checkpoints), for `ablate predict` and `ablate sample`. Not part of a trial's key.
    checkpoint: bool = False
    # Per-example predictions on the eval split (predictions.parquet, for paired tests); a
    # language model's would be a row per character, so its studies turn them off.
    predictions: bool = True
    # Per-position models on a dataset with `windows` (tinyshakespeare, mqar): the selected model's
    # loss and accuracy on the eval split cut into windows of each factor × the training context,
    # into the row as loss{f}x / accuracy{f}x (suite.lm_eval). Empty: not measured.
    context_factors: list[Annotated[int, Field(ge=1)]] = []
    # Next-token models: `sample_tokens` characters drawn from the selected model at each
    # temperature (suite.models.generate), stored in the row's `samples` (JSON) for the report.
    sample_tokens: int = Field(0, ge=0)
    sample_temperatures: list[Annotated[float, Field(ge=0)]] = [0.8]
    sample_prompt: str = "\n"


class UntilResolvedSpec(BaseModel):
    """`until_resolved:` a sequential design run by `ablate run STUDY` as `--until-resolved` would
    run it (suite.report.resolve; the flags override these): at most `max_seeds` per variant, seeds
    added `batch` at a time to the variants whose contrasts are still open."""

    model_config = ConfigDict(extra="forbid")

    max_seeds: int = Field(20, ge=3, lt=SEED_LIMIT)
    batch: int = Field(2, ge=1)


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
    # How the published number was obtained, facet → words (suite.data.PROTOCOL_FACETS: corpus,
    # evaluation, training, input); the report compares ours with it only where every facet stated
    # here equals ours, and otherwise says which differ
    protocol: dict[str, str] = {}

    @field_validator("protocol")
    @classmethod
    def _facets(cls, v):
        for facet in v:
            if facet not in data.PROTOCOL_FACETS:
                hint = did_you_mean(facet, list(data.PROTOCOL_FACETS)) or ""
                raise ValueError(
                    f"{facet!r} is not a protocol facet{hint}; valid: {', '.join(data.PROTOCOL_FACETS)}"
                )
        return v


class StudySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""  # the question the study answers; the report opens with it
    variants: list[str | dict[str, Any]] = Field(min_length=1)
    datasets: list[str | dict[str, Any]] = Field(min_length=1)
    seeds: Seeds = 3
    devices: Devices = ["cpu"]
    # torch intra-op threads while the trials run; null: torch's default (all cores). Left out, a
    # serial run uses 1 (suite.execution): tiny models run fastest on one, since waking a second
    # thread costs more than the op. How trials run, so not in their keys.
    threads: int | None = Field(None, ge=1)
    model: dict[str, Any] = {}  # overrides applied to every variant
    # axes crossed with every variant, each a labelled dimension of the results: a model knob
    # (`dim`), a training knob (`lr`, `training.lr`), `measure.<key>` or `dataset.<parameter>`;
    # `{training: {lr: [...]}}` (what the override grid.training.lr=[...] writes) is `training.lr`
    grid: dict[str, Any] = {}
    training: TrainingSpec = TrainingSpec()
    measure: MeasureSpec = MeasureSpec()
    baseline: str | None = None  # a variant label the others are compared with, paired by seed
    # The report's contrasts (suite.report.contrasts): [a, b] label pairs (b against the reference a),
    # and "auto" for every pair that differs in one knob (the default when left out). Not in keys.
    compare: list[Annotated[list[str], Field(min_length=2, max_length=2)] | Literal["auto"]] | None = None
    # The one metric verdicts are given on (a quality metric of suite.metrics; the others are
    # described with intervals); left out, the registry's primary (accuracy). Not in trial keys.
    primary: str | None = None
    executor: ExecutorSpec = ExecutorSpec()  # how trials run; not part of a trial's key
    kind: Literal["train"] = "train"  # other kinds have their own schema (suite.kinds)
    anchors: list[AnchorSpec] = []  # published results the report sets beside the study's
    # The smallest difference worth calling better or worse, per quality metric (accuracy: a
    # fraction, loss: nats); defaults live in suite.metrics. Read by the report, not in trial keys.
    min_effect: dict[str, float] = {}
    tune: TuneSpec | None = None  # an equal tuning budget per variant before the comparison (suite.tune)
    # Spend seeds where the answer is open (docs/sequential.md): how the study's trials are run, so
    # not in their keys; left out, `ablate run` runs the study's seeds only (unless --until-resolved)
    until_resolved: UntilResolvedSpec | None = None

    @model_validator(mode="after")
    def _seeds_below_the_cap(self):
        if "until_resolved" in self.model_fields_set and self.until_resolved is None:
            raise ValueError(
                "until_resolved: give {max_seeds: N, batch: K} (or {} for 20 and 2), or remove it"
            )
        first = seed_count(self.seeds)
        if self.until_resolved is not None and self.until_resolved.max_seeds < first:
            raise ValueError(
                f"until_resolved.max_seeds: {self.until_resolved.max_seeds} is below the study's {first} seeds; "
                f"give at least {first}"
            )
        return self

    @field_validator("grid", mode="before")
    @classmethod
    def _flat_grid(cls, v):
        return flatten_grid(v) if isinstance(v, dict) else v

    @field_validator("primary")
    @classmethod
    def _primary(cls, v):
        from suite import metrics

        if v is None:
            return v
        try:
            metric = metrics.get(v)
        except UnknownNameError as err:
            raise ValueError(str(err)) from None
        if metric.kind != "quality":
            quality = ", ".join(m.name for m in metrics.every("quality"))
            raise ValueError(f"a cost, not a quality metric; verdicts are on one of: {quality}")
        return v

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


def flatten_grid(grid: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{training: {lr: [...]}} as {"training.lr": [...]}: one axis per dotted key."""
    out: dict[str, Any] = {}
    for key, value in grid.items():
        name = f"{prefix}{key}"
        for flat, values in (
            flatten_grid(value, name + ".") if isinstance(value, dict) else {name: value}
        ).items():
            if flat in out:
                raise ValueError(f"{flat} is given twice (dotted and nested); give it once")
            out[flat] = values
    return out


SECTIONS: dict[tuple, type[BaseModel]] = {
    (): StudySpec,
    ("training",): TrainingSpec,
    ("variants", "training"): TrainingSpec,  # a variant's own training:
    ("measure",): MeasureSpec,
    ("executor",): ExecutorSpec,
    ("tune",): TuneSpec,
    ("until_resolved",): UntilResolvedSpec,
}


@dataclass(frozen=True)
class Trial:
    """One model × dataset × seed × device, fully resolved (every knob, defaults included):
    what `suite.train_run` needs, nothing more."""

    kind: ClassVar[str] = "train"

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
        """The trial's identity: what determines its result, as `suite.identity` keys it (the
        study's name and how it runs, vectorized or on how many threads, do not)."""
        return {
            "variant": self.variant,
            "variant_name": self.variant_name,
            "model": identity.section(self.model, models.config.defaults(), models.config.KEY_BASELINE),
            "dataset": self.dataset,
            "dataset_params": identity.section(
                self.dataset_params, {}, self.dataset_params, data.locations(self.dataset)
            ),
            "seed": self.seed,
            "device": self.device,
            "training": identity.section(self.training, _defaults(TrainingSpec), TRAINING_BASELINE),
            "measure": identity.section(
                {k: v for k, v in self.measure.items() if k not in UNKEYED_MEASURE},
                _defaults(MeasureSpec),
                MEASURE_BASELINE,
            ),
        }

    @cached_property
    def key(self) -> str:
        """Computed once, where the study is loaded (it travels with the trial to workers, which
        may not know a plugin's dataset until they have imported the plugins)."""
        return identity.key(self.config())

    @property
    def label(self) -> str:
        return f"{self.variant} · {self.dataset} · seed {self.seed} · {self.device}"

    @property
    def checkpoint(self) -> bool:
        """Whether the study keeps this trial's selected weights (measure.checkpoint)."""
        return bool(self.measure.get("checkpoint"))

    def base_row(self) -> dict[str, Any]:
        """The columns that say which trial a result row is, before it runs."""
        return {
            "key": self.key,
            "study": self.study,
            "variant": self.variant,
            "variant_name": self.variant_name,
            "dataset": self.dataset,
            "seed": self.seed,
            "device": self.device,
            "status": "ok",
            "error": None,
            "config": json.dumps(self.config(), sort_keys=True),
            "train_group_size": 1,  # trials trained together in one vectorized step (suite.vectorized)
            # The measurement a row shares: the id of its vectorized group, whose one training time
            # every member's training speed copies; None when timed alone. Inference speed is
            # measured per trial, on its own model.
            "timing_group": None,
            # The peak-memory measurement a row shares: rows with one id (same architecture, data and
            # input shapes, optimizer) got the same measurement, taken once per process
            # (suite.measure.peak_memory).
            "memory_group": None,
        }


def _defaults(schema: type[BaseModel]) -> dict[str, Any]:
    return {name: f.default for name, f in schema.model_fields.items()}


@dataclass
class Study:
    kind: ClassVar[str] = "train"

    name: str
    path: Path
    spec: StudySpec
    untuned: list[Trial] = field(default_factory=list, repr=False)  # the trials its file gives
    overrides: dict[str, Any] = field(default_factory=dict)  # `key.path=value`s applied (suite.overrides)
    # suite.tune.Plan where the study has `tune:`: its trials replace `untuned`, its choices add more
    tuning: Any = None
    own_tune: dict[str, dict] = field(default_factory=dict, repr=False)  # variants[i].tune by label
    # the grid's axes and, per label, its variant and the grid values it trains at: the factors a
    # report may cross (a study without a grid has one factor, the variant)
    grid: dict[str, list] = field(default_factory=dict, repr=False)
    baseline: str | None = None  # the label `baseline:` names (resolved by `baseline_label`)
    factors: dict[str, dict] = field(default_factory=dict, repr=False)

    @property
    def seeds(self) -> list[int]:
        """The study's own seeds (`seeds:` a count from 0, or the list itself)."""
        return seed_list(self.spec.seeds)

    @property
    def description(self) -> str:
        return self.spec.description.strip()

    def sequential_refusal(
        self, most: int, cap: str = "until_resolved.max_seeds", force: str | None = None
    ) -> str | None:
        """Why this study cannot run until resolved with at most `most` seeds (None: it can), the cap
        named as the caller's `cap`, and `force` the caller's word for rerunning every trial where it
        asked to; the CLI and `suite.api.run` both ask (docs/sequential.md)."""
        if force:
            return f"{force} reruns every trial; run into a fresh results folder instead"
        if self.tuning is not None:
            return f"{self.name} has tune:, whose chosen trials depend on tuning; run it without"
        first = len(self.seeds)
        if first < 3:
            return f"the first look needs at least 3 seeds (the study has {first}; --seeds 3)"
        if most < first:
            return f"{cap} {most}: below the study's {first} seeds; give at least {first}"
        return None

    def trials(self) -> list[Trial]:
        return self.tuning.trials() if self.tuning is not None else list(self.untuned)

    @property
    def serial_threads(self) -> int | None:
        """Torch threads for a serial run that names none: one, unless the study sets `threads`."""
        return None if "threads" in self.spec.model_fields_set else SERIAL_THREADS

    @property
    def shape(self) -> str:
        """How its trial count comes about, for `ablate check`: the study's own trials, and with
        `tune:` its tuning trials beside them (the chosen configurations replace the untuned ones)."""
        groups = self.tuning.groups if self.tuning else []
        trials = [t for g in groups for t in g.finals] if groups else self.untuned
        variants = len(dict.fromkeys(t.variant for t in trials))
        unfolded = [{k: v for k, v in t.dataset_params.items() if k != data.FOLD} for t in trials]
        datasets = len(dict.fromkeys((t.dataset, str(p)) for t, p in zip(trials, unfolded, strict=True)))
        folds = max(
            (len({t.dataset_params.get(data.FOLD) for t in trials if t.dataset == name}) for name in
             {t.dataset for t in trials if data.FOLD in t.dataset_params}),
            default=0,
        )  # fmt: skip
        seeds = len(dict.fromkeys(t.seed for t in trials))
        devices = len(dict.fromkeys(t.device for t in trials))
        over = f" × {folds} folds" if folds else ""
        shape = f"{variants} variants × {datasets} datasets{over} × {seeds} seeds × {devices} device(s)"
        tuning = sum(len(ts) for g in groups for ts in g.tuning)
        if tuning and not all(g.final for g in groups):  # the count above is tuning's alone, for now
            return f" ({tuning} tuning trials; then {shape} once tuning has chosen)"
        return f" ({shape} + {tuning} tuning trials)" if tuning else f" ({shape})"

    def meta(self) -> dict[str, Any]:
        """What the report needs to know about the study, stored beside its results."""
        trials = self.trials()
        entries = dict.fromkeys((t.dataset, json.dumps(t.dataset_params, sort_keys=True)) for t in trials)
        made = {entry: data.create(entry[0], **json.loads(entry[1])) for entry in entries}
        notes = {entry: ds.note for entry, ds in made.items()}
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "keys": [t.key for t in trials],
            "variants": list(dict.fromkeys(t.variant for t in trials)),
            "baseline": self.baseline,
            "grid": self.grid,
            "factors": {t.variant: self.factors.get(t.variant, {"variant": t.variant}) for t in trials},
            "dataset_notes": {name: note for (name, _), note in notes.items()},
            "dataset_entries": [  # a note per dataset entry (one name may have several)
                {
                    "name": name,
                    "params": json.loads(params),
                    "note": note,
                    "protocol": made[(name, params)].protocol,
                    # drawn fresh every step: the report counts its training in steps, not epochs
                    **({"streaming": True} if made[(name, params)].streaming else {}),
                }
                for (name, params), note in notes.items()
            ],
            # until_resolved only where set: a study without it keeps the study.json it had
            "spec": self.spec.model_dump(exclude=set() if self.spec.until_resolved else {"until_resolved"}),
            "anchors": [a.model_dump() for a in self.spec.anchors],
            # the trials that keep their weights (measure.checkpoint), for `ablate doctor`; absent if none
            **({"checkpoints": kept} if (kept := [t.key for t in trials if t.checkpoint]) else {}),
            **({"tuning": self.tuning.describe()} if self.tuning is not None else {}),
        }


def load(raw: dict[str, Any], path: Path, name: str, *, vectorize: bool | None = None) -> Study:
    """Validate and expand a training study's mapping. `vectorize` overrides the file's
    training.vectorize (the CLI's --no-vectorize)."""
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as err:
        raise StudyError(_format_validation(path, err)) from None
    if vectorize is not None:
        spec.training.vectorize = vectorize
    _check_size(path, spec)
    got = expand(spec, path, name)
    study = Study(
        name=name,
        path=path,
        spec=spec,
        untuned=got.trials,
        own_tune=got.own_tune,
        grid=got.grid,
        factors=got.factors,
        baseline=got.baseline,
    )
    _check_anchors(study)
    return study


def _check_size(path: Path, spec: StudySpec) -> None:
    """Count the trials before building any: a typo such as `seeds: 1000000000` must be refused
    at once, not after minutes and gigabytes of expansion."""
    seeds = seed_count(spec.seeds)
    grid = math.prod(len(v) if isinstance(v, list) else 1 for v in spec.grid.values())  # checked later
    factors = {
        "datasets": entry_count(spec),  # a cross-validated one once per fold
        "variants": len(spec.variants),
        "grid points": grid,
        "seeds": seeds,
        "devices": len(spec.devices),
    }
    if spec.tune is not None:  # each seed's trial, plus every tuning configuration at every tuning seed
        tune_seeds = seed_count(spec.tune.seeds)
        points = math.prod(len(v) for v in spec.tune.grid.values())
        factors["seeds"] = seeds + points * tune_seeds
        factors = {("seeds and tuning runs" if k == "seeds" else k): v for k, v in factors.items()}
    count = math.prod(factors.values())
    limit = max_trials()
    if count > limit:
        shown = " × ".join(
            f"{n:,} {what}" for what, n in factors.items() if n != 1 or what.startswith("seeds")
        )
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
    datasets = list(dict.fromkeys(t.dataset for t in study.untuned))
    variants = list(dict.fromkeys(t.variant for t in study.untuned))
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


def _format_validation(path: Path, err: ValidationError, at: tuple = ()) -> str:
    return format_validation(path, err, SECTIONS, at)


def _tuned_at(where: str, own_tune, knob: str) -> str:
    """Where a tuned knob is set: the variant's own `tune:`, else the study's `tune.grid`."""
    return f"{where}.tune.{knob}" if isinstance(own_tune, dict) and knob in own_tune else f"tune.grid.{knob}"


# Expansion, one step per function, in the order `expand` takes them: the dataset entries, the
# grid's axes, each variant entry (its own keys, the clashes with the grid and tuning, its model,
# training and measurement at each grid point, the checks against its datasets), the labels, the
# baseline and the cross product.


@dataclass(frozen=True)
class Axis:
    """One `grid:` axis: a knob of one section, and the values it takes."""

    key: str  # as the study wrote it, dotted ("training.lr", or "dim" for a model knob)
    section: Literal["model", "training", "measure", "dataset"]
    knob: str
    values: list[Any]
    short: str  # its name in labels: the knob, or the key where two axes share a knob


@dataclass
class Entry:
    """A `variants:` entry: its registry name, label and the keys it sets itself."""

    index: int  # its place in `variants:`
    name: str
    label: str | None
    model: dict[str, Any]  # its own model knobs
    training: dict[str, Any] | None  # its own training: (merged over the study's)
    dataset: dict[str, Any] | None  # its own dataset parameters (applied to every dataset)
    tune: Any  # its own tuning grid, checked where it is used

    @property
    def where(self) -> str:
        return f"variants[{self.index}]"


@dataclass
class Resolved:
    """A variant entry at one grid point, fully resolved: one label of the results."""

    label: str
    entry: Entry
    point: dict[str, Any]  # axis key → value
    cfg: ModelConfig
    training: dict[str, Any]
    measure: dict[str, Any]
    datasets: list  # suite.data.Dataset per dataset entry, in the study's order


@dataclass
class Expansion:
    trials: list[Trial]
    own_tune: dict[str, dict]  # each variant label's own tuning grid
    grid: dict[str, list]  # each axis's values, as the schema reads them
    factors: dict[str, dict]  # per label: its variant and the grid values it trains at
    baseline: str | None  # the label `baseline:` names (a variant's first grid point, if it names a variant)


def expand(spec: StudySpec, path: Path, name: str) -> Expansion:
    """A validated spec as its trials, with what a factorial reading of them needs."""
    entries = dataset_entries(spec, path)
    made: dict[str, list] = {}  # the datasets per parameter overrides, each set made once

    def datasets(overrides: dict, where: str = "") -> list:
        key = json.dumps(overrides, sort_keys=True, default=str)
        if key not in made:
            made[key] = make_datasets(entries, overrides, path, where)
        return made[key]

    datasets({})  # the study's own, checked first
    axes = grid_axes(spec, path)
    points = [
        dict(zip([a.key for a in axes], combo, strict=True))
        for combo in itertools.product(*[a.values for a in axes])
    ]
    resolved: list[Resolved] = []
    own_tune: dict[str, dict] = {}
    for i, item in enumerate(spec.variants):
        entry = variant_entry(item, f"variants[{i}]", path)
        check_grid_clashes(entry, axes, path)
        tuned = tuned_knobs(spec, entry, axes, path)
        for point in points:
            one = resolve_point(spec, entry, axes, point, tuned, datasets, path)
            check_on_datasets(one, path)
            resolved.append(one)
            grid = own_tuning_grid(spec, entry, path)
            if grid is not None:
                own_tune[one.label] = grid
    check_labels(resolved, path)
    baseline = baseline_label(spec, resolved, path)
    check_compare(spec, resolved, path)
    factors = {r.label: {"variant": r.entry.label or r.entry.name, **r.point} for r in resolved}
    grid = {a.key: a.values for a in axes}
    return Expansion(cross(name, spec, resolved), own_tune, grid, factors, baseline)


def dataset_entries(spec: StudySpec, path: Path) -> list[tuple[str, str, dict]]:
    """The study's dataset entries as (where, name, parameters); a cross-validated dataset that
    names no `fold` is one entry per fold (suite.data.fold_params), each its own key."""
    out = []
    for i, item in enumerate(spec.datasets):
        name, _, params = _entry(item, f"datasets[{i}]", path)
        try:
            sets = data.fold_params(name, params)
        except UnknownNameError:  # named by make_datasets, with the valid names
            sets = [params]
        out += [(f"datasets[{i}]", name, p) for p in sets]
    return out


def entry_count(spec: StudySpec) -> int:
    """Dataset entries once folds are expanded, counted before anything is built (_check_size)."""
    count = 0
    for item in spec.datasets:
        name, params = (item, {}) if isinstance(item, str) else (item.get("name"), item)
        try:
            count += len(
                data.fold_params(name, {k: v for k, v in params.items() if k not in ("name", "label")})
            )
        except (UnknownNameError, TypeError):
            count += 1
    return count


def make_datasets(entries, overrides: dict[str, Any], path: Path, where_override: str = "") -> list:
    """The study's datasets with `overrides` (a variant's own `dataset:`, a grid point's) applied."""
    out = []
    for where, name, params in entries:
        try:
            folded = sorted({data.FOLD, data.FOLDS} & set(overrides)) if data.cross_validated(name) else []
            if folded:
                raise StudyError(
                    f"{path}: {where_override or where}.{folded[0]}: {name!r} is cross-validated; "
                    f"set {data.FOLDS} on its entry in datasets: (every fold runs unless it names one)"
                )
            resolved = data.resolve_params(name, {**params, **overrides})
            _check_param_types(name, resolved, where_override or where, path)
            out.append(data.create(name, **resolved))
        except StudyError:
            raise
        except (UnknownNameError, ValueError, TypeError) as err:
            raise StudyError(f"{path}: {where_override or where}: {err}") from None
    return out


GRID_SECTIONS = ("model", "training", "measure", "dataset")
UNGRIDDED_TRAINING = {"vectorize", "eval_batch_size"}  # how trials run, not what they compute


def grid_knobs(section: str) -> list[str]:
    """The knobs a `grid:` axis may take in a section (a dataset's are checked per dataset)."""
    if section == "model":
        return [k for k in models.config.field_names() if k != "encoder"]
    if section == "training":
        return [k for k in TrainingSpec.model_fields if k not in UNGRIDDED_TRAINING]
    if section == "measure":
        return list(MeasureSpec.model_fields)
    return []


def grid_axes(spec: StudySpec, path: Path) -> list[Axis]:
    """The `grid:` axes, each a knob of one section: `dim` or `model.dim`, `lr` or `training.lr`
    (a bare name is a model knob, else a training one), `measure.repeats`, `dataset.T`."""
    axes = []
    for key, values in spec.grid.items():
        where = f"{path}: grid.{key}"
        section, _, knob = key.rpartition(".")
        if key == "encoder" or knob == "encoder":
            raise StudyError(
                f"{where}: encoder cannot be a grid: axis: a variant's encoder is the one its name gives"
            )
        if not section:
            section = "model" if knob in grid_knobs("model") else "training"
            if knob not in grid_knobs(section):
                allowed = grid_knobs("model") + grid_knobs("training")
                hint = did_you_mean(knob, allowed) or (
                    f"; allowed: {', '.join(allowed)}; a measurement or dataset key names its "
                    f"section: measure.{knob}, dataset.{knob}"
                )
                raise StudyError(f"{where}: unknown model parameter or training knob{hint}")
        elif section not in GRID_SECTIONS:
            raise StudyError(
                f"{where}: {section!r} is not a section a grid: axis may vary; valid: {', '.join(GRID_SECTIONS)}"
            )
        elif section != "dataset" and knob not in grid_knobs(section):
            what = "training knob" if section == "training" else f"{section} key"
            allowed = grid_knobs(section)
            hint = did_you_mean(knob, allowed) or f"; allowed: {', '.join(allowed)}"
            raise StudyError(f"{where}: unknown {what}{hint}")
        if not isinstance(values, list):
            raise StudyError(f"{where}: a list of values, e.g. {key}: [{values!r}]")
        if not values:
            raise StudyError(f"{where}: list at least one value")
        if section in ("training", "measure"):
            values = _axis_values(section, knob, values, where)
        axes.append(Axis(key, section, knob, values, knob))
    knobs = [a.knob for a in axes]
    return [replace(a, short=a.key) if knobs.count(a.knob) > 1 else a for a in axes]


def _axis_values(section: str, knob: str, values: list, where: str) -> list:
    """Each value as its section's schema reads it, so `lr: [fast]` is named at the grid and
    `1e-3` (a string to YAML 1.1) is the number 0.001 in labels and factors."""
    schema = TrainingSpec if section == "training" else MeasureSpec
    out = []
    for value in values:
        try:
            out.append(getattr(schema.model_validate({knob: value}), knob))
        except ValidationError as err:
            problem = err.errors()[0]["msg"].removeprefix("Value error, ")
            raise StudyError(f"{where}: {problem} (got {value!r})") from None
    return out


def variant_entry(item: str | dict[str, Any], where: str, path: Path) -> Entry:
    """A variant entry with its own training, dataset and tuning keys taken apart from its model knobs.
    A variant may train differently or see other dataset parameters than the rest (a course replays
    each model with its own optimizer and input length); without them it shares the study's."""
    name, label, own = _entry(item, where, path)
    training, dataset, tune = own.pop("training", None), own.pop("dataset", None), own.pop("tune", None)
    if training is not None and not isinstance(training, dict):
        raise StudyError(f"{path}: {where}.training: must be a mapping of training keys")
    if dataset is not None and not isinstance(dataset, dict):
        raise StudyError(f"{path}: {where}.dataset: must be a mapping of dataset parameters")
    return Entry(int(where[len("variants[") : -1]), name, label, own, training, dataset, tune)


def check_grid_clashes(entry: Entry, axes: list[Axis], path: Path) -> None:
    """A knob the entry sets itself cannot also be a grid axis: its trials would not be at the
    value their label says."""
    own = {"model": entry.model, "training": entry.training or {}, "dataset": entry.dataset or {}}
    for axis in axes:
        if axis.knob in own.get(axis.section, {}):
            at = axis.knob if axis.section == "model" else f"{axis.section}.{axis.knob}"
            raise StudyError(f"{path}: {entry.where}.{at}: also a grid axis; set it in one place only")


def tuned_knobs(spec: StudySpec, entry: Entry, axes: list[Axis], path: Path) -> dict[str, list]:
    """What tuning sets for this variant, refused where the entry or a grid axis sets it too (a
    trial must train at what its label and its entry say). A bad own grid is refused later."""
    if spec.tune is None:
        return {}
    own_tune = entry.tune if isinstance(entry.tune, dict) else {}
    tuned = {**spec.tune.grid, **own_tune}
    gridded = {a.knob for a in axes if a.section in ("model", "training")}
    own = set(entry.model) | set(entry.training or {})
    for knob in sorted(set(tuned) & (gridded | own)):
        by = "an axis of grid:" if knob in gridded else f"set by {entry.where} itself"
        raise StudyError(
            f"{path}: {_tuned_at(entry.where, entry.tune, knob)}: also {by}, which tuning would "
            "override; set it in one place only"
        )
    return tuned


def resolve_point(spec, entry: Entry, axes: list[Axis], point: dict, tuned: dict, datasets, path) -> Resolved:
    """The entry at one grid point: its model, training, measurement and datasets, and its label
    (the entry's name or label, then the point's values: `attention[lr=0.003]`)."""
    by_section = {s: {a.knob: point[a.key] for a in axes if a.section == s} for s in GRID_SECTIONS}
    cfg = model_of(spec, entry, by_section["model"], path)
    check_ignores(cfg, entry, by_section["model"], axes, tuned, path)
    label = entry.label or entry.name  # the name as the user wrote it; a collision is refused later
    if point:
        shorts = {a.key: a.short for a in axes}
        label += "[" + ", ".join(f"{shorts[k]}={v}" for k, v in point.items()) + "]"
    training = training_of(spec, entry, by_section["training"], path)
    measure = {**spec.measure.model_dump(), **by_section["measure"]}
    where = f"{entry.where}.dataset" if entry.dataset is not None else "grid.dataset"
    made = datasets({**(entry.dataset or {}), **by_section["dataset"]}, where)
    return Resolved(label, entry, point, cfg, training, measure, made)


def model_of(spec: StudySpec, entry: Entry, model_point: dict, path: Path) -> ModelConfig:
    """The variant's configuration: the study's `model:`, then the grid point, then its own knobs."""
    try:
        return models.resolve(entry.name, **{**spec.model, **model_point, **entry.model})
    except UnknownNameError as err:
        raise StudyError(f"{path}: {entry.where}: {err}") from None
    except ConfigError as err:
        bad_shared = set(spec.model) - set(models.config.field_names())
        raise StudyError(f"{path}: {'model' if bad_shared else entry.where}: {err}") from None


def check_ignores(cfg: ModelConfig, entry: Entry, model_point: dict, axes, tuned: dict, path: Path) -> None:
    """What the variant's entry, a grid axis (its label) or tuning sets must reach its model."""
    for k in type(cfg).ignores:
        if k in entry.model and not identity.at_default(entry.model[k], ModelConfig.model_fields[k].default):
            at, why = f"{entry.where}.{k}", ""
        elif k in model_point or k in tuned:
            grid_key = next((a.key for a in axes if a.section == "model" and a.knob == k), k)
            at = f"grid.{grid_key}" if k in model_point else _tuned_at(entry.where, entry.tune, k)
            why = f" (in {entry.where}), so its values would all be the same model"
        else:
            continue
        raise StudyError(f"{path}: {at}: encoder {cfg.encoder!r} never reads it{why}; leave it out")


def training_of(spec: StudySpec, entry: Entry, training_point: dict, path: Path) -> dict[str, Any]:
    """The study's training, then the entry's own, then the grid point's; without either it is the
    study's dict as it was, so existing trials keep their keys."""
    if entry.training is None and not training_point:
        return spec.training.model_dump(exclude={"vectorize"})
    try:
        merged = TrainingSpec.model_validate(
            {**spec.training.model_dump(), **(entry.training or {}), **training_point}
        )
    except ValidationError as err:
        at = ("variants", entry.index, "training") if entry.training else ("training",)
        message = _format_validation(path, err, at)
        raise StudyError(
            message + (f" (at the grid point {training_point})" if training_point else "")
        ) from None
    return merged.model_dump(exclude={"vectorize"})


def check_on_datasets(one: Resolved, path: Path) -> None:
    """The model fits each dataset (vocabulary, length, task), a streaming dataset is trained by
    steps (eval_rows only there), and early stopping has a val split."""
    for ds in one.datasets:
        where = f"{path}: {one.entry.where} ({one.label}) on dataset {ds.name!r}"
        try:
            one.cfg.check(vocab_size=ds.vocab_size, seq_len=ds.seq_len)
            one.cfg.check_task(ds.task)
        except ConfigError as err:
            raise StudyError(f"{where}: {err}") from None
        if ds.streaming and not (one.training.get("steps") and one.training.get("batch_size")):
            raise StudyError(
                f"{where}: it draws a fresh training batch every step, so training.steps and "
                "training.batch_size must be set (not epochs)"
            )
        if one.training.get("eval_rows") is not None and not ds.streaming:
            raise StudyError(
                f"{where}: training.eval_rows cuts every split to that many rows, the training split too; "
                "it is for datasets drawn fresh each step (tinyshakespeare, mqar), where the fixed splits "
                "are only evaluated: remove it here"
            )
        if one.training.get("bucket_pool") is not None and (
            ds.streaming or ds.pad_id is None or not one.cfg.mask_padding
        ):
            raise StudyError(
                f"{where}: training.bucket_pool sorts rows by their length without padding, and "
                + (
                    "this dataset draws fresh batches each step (no epoch to sort)"
                    if ds.streaming
                    else "this dataset has no padding"
                    if ds.pad_id is None
                    else "this model reads padding as a token (mask_padding: false)"
                )
                + ": remove training.bucket_pool here"
            )
        if one.training.get("retrain") and "val" not in ds.splits:
            raise StudyError(
                f"{where}: retrain trains again on train + val at the val-chosen epoch; this dataset has "
                f"no val split (its splits: {', '.join(ds.splits)})"
            )
        select = one.training.get("select", SELECT_DEFAULT)
        if select not in select_choices(ds.task):
            raise StudyError(
                f"{where}: training.select: {select} is not computed on a {ds.task!r} dataset; "
                f"valid: {', '.join(select_choices(ds.task))}"
            )
        if one.training.get("patience") is not None and "val" not in ds.splits:
            raise StudyError(
                f"{where}: patience stops on the val split, which this dataset lacks "
                f"(its splits: {', '.join(ds.splits)})"
            )


def own_tuning_grid(spec: StudySpec, entry: Entry, path: Path) -> dict | None:
    """The entry's own `tune:` grid (it replaces the study's for this variant), checked."""
    if entry.tune is None:
        return None
    if spec.tune is None:
        raise StudyError(f"{path}: {entry.where}.tune: a variant's own grid needs a study-level tune.grid")
    try:
        return check_grid(entry.tune)
    except ValueError as err:
        raise StudyError(f"{path}: {entry.where}.tune: {err}") from None


def check_labels(resolved: list[Resolved], path: Path) -> None:
    """Labels are the results' names, so two entries may not share one: refused with a label for
    each to choose (its knobs, or a number where those are the same too)."""
    labels = [r.label for r in resolved]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if not dupes:
        return
    clashing = {
        r.entry.where: _descriptive_label(r.entry.name, r.entry.model)
        for r in resolved
        if r.label == dupes[0]
    }
    if len(set(clashing.values())) < len(clashing):  # the same entry twice: number them
        clashing = {where: f"{dupes[0]}_{n}" for n, where in enumerate(clashing, 1)}
    choices = ", ".join(f"{where}: label: {text!r}" for where, text in clashing.items())
    raise StudyError(
        f"{path}: variants: label {dupes[0]!r} is used twice; give each entry its own label, e.g. {choices}"
    )


def baseline_label(spec: StudySpec, resolved: list[Resolved], path: Path) -> str | None:
    """The label the baseline names. With a grid, `baseline: lstm` names lstm at the grid's first
    point; the report compares each other label with the baseline at its own point."""
    labels = [r.label for r in resolved]
    if spec.baseline is None or spec.baseline in labels:
        return spec.baseline
    points = [r.label for r in resolved if (r.entry.label or r.entry.name) == spec.baseline and r.point]
    if points:
        return points[0]
    raise StudyError(
        f"{path}: baseline: {spec.baseline!r} is not one of the study's variants; valid: {', '.join(labels)}"
    )


def check_compare(spec: StudySpec, resolved: list[Resolved], path: Path) -> None:
    """Each `compare:` pair names two of the study's labels, and not one label twice."""
    labels = [r.label for r in resolved]
    for pair in spec.compare or []:
        if pair == "auto":
            continue
        for side in pair:
            if side not in labels:
                raise StudyError(
                    f"{path}: compare: {side!r} is not one of the study's variants; valid: {', '.join(labels)}"
                )
        if pair[0] == pair[1]:
            raise StudyError(f"{path}: compare: [{pair[0]!r}, {pair[1]!r}] sets a variant against itself")


def cross(name: str, spec: StudySpec, resolved: list[Resolved]) -> list[Trial]:
    """Every resolved variant on every dataset at every seed and device, datasets outermost."""
    trials = [
        Trial(
            study=name,
            variant=r.label,
            variant_name=r.entry.name,
            model=r.cfg.as_dict(),
            dataset=ds.name,
            dataset_params=ds.params,
            seed=seed,
            device=device,
            training=r.training,
            measure=r.measure,
            vectorize=spec.training.vectorize,
            threads=spec.threads,
        )
        for d in range(len(resolved[0].datasets))
        for r in resolved
        for ds in [r.datasets[d]]
        for seed in seed_list(spec.seeds)
        for device in spec.devices
    ]
    for trial in trials:
        trial.key  # noqa: B018 - computed here, in the process that loaded the study and its plugins
    return trials


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


def _descriptive_label(name: str, params: dict[str, Any]) -> str:
    """A label that tells entries of one variant apart, offered when their names collide."""
    if not params:
        return name
    return f"{name}({', '.join(f'{k}={v}' for k, v in params.items())})"
