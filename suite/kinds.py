"""Study kinds: what a study file can be (`kind:` at its top; training when absent).

A kind is one object, registered beside its code with `@register_kind("name")`, that
knows how to

- `load(raw, path, name, **options)`: validate its YAML mapping and expand it to a study
  (an object with `name`, `kind`, `description`, `spec`, `trials()` and `meta()`, the last
  being what the store keeps beside the rows and the report reads, plus `serial_threads`, the
  torch threads of a serial run or None to leave them to the trials, and `shape`, the one-line
  count `ablate check` prints);
- `plan(trials)`: split trials into units of work (trials run together, e.g. stacked seeds);
- `run_unit(unit)`: run one unit, returning one `TrialResult` per trial and never raising.

A trial (any kind) has `key`, `study`, `device`, `threads`, `kind`, a `label` for progress
lines and `base_row()`: the identifying columns of its result row. The runner, the executors,
the store and the CLI see only this; the report picks its writer by `meta()["kind"]`.

Built-in kinds are imported on first use (listing them needs neither torch nor model code).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from suite.registry import Registry, UnknownNameError
from suite.spec import StudyError, check_numbers, read_study_file

DEFAULT = "train"


@dataclass(frozen=True)
class Builtin:
    """A kind that comes with ablate: the one place it is named. The loader (`get`), the process
    pool (`RUN_MODULES`), the report (`suite.report.WRITERS`) and the import-layer test all read
    `BUILTINS`; a plugin's kind registers itself and may name its report writer as `report`."""

    module: str  # registers the kind with @register_kind; imported when the kind is first named
    modules: tuple[str, ...]  # all of its modules: the "study kinds" layer of tests/test_imports.py
    # What its units import when they first run (torch, the models): each worker of a process pool
    # imports it as the pool starts (suite.executors.processes).
    run: tuple[str, ...] = ()
    report: str | None = None  # "module:function" writing its report; None: the generic table


BUILTINS = {
    "train": Builtin(
        module="suite.train_kind",
        modules=("suite.study", "suite.tune", "suite.train_kind", "suite.train_run"),
        run=("suite.train_run",),
        report="suite.report.training:write_training_report",
    ),
    "kernels": Builtin(  # its module imports torch lazily and needs nothing ahead
        module="suite.kernels.study",
        modules=("suite.kernels.study",),
        report="suite.report.kernels:write_kernels_report",
    ),
}
BUILTIN = {name: kind.module for name, kind in BUILTINS.items()}  # imported when first named
RUN_MODULES = tuple(dict.fromkeys(m for kind in BUILTINS.values() for m in kind.run))
REGISTRY = Registry("study kind")
register_kind = REGISTRY.register

STATUSES = ("ok", "diverged", "failed", "skipped")  # how a trial's row ends, whatever the kind
FINISHED = ("ok", "diverged")  # kept as done; failed and skipped trials are tried again on a rerun


@dataclass
class TrialResult:
    """What running one trial gives the store: its row, and the tables keyed by its key."""

    row: dict
    history: list[dict] = field(default_factory=list)
    artifacts: list[dict] = field(default_factory=list)  # see suite.artifacts
    predictions: list[dict] = field(default_factory=list)  # see suite.artifacts.predictions
    # The trial's selected weights as safetensors bytes (suite.checkpoints), where its study keeps
    # them; the runner writes them beside the tables before the row that says the trial finished.
    checkpoint: bytes | None = None


class Trial(Protocol):
    kind: str
    study: str
    device: str
    threads: int | None

    @property
    def key(self) -> str: ...
    @property
    def label(self) -> str: ...
    def base_row(self) -> dict[str, Any]: ...


class StudyKind(Protocol):
    """What a kind provides. Two hooks are optional, for a study whose trials depend on results
    already stored (tuning adds the configurations it chose): `run_passes(study, store, run_pass)
    -> counts` runs it in several passes, and `pending(study, store) -> str` adds the trials the
    results allow and says what still waits. Without them a study runs in one pass and has nothing
    pending (`run_passes` and `pending` below)."""

    sections: dict[tuple, Any]  # key path → pydantic schema, for overrides and error messages

    def load(self, raw: dict[str, Any], path: Path, name: str, **options: Any): ...
    def plan(self, trials: list) -> list[list]: ...
    def run_unit(self, unit: list) -> list[TrialResult]: ...


def get(name: str) -> StudyKind:
    if name not in REGISTRY and name in BUILTIN:
        importlib.import_module(BUILTIN[name])
    return REGISTRY.create(name)


def names() -> list[str]:
    return sorted(set(BUILTIN) | set(REGISTRY.list()))


def kind_of(raw: dict[str, Any], path: Path) -> StudyKind:
    """The kind a study mapping names, or a one-line error listing the kinds."""
    name = raw.get("kind", DEFAULT)
    try:
        if not isinstance(name, str):
            raise UnknownNameError(f"unknown study kind {name!r}")
        return get(name)
    except UnknownNameError:
        raise StudyError(f"{path}: kind: {name!r} is not a study kind; valid: {', '.join(names())}") from None


def load_study(path: str | Path, name: str | None = None, **options: Any):
    """Parse, validate and expand a study file of any kind; raise StudyError naming what is wrong.
    `options` go to the kind (training takes `vectorize`, the CLI's --no-vectorize)."""
    path = Path(path)
    return study_from_mapping(read_study_file(path), path, name, **options)


def study_from_mapping(raw: dict[str, Any], path: Path, name: str | None = None, **options: Any):
    """Validate and expand a study's mapping (from its file, perhaps with command-line overrides)."""
    check_numbers(raw, path)
    return kind_of(raw, path).load(raw, path, name or path.stem, **options)


def run_unit(unit: list) -> list[TrialResult]:
    """Run one unit of work with its kind; what executors call in their workers."""
    return get(unit[0].kind).run_unit(unit)


def run_passes(study, store, run_pass) -> dict[str, int]:
    """Run a study with `run_pass()` (run what the store lacks; counts per status) as often as its
    kind needs: once, unless the kind defines `run_passes`."""
    kind = get(study.kind)
    return kind.run_passes(study, store, run_pass) if hasattr(kind, "run_passes") else run_pass()


def pending(study, store) -> str:
    """Add the trials that stored results already decide, and say what is still waiting ("" when
    nothing is), for `ablate check`."""
    kind = get(study.kind)
    return kind.pending(study, store) if hasattr(kind, "pending") else ""
