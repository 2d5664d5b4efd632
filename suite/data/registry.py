"""The dataset registry and the `Dataset` every registered factory returns.

A registered factory takes the dataset's parameters (with their defaults in its
signature) and returns a `Dataset`: cheap to create, it declares its shapes so
a study can be checked before anything is loaded; `load()` does the work.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from suite.identity import Location
from suite.registry import Registry

if TYPE_CHECKING:
    import torch

REGISTRY = Registry("dataset")

# The facets of a protocol (Dataset.protocol, an anchor's `protocol:`), in the words both use:
#   corpus      which data ("MR v1.0", "IMDB (Maas et al. 2011)")
#   evaluation  what the accuracy is measured on ("10-fold CV", "the official 25,000 test reviews")
#   training    which rows the reported model trained on ("all 25,000 training reviews", …)
#   input       how much of each text a model reads ("whole reviews", "last 200 tokens")
PROTOCOL_FACETS = ("corpus", "evaluation", "training", "input")
register_dataset = REGISTRY.register

# What a dataset's targets are, and so which head a model gets (suite.models.classifier):
#   classify  one label per sequence: targets (N,) int64 in [0, num_classes); pooling + linear
#   tokens    one target per position: targets (N, T) int64, -100 (suite.objective.IGNORE) where a
#             position is not scored; a linear at every position
#   lm        causal next-token prediction: targets (N, T) are the next tokens (-100 where none),
#             num_classes = vocab_size; a linear at every position, optionally tied to the embedding
TASKS = ("classify", "tokens", "lm")
Task = Literal["classify", "tokens", "lm"]


@dataclass
class Dataset:
    name: str
    vocab_size: int
    seq_len: int
    num_classes: int
    splits: tuple[str, ...]  # the first is trained on; all are evaluated
    pad_id: int | None = None  # token id that marks padding, if any
    note: str = ""  # what a reader of the report must know (e.g. train = test)
    params: dict[str, Any] = field(default_factory=dict)
    task: Task = "classify"  # which targets `load` gives (TASKS above)
    # Trained on a fresh batch per step, `batch(step, batch_size, seed)` (suite.data.sequence),
    # instead of passes over the fixed train rows `load` gives (which are still evaluated on).
    streaming: ClassVar[bool] = False
    # How results on it were obtained, as facets a published anchor can match (PROTOCOL_FACETS):
    # the report compares with an anchor only where every facet the anchor states is equal
    protocol: dict[str, str] = field(default_factory=dict)

    def load(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Split name → (tokens (N, T) int64, targets): labels (N,) int64 for `classify`, (N, T)
        int64 with -100 where unscored for `tokens` and `lm`."""
        raise NotImplementedError

    @property
    def per_position(self) -> bool:
        """Whether targets are per position (`tokens`, `lm`) rather than one per sequence."""
        return self.task != "classify"

    def unavailable(self) -> str | None:
        """Why this dataset cannot be loaded here (data not present, …), or None."""
        return None


def create(name: str, **params: Any) -> Dataset:
    dataset = REGISTRY.create(name, **params)
    dataset.params = resolve_params(name, params)
    return dataset


def resolve_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The dataset's parameters with defaults filled in; an unknown one is refused."""
    signature = inspect.signature(REGISTRY.get(name))
    allowed = [*signature.parameters]
    for key in params:
        if key not in signature.parameters:
            shown = ", ".join(allowed) if allowed else "none"
            raise ValueError(f"dataset {name!r} has no parameter {key!r} (allowed: {shown})")
    for key in locations(name):
        if params.get(key) is not None and not isinstance(params[key], str):
            raise ValueError(
                f"dataset {name!r}: {key} must be a path (a string) or null, got {params[key]!r}"
            )
    bound = signature.bind(**params)
    bound.apply_defaults()
    return dict(bound.arguments)


@cache
def locations(name: str) -> dict[str, Location]:
    """The parameters of a dataset that name a place on disk (marked `Location` in its signature)."""
    signature = inspect.signature(REGISTRY.get(name), eval_str=True)
    return {
        key: mark
        for key, param in signature.parameters.items()
        for mark in getattr(param.annotation, "__metadata__", ())
        if isinstance(mark, Location)
    }


# A dataset whose factory takes both parameters is cross-validated: `fold` of `folds` is its test
# split. A study entry that leaves `fold` out means every fold (suite.study expands them), and the
# report pairs its trials by (seed, fold) and corrects for the folds' shared training rows.
FOLD, FOLDS = "fold", "folds"


def cross_validated(name: str) -> bool:
    """Whether the dataset is evaluated by k-fold cross-validation (its factory takes fold and folds)."""
    parameters = inspect.signature(REGISTRY.get(name)).parameters
    return FOLD in parameters and FOLDS in parameters


def fold_params(name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """A dataset entry's parameter sets: one per fold for a cross-validated dataset whose entry
    leaves `fold` out ({name: mr, folds: 10} → fold 0 … 9), else the entry's own. A `folds` that is
    not a whole number ≥ 2 is left for the factory to refuse in its own words."""
    if not cross_validated(name) or FOLD in params:
        return [params]
    folds = params.get(FOLDS, inspect.signature(REGISTRY.get(name)).parameters[FOLDS].default)
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        return [params]
    return [{**params, FOLD: k} for k in range(folds)]


def list() -> list[str]:  # noqa: A001 - the registry API reads best as data.list()
    return REGISTRY.list()
