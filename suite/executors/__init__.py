"""Executors: run a study's units of work serially, on a local process pool or on a Ray cluster.

`create(spec)` gives a context manager whose `run(units)` yields a `Finished`
(the unit, one `TrialResult` per trial, the unit's captured output) as each unit
completes, in any order. Executors never write results: the driver does, as each
one arrives. Every failure ends as rows: a unit that raises, a worker that dies
(retried once, then `failed` with "worker died"), a unit past its timeout.
"""

from __future__ import annotations

import os
from pathlib import Path

from suite.executors.spec import KINDS, ExecutorError, ExecutorSpec, with_overrides

__all__ = ["KINDS", "ExecutorError", "ExecutorSpec", "create", "with_overrides", "write_log"]

LOGS = "logs"


def create(spec: ExecutorSpec, at_most: int | None = None):
    """The executor a spec names; Ray is imported only when asked for. `at_most`: how many units
    there can be at most, e.g. the trials to run (a process pool holds no more workers than that)."""
    if spec.kind == "serial":
        from suite.executors.serial import SerialExecutor

        return SerialExecutor(spec)
    if spec.kind == "processes":
        from suite.executors.processes import ProcessExecutor

        return ProcessExecutor(spec, at_most)
    from suite.executors.ray import RayExecutor

    return RayExecutor(spec)


def write_log(study_dir: Path, key: str, text: str) -> str:
    """Keep one trial's output as `logs/<key>.log` beside the tables; return that path, relative."""
    directory = Path(study_dir) / LOGS
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{key}.log"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return f"{LOGS}/{path.name}"
