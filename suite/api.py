"""The Python API, for notebooks and scripts: what `ablate run` and `ablate report` do, as calls.

    import suite as ablate

    study = ablate.load("heads", {"training.epochs": 5}, seeds=3)   # a name, a path or a dict
    results = ablate.run(study)                                     # into ./results/<study name>
    results.runs                                                    # one row per trial (DataFrame)
    results.history                                                 # the curves (DataFrame)
    results.report()                                                # report.md and figures

The same code path as the command line: the same schema and messages, the same
results folders (an overridden study gets its own), the same executors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Results", "load", "results", "run"]


def load(
    study: str | Path | dict[str, Any],
    overrides: dict[str, Any] | list[str] | None = None,
    *,
    seeds: int | None = None,
    name: str | None = None,
    studies: str | Path | None = None,
):
    """A validated study: a name (your ./studies, then the catalogue), a path to a YAML
    file, or a dict with the keys of a study file (then `name` names its results folder).
    `overrides` sets key paths as on the command line: {"training.lr": 0.01} or ["training.lr=0.01"]."""
    from suite import overrides as ov
    from suite import paths
    from suite.kinds import study_from_mapping

    if overrides is None:
        changes = {}
    elif isinstance(overrides, dict):
        changes = dict(overrides)
    else:
        changes = ov.parse(list(overrides))
    if seeds is not None:
        changes["seeds"] = seeds
    if isinstance(study, dict):
        label = name or "notebook"
        path = Path(f"<{label}>")  # what messages name in place of a file
        if not changes:
            return study_from_mapping(dict(study), path, label)
        loaded = study_from_mapping(
            ov.apply(study, changes), path, f"{label}{ov.SEPARATOR}{ov.suffix(changes)}"
        )
        loaded.overrides = changes
        return loaded
    path = paths.resolve_study(str(study), Path(studies) if studies else None)
    return ov.load(path, changes)


@dataclass(frozen=True)
class Results:
    """A study's results folder, read as DataFrames."""

    dir: Path

    @property
    def runs(self):
        """One row per trial: metrics, speed, memory, status and provenance."""
        return self._store().runs()

    @property
    def history(self):
        """Loss and accuracy per split at each history point, keyed by trial."""
        return self._store().history()

    @property
    def artifacts(self):
        return self._store().artifacts()

    @property
    def meta(self) -> dict:
        return self._store().meta()

    def report(self) -> Path:
        """Write report.md and figures/*.png; return the report's path."""
        from suite.report import write_report

        return write_report(self.dir)

    def _store(self):
        from suite.store import Store

        return Store(self.dir)


def run(
    study,
    *,
    results: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
    executor: str | None = None,
    workers: int | None = None,
) -> Results:
    """Run the trials of `study` (from `load`, or anything `load` takes) that its results
    folder lacks; return the folder. Failed trials are rows, not exceptions; a folder that
    another run is writing raises `suite.store.StoreLocked`. A study with `until_resolved:` runs
    sequentially, as `ablate run` runs it (docs/sequential.md)."""
    from suite import paths
    from suite.execution import executor_for
    from suite.runner import run as run_trials
    from suite.store import Store

    if not hasattr(study, "trials"):
        study = load(study)
    folder = paths.results_dir(Path(results) if results else None)
    spec = executor_for(study, executor, workers)
    design = getattr(getattr(study, "spec", None), "until_resolved", None)
    if design is not None:
        from suite.report.resolve import decider
        from suite.study import StudyError

        if why := study.sequential_refusal(design.max_seeds, force="force=True" if force else None):
            raise StudyError(f"{study.name}: until_resolved: {why}")
        from suite.runner import run_until_resolved

        want = decider(study.seeds, design.batch, design.max_seeds)
        run_until_resolved(study, Store(folder / study.name), want, progress=progress, executor=spec)
    else:
        run_trials(study, Store(folder / study.name), force=force, progress=progress, executor=spec)
    return Results(folder / study.name)


def results(study: str | Path, *, results: str | Path | None = None) -> Results:
    """The results of a study run earlier: a study name (or name+hash) under the results
    folder, or the path of a results folder."""
    from suite import paths

    given = Path(study)
    if (given / "runs.parquet").is_file():
        return Results(given)
    folder = paths.results_dir(Path(results) if results else None) / str(study)
    if not (folder / "runs.parquet").is_file():
        raise FileNotFoundError(f"no results for {str(study)!r} in {folder.parent} (run the study first)")
    return Results(folder)
