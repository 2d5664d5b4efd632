"""The runner: run what a study's results folder lacks, on an executor, keeping each result
as it arrives.

It knows studies and trials only through the kind protocol (suite.kinds): the kind
plans the units of work, and the executors' workers run them with the kind. Whatever
the kind, a trial ends as one row with one of `kinds.STATUSES`.
"""

from __future__ import annotations

import dataclasses

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


class Extended:
    """A study with seeds added to some of its variants (`run_until_resolved`): its trials and meta
    are the study's plus the added trials and the sequential design; everything else is the study's."""

    def __init__(self, study, extra: list | None = None, sequential: dict | None = None):
        self.study = study
        self.extra = list(extra or [])
        self.sequential = dict(sequential or {})

    def __getattr__(self, name):
        return getattr(self.study, name)

    def trials(self) -> list:
        return self.study.trials() + self.extra

    def meta(self) -> dict:
        meta = self.study.meta()
        meta["keys"] = list(dict.fromkeys([*meta.get("keys", []), *(t.key for t in self.extra)]))
        if self.sequential:
            meta["sequential"] = self.sequential
        return meta


def run_until_resolved(
    study, store, want, *, progress: bool = True, executor: ExecutorSpec | None = None
) -> dict[str, int]:
    """Run the study's trials, then, while `want(store)` names seeds still needed, add them and run
    them: what `ablate run --until-resolved` does (the decision is the caller's: suite.report.resolve).

    `want(store)` returns (wanted, info): `wanted` a list of (key of a trial to copy, seeds it needs),
    `info` what study.json records of the sequential design. An added seed is the trial with only its
    seed changed, so its key is the one `seeds:` would give it: a rerun finds it stored, and a run
    killed between batches resumes where it stopped (the decision is made from the stored data alone)."""
    ext = Extended(study)
    totals = {s: 0 for s in kinds.STATUSES}

    def add(counts: dict[str, int]) -> None:
        for status, n in counts.items():
            if status != "cached":
                totals[status] += n

    def write_meta() -> None:
        meta = ext.meta()
        if getattr(study, "overrides", None):
            meta["overrides"] = study.overrides
        store.write_meta(meta)

    def run_pass() -> dict[str, int]:
        write_meta()
        return run_study(ext, store, progress=progress, executor=executor)

    with store.lock():
        add(kinds.run_passes(ext, store, run_pass))
        while True:
            wanted, ext.sequential = want(store)
            by_key = {t.key: t for t in ext.trials()}
            new = []
            for key, seeds in wanted:
                if key not in by_key:  # a row of no trial of this study (kept from another run)
                    continue
                for seed in seeds:
                    trial = dataclasses.replace(by_key[key], seed=int(seed))
                    if trial.key not in by_key:
                        by_key[trial.key] = trial
                        new.append(trial)
            if not new:
                break
            ext.extra += new
            add(run_pass())
        write_meta()  # the last decision into study.json (every trial is stored)
    totals["cached"] = len(ext.trials()) - sum(totals.values())
    return totals
