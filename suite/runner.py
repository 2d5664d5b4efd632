"""The runner: run what a study's results folder lacks, on an executor, keeping each result
as it arrives.

It knows studies and trials only through the kind protocol (suite.kinds): the kind
plans the units of work, and the executors' workers run them with the kind. Whatever
the kind, a trial ends as one row with one of `kinds.STATUSES`.
"""

from __future__ import annotations

from suite import executors, kinds
from suite.executors import ExecutorSpec
from suite.progress import progress_bar


def run(
    study, store, *, force: bool = False, progress: bool = True, executor: ExecutorSpec | None = None
) -> dict[str, int]:
    """What `ablate run` and `suite.run` do: hold the study's write lock (StoreLocked if another
    run has it), record what the study is beside its results, and run what the folder lacks."""

    def run_pass(force: bool = force) -> dict[str, int]:
        meta = study.meta()
        if getattr(study, "overrides", None):
            meta["overrides"] = study.overrides
        store.write_meta(meta)
        return run_study(study, store, force=force, progress=progress, executor=executor)

    with store.lock():  # one pass, or those the kind runs (tuning: its trials, then the chosen ones)
        return kinds.run_passes(study, store, run_pass)


def run_study(
    study, store, *, force: bool = False, progress: bool = True, executor: ExecutorSpec | None = None
) -> dict[str, int]:
    """Run what the store lacks (everything with force) on `executor` (default: the
    study's), keeping each result as it comes; return counts per status.

    Only this process writes: executors hand back results, and each trial's output
    goes to logs/<key>.log beside the tables, named in the row's `log` column.
    """
    trials = study.trials()
    done = set() if force else store.finished_keys()
    # a trial whose study keeps its weights (suite.checkpoints) is not done without them: committed
    # results carry no weights, and a damaged file is written again
    done -= store.lacking_checkpoints(
        t.key for t in trials if getattr(t, "checkpoint", False) and t.key in done
    )
    todo = [t for t in trials if t.key not in done]
    counts = {s: 0 for s in kinds.STATUSES}
    counts["cached"] = len(trials) - len(todo)
    if not todo:  # no executor to start, nor torch to import: the cached run is a quick check
        return counts
    bar = progress_bar(len(todo), study.name, enabled=progress)  # a bar on a terminal, else lines
    spec = executor or getattr(study.spec, "executor", None) or ExecutorSpec()
    with executors.create(spec, at_most=len(todo)) as pool:  # a unit holds one trial or more
        for finished in pool.run(kinds.get(study.kind).plan(todo)):
            for result in finished.results:
                result.row["log"] = executors.write_log(store.dir, result.row["key"], finished.log)
                counts[result.row["status"]] += 1
                if getattr(result, "checkpoint", None):  # before the row that says the trial is done
                    store.write_checkpoint(result.row["key"], result.checkpoint)
            store.write_many([(r.row, r.history, r.artifacts, r.predictions) for r in finished.results])
            bar.update(len(finished.results))
            bar.set_postfix_str(finished.unit[0].label, refresh=False)
    bar.close()
    return counts
