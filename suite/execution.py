"""How a study runs when it does not say: the executor the command line and the API hand to the runner.

A serial run of a training study that sets no `threads` uses one torch thread
(`suite.study.SERIAL_THREADS`). Small models spend their time in per-op overhead: a second
torch thread costs more to wake than it saves, and on a busy machine its
spin-waiting makes a study many times slower (README, "Fast defaults", has the
measurements). A study that writes `threads:` (a number, or null for torch's
default of all cores) or `executor: {threads: N}` gets exactly that; process pools
and Ray keep their own rule (cores ÷ workers, cpus_per_unit). Threads never enter a
trial's key, so this changes how fast rows come, not which rows.
"""

from __future__ import annotations


def executor_for(study, kind: str | None = None, workers: int | None = None, address: str | None = None):
    """The study's executor with the command line's choices on top, and the serial default applied."""
    from suite.executors import ExecutorSpec, with_overrides

    spec = with_overrides(
        getattr(study.spec, "executor", None) or ExecutorSpec(), kind=kind, workers=workers, address=address
    )
    if spec.kind != "serial" or spec.threads is not None:
        return spec
    if study.serial_threads is None:  # the study names its threads (or its kind runs them itself)
        return spec
    return spec.model_copy(update={"threads": study.serial_threads})
