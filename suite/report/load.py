"""One study's results as the report reads them: only what the store wrote under results/<study>/."""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from suite import metrics
from suite.kinds import FINISHED
from suite.registry import UnknownNameError
from suite.store import Store


@dataclass
class Results:
    dir: Path
    name: str
    meta: dict
    runs: pd.DataFrame  # every trial of the study; `dataset` is a label unique per dataset entry
    history: pd.DataFrame
    artifacts: pd.DataFrame
    predictions: pd.DataFrame = None  # per-example eval predictions at the reported epoch
    tuning_runs: pd.DataFrame = None  # the tuning trials' latest rows, indexed by key (suite.report.tuning)

    def __post_init__(self):
        if self.predictions is None:
            self.predictions = pd.DataFrame()
        if self.tuning_runs is None:
            self.tuning_runs = pd.DataFrame(columns=["status"])

    @property
    def baseline(self) -> str | None:
        return self.meta.get("baseline") or (self.meta.get("spec") or {}).get("baseline")

    @property
    def finished(self) -> pd.DataFrame:
        return self.runs[self.runs["status"].isin(FINISHED)]

    def datasets(self) -> list[str]:
        return list(dict.fromkeys(self.finished["dataset"]))


def load(results_dir: str | Path) -> Results:
    store = Store(results_dir)
    meta = store.meta()
    runs = store.runs()
    if runs.empty:
        raise FileNotFoundError(f"{store.runs_path} has no results yet: run the study first")
    tuning = (meta.get("tuning") or {}).get("keys") or []
    tuning_runs = with_labels(runs[runs["key"].isin(tuning)]).set_index("key")  # its fold, where folded
    if meta.get("keys"):
        runs = runs[runs["key"].isin(meta["keys"])]
    if tuning:  # tuning trials have their own table (suite.report.tuning), not the comparison's
        runs = runs[~runs["key"].isin(tuning)]
    runs = with_labels(runs)
    order = [v for v in meta.get("variants") or [] if v in set(runs["variant"])]
    order += sorted(set(runs["variant"]) - set(order))
    runs = runs.assign(variant=pd.Categorical(runs["variant"], categories=order, ordered=True))
    runs = runs.sort_values(["variant", "seed"], kind="stable").reset_index(drop=True)
    runs, history = in_steps(runs, store.history(), meta)
    return Results(
        dir=store.dir,
        name=meta.get("name", store.dir.name),
        meta=meta,
        runs=runs,
        history=history,
        artifacts=store.artifacts(),
        predictions=_predictions(store),
        tuning_runs=tuning_runs,
    )


def in_steps(runs: pd.DataFrame, history: pd.DataFrame, meta: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Count a streaming trial's training in steps: it draws a fresh batch every step and never passes
    over its fixed train split, so an epoch means nothing there. Each row gets `point_unit` ('step'
    or 'epoch'); a streaming row's reported and final points (`selected_epoch`, `final_epoch`) and its
    history's `epoch` are read in steps from here on, so tables, findings and figures count what the
    run counted. Streaming: the row recorded `selected_step` (suite.train_run), or its dataset entry
    is marked `streaming` in the study's meta; older rows counted steps / steps per epoch, and
    `steps` × selected / final epoch gives back the same step."""
    marked = {
        (e["name"], json.dumps(e["params"], sort_keys=True))
        for e in meta.get("dataset_entries") or []
        if e.get("streaming")
    }
    entry = runs["config"].map(
        lambda c: (
            json.dumps(json.loads(c).get("dataset_params", {}), sort_keys=True) if isinstance(c, str) else ""
        )
    )
    streaming = pd.Series(
        [
            (name, params) in marked
            for name, params in zip(runs.get("dataset_name", runs["dataset"]), entry, strict=True)
        ],
        index=runs.index,
    )
    if "selected_step" in runs:
        streaming |= runs["selected_step"].notna()
    runs = runs.assign(point_unit=np.where(streaming, "step", "epoch"))
    if not streaming.any() or "steps" not in runs:
        return runs, history
    s = runs.loc[streaming]
    recorded = s["selected_step"] if "selected_step" in s else pd.Series(np.nan, index=s.index)
    older = (s["selected_epoch"] * s["steps"] / s["final_epoch"]).round()
    runs.loc[streaming, "selected_epoch"] = recorded.fillna(older).astype(float)
    runs.loc[streaming, "final_epoch"] = s["steps"].astype(float)
    if not history.empty and "step" in history:
        counted = history["key"].isin(set(s["key"]))
        history = history.assign(
            epoch=history["epoch"].astype(float).where(~counted, history["step"].astype(float))
        )
    return runs, history


def point_unit(runs: pd.DataFrame) -> str:
    """What these rows' reported points count: 'step' where every one is streaming, else 'epoch'
    (`in_steps`)."""
    units = set(runs["point_unit"]) if "point_unit" in runs and len(runs) else {"epoch"}
    return "step" if units == {"step"} else "epoch"


def _predictions(store: Store) -> pd.DataFrame:
    reader = getattr(store, "predictions", None)
    return reader() if callable(reader) else pd.DataFrame()


def example_matrix(predictions: pd.DataFrame, keys: list[str], metric: str) -> np.ndarray | None:
    """Seeds × examples of a per-example metric (accuracy: 1 if correct; loss: the stored `nll`, else
    −log p(true class) from the float32 probability), one row per key in order; None unless every
    key has predictions on the same examples, and for loss None where a key has no `nll` and a
    p(true) that underflowed float32 (its −log would be ≥ 87 nats, not the model's loss)."""
    if predictions.empty:
        return None
    index = _by_key(predictions)
    if any(key not in index.rows for key in keys):
        return None
    rows = [index.rows[key] for key in keys]
    if any(len(r) != len(rows[0]) for r in rows):
        return None
    if metrics.get(metric).per_example == "correct":
        return np.vstack([index.correct[r] for r in rows])
    if len(index.nll) and not any(np.isnan(index.nll[r]).any() for r in rows):
        return np.vstack([index.nll[r] for r in rows])  # the loss each example had, as computed
    if any(key in index.clipped for key in keys):
        return None  # −log of an underflowed float32 p(true) is not the example's loss: use the row's
    return np.vstack([-np.log(index.p_true[r]) for r in rows])


UNDERFLOW = float(np.finfo(np.float32).tiny)  # below this a stored float32 p(true) has lost its value


def approximated(predictions: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(keys whose per-example loss is rebuilt as −log p(true) from float32 probabilities, i.e.
    without an `nll` column; those among them where some p(true) underflowed, whose per-example
    loss cannot be rebuilt at all: the report then uses the trial's measured loss, over seeds)."""
    if predictions.empty or "p_true" not in predictions:
        return [], []
    index = _by_key(predictions)
    rebuilt = [k for k, r in index.rows.items() if not len(index.nll) or np.isnan(index.nll[r]).any()]
    return rebuilt, [k for k in rebuilt if k in index.clipped]


@dataclass
class _KeyIndex:
    rows: dict[str, np.ndarray]  # key → its row positions, by example index
    correct: np.ndarray
    p_true: np.ndarray
    owner: weakref.ref
    nll: np.ndarray  # each example's cross-entropy as computed (float64), where stored
    clipped: frozenset  # keys with a p(true) too small for float32 to hold (−log of it is wrong)


_INDEXES: dict[int, _KeyIndex] = {}


def _by_key(predictions: pd.DataFrame) -> _KeyIndex:
    """Each key's rows of `predictions`, found in one pass and kept while the frame lives: a report
    asks for the same trials' matrices a hundred times (text_encoders: ~110 calls, 24 matrices,
    over 1.1 M rows). A frame is not changed after loading, so the index stays true."""
    found = _INDEXES.get(id(predictions))
    if found is not None and found.owner() is predictions:
        return found
    index_of = predictions["index"].to_numpy()
    rows = {
        key: pos[np.argsort(index_of[pos], kind="stable")]
        for key, pos in predictions.groupby("key", sort=False).indices.items()
    }
    ident = id(predictions)
    p_true = predictions["p_true"].to_numpy(float) if "p_true" in predictions else np.array([])
    low = p_true < UNDERFLOW if len(p_true) else np.zeros(0, bool)
    found = _KeyIndex(
        rows,
        predictions["correct"].to_numpy(float) if "correct" in predictions else np.array([]),
        p_true,
        weakref.ref(predictions, lambda _: _INDEXES.pop(ident, None)),
        predictions["nll"].to_numpy(float) if "nll" in predictions else np.array([]),
        frozenset(k for k, r in rows.items() if low[r].any()) if len(low) else frozenset(),
    )
    _INDEXES[ident] = found
    return found


def with_labels(runs: pd.DataFrame) -> pd.DataFrame:
    """`dataset` becomes a label per dataset entry (`order(T=64)` where a study uses one
    dataset with several parameter sets); `dataset_name` keeps the registry name, and
    `T` and each model parameter (`dim`, `positional`, …: whatever the configurations hold, named
    by no one here) come from each trial's configuration, where no result column has the name."""
    config = runs["config"].map(json.loads)
    params = config.map(lambda c: c.get("dataset_params", {}))
    names = runs["dataset"]
    entries: dict[str, list[dict]] = {}  # dataset name → its distinct parameter sets
    for name, p in zip(names, params, strict=True):
        if p not in entries.setdefault(name, []):
            entries[name].append(p)

    def label(name: str, p: dict) -> str:
        differing = [
            k
            for k in p
            if any(q.get(k) != p[k] for q in entries[name]) and not (k == "fold" and "folds" in p)
        ]  # a cross-validated dataset's folds are one dataset, its trials paired by (seed, fold)
        return name + (f"({', '.join(f'{k}={p[k]}' for k in differing)})" if differing else "")

    out = runs.assign(dataset_name=names, dataset=[label(n, p) for n, p in zip(names, params, strict=True)])
    out["T"] = params.map(lambda p: p.get("T"))
    folded = params.map(lambda p: "fold" in p and "folds" in p)
    out["fold"] = pd.array(
        [p["fold"] if f else None for p, f in zip(params, folded, strict=True)], dtype="Int64"
    )
    out["folds"] = pd.array(
        [p["folds"] if f else None for p, f in zip(params, folded, strict=True)], dtype="Int64"
    )
    fields = dict.fromkeys(k for c in config for k in c.get("model", {}))
    for key in [k for k in fields if k not in out]:
        out[key] = config.map(lambda c, key=key: c.get("model", {}).get(key))
    return out


def held_out_splits(runs: pd.DataFrame) -> list[str]:
    """Splits besides train, val and the eval split on which a metric reported on every split
    (suite.metrics: `splits="all"`) has a final value (e.g. longer test sequences)."""
    eval_split = runs["eval_split"].dropna().iloc[0]
    found = []
    for c in runs.columns:
        try:
            col = metrics.column(c)
        except UnknownNameError:
            continue
        if col.stage == "final" and col.split and col.metric.splits == "all" and runs[c].notna().any():
            found.append(col.split)
    return [s for s in dict.fromkeys(found) if s not in ("train", "val", eval_split)]


def headline_stage(runs: pd.DataFrame) -> str:
    """`selected` (the epoch chosen on the val split) where the runner recorded it, else `final`."""
    return "selected" if "selected_accuracy" in runs and runs["selected_accuracy"].notna().any() else "final"


def headline_accuracy(runs: pd.DataFrame) -> str:
    """The quality column a report leads with, at the val-chosen epoch where recorded, else final:
    accuracy, except for next-token models (rows of task `lm`), whose eval loss is what
    they are judged by (a character model's accuracy is the share of top-1 guesses, a weak summary)."""
    stage = headline_stage(runs)
    if "task" in runs and runs["task"].notna().any():
        lm = (runs["task"] == "lm").any()
    else:  # rows written before the task column: bits are computed for per-position targets only
        lm = f"{stage}_bits" in runs and runs[f"{stage}_bits"].notna().any()
    return f"{stage}_loss" if lm else f"{stage}_accuracy"


def last_line(error) -> str:
    """A recorded error's last line (its message, after any traceback); "" where none was recorded."""
    lines = error.strip().splitlines() if isinstance(error, str) else []
    return lines[-1] if lines else ""


def quality_metrics(runs: pd.DataFrame) -> list[str]:
    """What a study is compared on: loss and accuracy on the eval split at the reported epoch,
    and the accuracy on any further held-out split (e.g. longer sequences)."""
    stage = headline_stage(runs)
    # Those the evaluator computed for these rows (bits and perplexity only for per-position
    # targets); the length-extrapolation columns have a section of their own.
    quality = [
        m
        for m in metrics.every("quality")
        if m.compute is not None and f"{stage}_{m.name}" in runs and runs[f"{stage}_{m.name}"].notna().any()
    ]
    held_out = [m.name for m in quality if m.splits == "all"]
    return [f"{stage}_{m.name}" for m in quality] + [
        f"{stage}_{s}_{m}" for s in held_out_splits(runs) for m in held_out
    ]


def metric_name(metric: str, eval_split: str | None = None) -> str:
    """'final_loss' → 'final loss on test'; 'selected_accuracy' → 'accuracy on test' (at the
    val-chosen epoch); 'final_test_long_accuracy' → 'final accuracy on test_long'."""
    return metrics.column(metric).label(eval_split)
