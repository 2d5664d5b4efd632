"""The metric registry: what each number in a result row means, declared once.

Stats, findings, tables, figures and `ablate compare` read a metric's unit, direction,
format, aggregation and smallest effect worth a verdict from here, never from its
column name's spelling. A result column is `<stage>_<split>_<metric>` (quality: stage
`final`, `best` or `selected`, e.g. `selected_test_accuracy`), `<stage>_<metric>` (the
same on the eval split) or the metric's own name (costs, e.g. `train_samples_per_s`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from suite.registry import Registry, UnknownNameError

STAGES = ("selected", "final", "best")


def clip(lo: float, hi: float, bounds: tuple[float, float]) -> tuple[float, float]:
    """An interval cut to `bounds` (NaN, no interval, stays NaN)."""
    if math.isnan(lo):
        return lo, hi
    return max(lo, bounds[0]), min(hi, bounds[1])


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # words for tables and axes
    unit: str
    higher_is_better: bool
    kind: Literal["quality", "cost"]
    aggregation: Literal["mean", "median"]  # how seeds (or measurements) are summarised
    digits: int = 3  # decimals; 0 for counts and rates
    # The smallest difference worth calling better or worse: max(absolute, relative × |baseline|).
    min_effect_abs: float = 0.0
    min_effect_rel: float = 0.0
    # ... and a share of the chance level (loss: the constant predictor's loss), where it is known;
    # then min_effect_abs is only the fallback for results that recorded no chance level.
    min_effect_chance: float = 0.0
    # The row column naming a measurement several rows share (training speed: one per vectorized
    # group, `timing_group`; peak memory: one per shape, `memory_group`): statistics then use one
    # value per measurement, not one per row. None: every row is its own measurement.
    shared_by: str | None = None
    bytes: bool = False
    bounds: tuple[float, float] = (-math.inf, math.inf)  # where the true mean must lie
    # Which splits a quality metric is reported on: the eval split only, or every held-out split too.
    splits: Literal["eval", "all"] = "eval"
    # How one example's value comes from the predictions table (for paired per-example tests).
    per_example: Literal["correct", "nll"] | None = None
    headline: bool = False  # a cost shown in every dataset table and compared by `ablate compare`
    # The quality metric a study's verdicts are on unless it declares `primary:` (one metric only).
    primary: bool = False
    reciprocal_of: str | None = None  # derived in the report as 1 / that column (time per sample)
    # Fitted against sequence length where a study varies it: (axis label, what a finding calls it).
    scaling: tuple[str, str] | None = None
    # A quality metric's value on a batch, computed by the evaluator (suite.train): compute(logits,
    # targets, mask) → each member's SUM over its counted targets, shape (G,); the evaluator adds
    # the batches and divides by the targets counted (an integer sum is divided in float64). Shapes
    # as suite.objective says: logits (G, B, ...), targets (G, B, ...), mask (1 = counted) or None.
    compute: Callable[[Any, Any, Any], Any] | None = None
    # The dataset tasks (suite.data.registry.TASKS) it is computed for; None: every task.
    tasks: tuple[str, ...] | None = None
    # Applied to each member's mean over a split (perplexity: exp of the mean loss); None: the mean.
    of_mean: Callable[[Any], Any] | None = None

    def clip(self, lo: float, hi: float) -> tuple[float, float]:
        """An interval cut to the metric's range (a mean accuracy above 1 is impossible)."""
        return clip(lo, hi, self.bounds)

    def min_effect(self, baseline: float, override: float | None = None, chance: float = math.nan) -> float:
        """The practical-significance threshold at this baseline (a study's override is absolute):
        max(relative × |baseline|, chance share × |chance|), or the absolute floor where the chance
        level is unknown or the metric has no chance share."""
        if override is not None:
            return float(override)
        rel = self.min_effect_rel * abs(baseline) if math.isfinite(baseline) else 0.0
        if self.min_effect_chance and chance is not None and math.isfinite(chance):
            return max(rel, self.min_effect_chance * abs(chance))
        return max(self.min_effect_abs, rel)

    def format(self, value: float) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if self.bytes:
            return human_bytes(value)
        if self.digits == 0:
            return f"{value:,.0f}"
        if value != 0 and abs(value) < 10 ** (-self.digits):
            return f"{value:.1e}"
        return f"{value:.{self.digits}f}"

    def better(self, delta: float) -> bool:
        """Whether a difference (variant − baseline) of this sign is an improvement."""
        return delta > 0 if self.higher_is_better else delta < 0


REGISTRY = Registry("metric")


def register(metric: Metric) -> Metric:
    return REGISTRY.register(metric.name)(metric)


def quality_metric(name: str, label: str, unit: str, *, higher_is_better: bool, **fields):
    """Register the decorated compute function as a quality metric (as lm-evaluation-harness's
    `@register_metric`): the evaluator computes it on every split at every history point, into
    the history table and the row's `final_`/`best_`/`selected_` columns; the report reads its
    direction, unit and smallest effect from here. The function is returned unchanged.

        @quality_metric("brier", "Brier score", "squared error", higher_is_better=False, bounds=(0, 1))
        def brier(logits, targets, mask):  # → (G,) sums over each member's counted targets
            ...
    """

    def decorator(compute: Callable[[Any, Any, Any], Any]) -> Callable[[Any, Any, Any], Any]:
        options = {"aggregation": "mean"} | fields
        register(Metric(name, label, unit, higher_is_better, kind="quality", compute=compute, **options))
        return compute

    return decorator


def unregister(name: str) -> None:
    """Forget a metric (a test's or a plugin's that is done)."""
    REGISTRY._entries.pop(name, None)


def computed(task: str | None = None) -> list[Metric]:
    """The quality metrics the evaluator computes (for a dataset of this task: those whose `tasks`
    name it or are None), in the order declared (the objective's loss first)."""
    return [
        m
        for m in every("quality")
        if m.compute is not None and (task is None or m.tasks is None or task in m.tasks)
    ]


def get(name: str) -> Metric:
    """The metric called `name`; an unknown name is answered with close matches."""
    return REGISTRY.get(name)


def every(kind: str | None = None, **has) -> list[Metric]:
    """Registered metrics in the order they were declared, of one kind and with the given field
    values (`every("cost", headline=True)`)."""
    out = [REGISTRY.get(name) for name in REGISTRY._entries]
    return [
        m for m in out if (kind is None or m.kind == kind) and all(getattr(m, k) == v for k, v in has.items())
    ]


# A task whose own objective is not accuracy: a next-token model is judged by its loss (nats per token).
PRIMARY_BY_TASK = {"lm": "loss"}


def primary(task: str | None = None) -> Metric:
    """The default primary metric of a dataset's task: loss for next-token models, else the quality
    metric declared `primary` (accuracy; per-token accuracy for recall)."""
    if task in PRIMARY_BY_TASK:
        return get(PRIMARY_BY_TASK[task])
    return every("quality", primary=True)[0]


def human_bytes(n: float) -> str:
    if n is None or math.isnan(n):
        return "–"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


# Quality: 0.5 accuracy points; loss 5% of the reference's loss or 1% of the chance (constant
# predictor's) loss, whichever is larger (0.01 nats where no chance loss was recorded).
@quality_metric(
    "loss", "loss", "cross-entropy, nats", higher_is_better=False,
    min_effect_abs=0.01, min_effect_rel=0.05, min_effect_chance=0.01, bounds=(0.0, math.inf), per_example="nll",
)  # fmt: skip
def _loss(logits, targets, mask):
    """The objective's mean loss × the targets counted: the training loss's own arithmetic."""
    from suite import objective

    return objective.member_loss(logits, targets, mask) * objective.counted(targets, mask)


@quality_metric(
    "accuracy", "accuracy", "fraction correct", higher_is_better=True,
    min_effect_abs=0.005, bounds=(0.0, 1.0), splits="all", per_example="correct", primary=True,
)  # fmt: skip
def _accuracy(logits, targets, mask):
    from suite import objective

    return objective.member_correct(logits, targets, mask)


# Per-token metrics of next-token models and recall (targets per position; -100 is never counted):
# the loss above is the per-token loss in nats and the accuracy the per-token accuracy.
@quality_metric(
    "bits", "bits per token", "bits per token (per character at character level)", higher_is_better=False,
    min_effect_abs=0.015, min_effect_rel=0.05, bounds=(0.0, math.inf), tasks=("tokens", "lm"),
)  # fmt: skip
def _bits(logits, targets, mask):
    """The loss in bits: nats / ln 2 (bits per character when a token is a character)."""
    return _loss(logits, targets, mask) / math.log(2)


@quality_metric(
    "perplexity", "perplexity", "exp(loss per token)", higher_is_better=False,
    min_effect_rel=0.05, bounds=(1.0, math.inf), tasks=("tokens", "lm"), of_mean=lambda mean: mean.exp(),
)  # fmt: skip
def _perplexity(logits, targets, mask):
    """exp(mean loss): summed here as the loss, exponentiated after the mean (`of_mean`)."""
    return _loss(logits, targets, mask)


# Length extrapolation (suite.lm_eval.extrapolation_columns, `measure.context_factors`): the selected
# model on the eval split cut into windows of f × the training context, filled into the row by the
# runner rather than computed at every history point.
CONTEXT_FACTORS = (1, 2, 4, 8)
for _f in CONTEXT_FACTORS:
    register(Metric(
        f"loss{_f}x", f"loss at {_f}× context", "cross-entropy, nats per token", False, kind="quality",
        aggregation="mean", min_effect_abs=0.01, min_effect_rel=0.05, bounds=(0.0, math.inf),
    ))  # fmt: skip
    register(Metric(
        f"accuracy{_f}x", f"accuracy at {_f}× context", "fraction correct", True, kind="quality",
        aggregation="mean", min_effect_abs=0.005, bounds=(0.0, 1.0),
    ))  # fmt: skip
    if _f > 1:
        register(Metric(
            f"beyond{_f}x", f"loss past the trained context at {_f}×", "cross-entropy, nats per token",
            False, kind="quality", aggregation="mean", min_effect_abs=0.01, min_effect_rel=0.05,
            bounds=(0.0, math.inf),
        ))  # fmt: skip

LOSS, ACCURACY = get("loss"), get("accuracy")


def _cost(name: str, label: str, unit: str, higher_is_better: bool, **extra) -> Metric:
    """Speed, memory and size: medians over measurements; a 5% change is the smallest worth a word."""
    extra = {"digits": 0, "min_effect_rel": 0.05} | extra
    return register(Metric(name, label, unit, higher_is_better, kind="cost", aggregation="median", **extra))


# Training speed and time come from one timed run per vectorized group.
_cost("train_samples_per_s", "train samples/s", "samples/s", True, shared_by="timing_group", headline=True)
_cost("train_tokens_per_s", "train tokens/s", "tokens/s", True, shared_by="timing_group")
_cost("train_seconds", "training time", "s", False, digits=2, shared_by="timing_group")
_cost("infer_samples_per_s", "inference samples/s", "samples/s", True, headline=True)
_cost("infer_tokens_per_s", "inference tokens/s", "tokens/s", True)
_cost(
    "train_seconds_per_sample", "training time per sample", "s", False, digits=6, shared_by="timing_group",
    reciprocal_of="train_samples_per_s", scaling=("training time per sample (s)", "Training time per sample"),
)  # fmt: skip
_cost(
    "infer_seconds_per_sample", "inference time per sample", "s", False, digits=6,
    reciprocal_of="infer_samples_per_s", scaling=("inference time per sample (s)", "Inference time per sample"),
)  # fmt: skip
# Peak memory is measured once per `memory_group` (one architecture, data and input shapes).
_memory = {"bytes": True, "shared_by": "memory_group", "headline": True}
_cost(
    "peak_train_mem_bytes", "peak train memory", "bytes", False, **_memory,
    scaling=("peak memory of a training step (bytes)", "Peak training memory"),
)  # fmt: skip
_cost(
    "peak_infer_mem_bytes", "peak inference memory", "bytes", False, **_memory,
    scaling=("peak memory of an inference pass (bytes)", "Peak inference memory"),
)  # fmt: skip
_cost("params", "parameters", "count", False, min_effect_rel=0.0)


@dataclass(frozen=True)
class Column:
    """A result column read through the registry."""

    column: str
    metric: Metric
    stage: str | None  # selected / final / best, None for costs
    split: str | None  # None: the eval split (or not split-specific)

    def label(self, eval_split: str | None = None) -> str:
        """'accuracy on test (val-chosen epoch)', 'final loss on test_long', 'train samples/s'."""
        if self.metric.kind == "cost":
            return self.metric.label
        split = self.split or eval_split
        where = f" on {split}" if split else ""
        if self.stage == "selected":
            return f"{self.metric.label}{where}"
        return f"{self.stage} {self.metric.label}{where}"


def column(name: str) -> Column:
    """Parse a result column; raise UnknownNameError for a column that is not a metric."""
    if name in REGISTRY:
        return Column(name, get(name), None, None)
    stage, _, rest = name.partition("_")
    if stage in STAGES:
        if rest in REGISTRY and get(rest).kind == "quality":
            return Column(name, get(rest), stage, None)
        split, _, metric = rest.rpartition("_")
        if split and metric in REGISTRY and get(metric).kind == "quality":
            return Column(name, get(metric), stage, split)
    raise UnknownNameError(
        f"{name!r} is not a metric column: <stage>_<split>_<metric>, <stage>_<metric> "
        f"(stage {', '.join(STAGES)}) or one of {', '.join(REGISTRY.list())}"
    )
