"""Running training trials: seed, load, build, train, measure, and hand back rows.

`run_trial` turns one `Trial` (suite.study) into one result row plus its history; it
never raises for a failing trial (the row says `failed` and why). `plan` groups seeds
that can share a stacked training step; `run_unit` runs such a group (suite.vectorized)
or one trial. The runner reaches these through the training kind (suite.train_kind).
"""

from __future__ import annotations

import json
import random
import time
import traceback
from functools import lru_cache

import numpy as np
import torch

from suite import checkpoints, data, identity, metrics, models, objective
from suite.artifacts import predictions as record_predictions
from suite.artifacts import record as record_artifacts
from suite.kinds import TrialResult
from suite.measure import device_available, median, peak_memory, provenance, time_fn
from suite.models.config import parse
from suite.study import Trial
from suite.train import One, evaluate, evaluated_rows, knob, train, update


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    if _accelerators():
        torch.manual_seed(seed)
    else:  # the same CPU stream; torch.manual_seed also queues a CUDA seed, formatting a stack trace (~0.3 ms)
        torch.default_generator.manual_seed(seed)


@lru_cache(maxsize=1)
def _accelerators() -> bool:
    xpu = getattr(torch, "xpu", None)
    return torch.cuda.is_available() or torch.backends.mps.is_available() or bool(xpu and xpu.is_available())


@lru_cache(maxsize=8)
def _load(name: str, params_json: str):
    """Load a dataset once per process; trials of one study share it."""
    return data.create(name, **json.loads(params_json)).load()


def run_trial(trial: Trial) -> TrialResult:
    started = time.perf_counter()
    row = trial.base_row()
    device = torch.device(trial.device)
    dataset = data.create(trial.dataset, **trial.dataset_params)
    reason = device_available(trial.device) or dataset.unavailable() or _pretrained_unavailable(trial)
    if reason:
        row.update(status="skipped", error=reason)
        row.update(provenance(torch.device("cpu")) | {"device_name": None})
        return TrialResult(row, [])
    row.update(provenance(device))
    history: list[dict] = []
    artifacts: list[dict] = []
    preds: list[dict] = []
    checkpoint = None
    try:
        splits = _load(trial.dataset, json.dumps(trial.dataset_params, sort_keys=True))
        splits = {name: (x.to(device), y.to(device)) for name, (x, y) in splits.items()}
        splits = evaluated_rows(splits, knob(trial.training, "eval_rows"))
        model = seeded_model(trial, dataset, device, splits[list(splits)[0]])
        trained = train(
            model,
            splits,
            trial.training,
            device,
            trial.seed,
            trial.training["eval_batch_size"],
            dataset.task,
            draw=_draw(dataset, trial.seed, device),
        )
        history = trained.history
        artifacts, preds, checkpoint = _record_training(row, trial, dataset, model, splits, trained, device)
        if trial.training.get("retrain") and row["status"] == "ok":
            preds, retrained = _retrain(row, trial, dataset, splits, device)
            if trial.checkpoint and retrained is not None:  # keep the weights the row reports
                checkpoint = checkpoints.encode(retrained, checkpoint_meta(trial, dataset, row))
    except Exception:  # a failing trial is a result, not the end of the study
        row.update(status="failed", error=traceback.format_exc())
        preds, checkpoint = [], None
    row["wall_seconds"] = time.perf_counter() - started
    return TrialResult(row, [{"key": trial.key, **h} for h in history], artifacts, preds, checkpoint)


def _draw(dataset, seed: int, device: torch.device):
    """A streaming dataset's batch per step at the trial's seed, on the device; None otherwise."""
    if not dataset.streaming:
        return None

    def draw(step: int, batch_size: int):
        x, y = dataset.batch(step, batch_size, seed)
        return x.to(device), y.to(device)

    return draw


def _draws(datasets: list, seeds: list[int], device: torch.device):
    """Each stacked member's `_draw` where the members' data streams (None where none does)."""
    from suite.vectorized import CannotStack

    streaming = {bool(d.streaming) for d in datasets}
    if streaming == {False}:
        return None
    if len(streaming) > 1:
        raise CannotStack("some members' datasets stream batches and some do not")
    return [_draw(d, seed, device) for d, seed in zip(datasets, seeds, strict=True)]


def _record_training(
    row: dict, trial: Trial, dataset, model, splits, trained, device: torch.device
) -> tuple[list[dict], list[dict], bytes | None]:
    """Fill a row from a finished training run: metrics, speed, size, and (unless it diverged)
    inference throughput and peak memory of the trained model; return its recorded artifacts,
    its per-example predictions on the eval split and, where the study keeps them, its weights
    (suite.checkpoints), all at the reported (selected) epoch."""
    evaluated = {h["split"] for h in trained.history}  # all of them unless training.history_splits says less
    last = list(splits)[-1]
    row.update(
        _summarise(trained.history, [s for s in splits if s in evaluated], trained.selected_step, last)
    )
    if last not in evaluated:  # history_splits: val; once, at the selected point
        row["eval_split"] = last
        if not trained.diverged:
            row.update(_selected_only(model, splits, last, trial.training["eval_batch_size"], dataset.task))
    row["selection"] = trained.selection
    row["stopped_early"] = trained.stopped_early
    row.update(_chance(splits))
    row["params"] = sum(p.numel() for p in model.parameters())
    row["steps"] = trained.steps
    row["train_seconds"] = trained.timed_seconds
    tokens_per_row = splits[next(iter(splits))][0].shape[1]
    if trained.timed_seconds > 0:
        row["train_samples_per_s"] = trained.timed_samples / trained.timed_seconds
        row["train_tokens_per_s"] = row["train_samples_per_s"] * tokens_per_row
    artifacts: list[dict] = []
    if trained.diverged:
        row.update(status="diverged", error="loss became NaN or infinite")
        return artifacts, [], None
    # Before _measure, whose memory step updates weights.
    eval_x, eval_y = splits[list(splits)[-1]]
    if trial.measure.get("artifacts"):
        artifacts = [{"key": trial.key, **a} for a in record_artifacts(model, eval_x)]
    batch = trial.training["eval_batch_size"]
    preds = []
    if trial.measure.get("predictions", True):
        preds = [{"key": trial.key, **p} for p in record_predictions(model, eval_x, eval_y, batch)]
    if dataset.per_position:
        row["task"] = dataset.task  # lm rows are judged by loss, recall (tokens) by accuracy (report)
        row.update(_sequence_measures(model, dataset, trial, list(splits)[-1]))
    checkpoint = checkpoints.encode(model, checkpoint_meta(trial, dataset, row)) if trial.checkpoint else None
    row.update(_measure(model, splits, trial, device))
    return artifacts, preds, checkpoint


def checkpoint_meta(trial: Trial, dataset, row: dict) -> dict:
    """What a checkpoint carries beside the weights: what rebuilds the model (its configuration
    and the dataset's shapes; `suite.use`), and which trial and point it is."""
    return {
        "key": trial.key,
        "study": trial.study,
        "variant": trial.variant,
        "variant_name": trial.variant_name,
        "seed": trial.seed,
        "model": trial.model,
        "dataset": trial.dataset,
        "dataset_params": trial.dataset_params,
        "data": {
            "vocab_size": dataset.vocab_size,
            "seq_len": dataset.seq_len,
            "num_classes": dataset.num_classes,
            "pad_id": dataset.pad_id,
            "task": dataset.task,
        },
        "selected_epoch": row.get("selected_epoch"),
        "selected_step": row.get("selected_step"),
        "selection": row.get("selection"),
        "ablate_version": row.get("ablate_version"),
    }


def _sequence_measures(model, dataset, trial: Trial, split: str) -> dict:
    """Length extrapolation and samples of the selected per-position model (`measure.context_factors`,
    `measure.sample_tokens`)."""
    from suite import lm_eval

    out: dict = {}
    factors = trial.measure.get("context_factors") or []
    if factors and hasattr(dataset, "windows"):
        rows = knob(trial.training, "eval_rows")
        batch = max(1, trial.training["eval_batch_size"] // 8)
        out.update(lm_eval.extrapolation_columns(model, dataset, split, factors, rows, batch))
    if trial.measure.get("sample_tokens") and hasattr(dataset, "decode"):
        out["samples"] = json.dumps(
            lm_eval.samples(
                model,
                dataset,
                trial.measure["sample_temperatures"],
                trial.measure["sample_tokens"],
                trial.measure.get("sample_prompt", "\n"),
                trial.seed,
            )
        )
    return out


def _retrain(row: dict, trial: Trial, dataset, splits, device: torch.device) -> tuple[list[dict], object]:
    """`training.retrain`: a fresh model at the trial's seed trained on train + val for the epochs
    the val split chose, with no selection; its eval-split metrics replace the row's reported ones
    (`selected_*` and the unprefixed headline), and its predictions are the ones recorded. The
    history, the val metrics and the chosen epoch stay the first run's. Returns the predictions and
    the retrained model (None where it diverged)."""
    (xt, yt), (xv, yv) = splits["train"], splits["val"]
    last = list(splits)[-1]
    full = {"train": (torch.cat([xt, xv]), torch.cat([yt, yv])), last: splits[last]}
    epochs = int(row["selected_epoch"])
    # One history point at the end (and the loop's first, at step 0): only the final test metrics
    # are reported, and evaluating between epochs changes no weight (evaluation draws no numbers).
    training = {
        **trial.training,
        "epochs": epochs,
        "select": "final",
        "patience": None,
        "history_every": epochs,
        "steps": None,
        # its history is not reported: test alone where the first run's history left the train split out
        "history_splits": "all" if knob(trial.training, "history_splits") == "all" else "held_out",
    }
    model = seeded_model(trial, dataset, device, full["train"])
    again = train(model, full, training, device, trial.seed, trial.training["eval_batch_size"])
    if again.diverged:
        row.update(
            status="diverged", error=f"the retrained model's loss became NaN or infinite (epoch {epochs})"
        )
        return [], None
    final = [h for h in again.history if h["split"] == last][-1]
    for m in metrics.computed():
        if m.name in final:
            row[f"selected_{last}_{m.name}"] = row[f"selected_{m.name}"] = final[m.name]
    row.update(retrained_epochs=epochs, train_rows=len(full["train"][0]))
    eval_x, eval_y = splits[last]
    batch = trial.training["eval_batch_size"]
    return [{"key": trial.key, **p} for p in record_predictions(model, eval_x, eval_y, batch)], model


def _summarise(
    history: list[dict], splits: list[str], selected_step: int | None = None, eval_split: str | None = None
) -> dict:
    """Every computed metric (suite.metrics) per split at the final point, the best over points (in
    the metric's direction) and the selected point (chosen on val, see suite.train.Selector; the
    final one when not given); the unprefixed ones are on the last split (test where there is one;
    train for the course's toy data)."""
    out = {}
    names = [m for m in metrics.computed() if m.name in history[0]]
    if selected_step is None:
        selected_step = max(h["step"] for h in history)
    for split in splits:
        points = [h for h in history if h["split"] == split]
        final = points[-1]
        chosen = next(h for h in points if h["step"] == selected_step)
        for m in names:
            out[f"final_{split}_{m.name}"] = final[m.name]
        for m in names:
            best = max if m.higher_is_better else min
            out[f"best_{split}_{m.name}"] = best(h[m.name] for h in points)
        for m in names:
            out[f"selected_{split}_{m.name}"] = chosen[m.name]
        out["selected_epoch"] = chosen["epoch"]
        out["final_epoch"] = final["epoch"]
        if chosen["epoch"] is None:  # a streaming run counts steps, not epochs (suite.train.fit)
            out["selected_step"] = chosen["step"]
    last = splits[-1]
    if eval_split is not None and last != eval_split:  # history_splits: val; `_selected_only` adds them
        return out
    out["eval_split"] = last
    for kind in ("final", "best", "selected"):
        for m in names:
            out[f"{kind}_{m.name}"] = out[f"{kind}_{last}_{m.name}"]
    return out


def _selected_only(model, splits, split: str, batch: int, task: str) -> dict:
    """The eval split's metrics at the selected weights, for a run whose history points did not
    evaluate it: the row's `selected_*` columns, as `_summarise` names them."""
    values = evaluate(One(model, splits, task=task), split, batch)
    out = {}
    for m in metrics.computed():
        if m.name in values:
            out[f"selected_{split}_{m.name}"] = out[f"selected_{m.name}"] = float(values[m.name][0])
    return out


def _chance(splits) -> dict:
    """What a model that learned nothing scores on the eval split: the majority class's share
    (accuracy) and the entropy of the label distribution (the best constant predictor's loss)."""
    _, y = splits[list(splits)[-1]]
    y = y.flatten().long().cpu()
    counts = torch.bincount(y[y != objective.IGNORE]).double()
    share = counts[counts > 0] / counts.sum()
    x_train, x_eval = next(iter(splits.values()))[0], splits[list(splits)[-1]][0]
    return {
        "chance_accuracy": float(share.max()),
        "chance_loss": float(-(share * share.log()).sum()),
        # the rows trained on and evaluated: the report's correction for cross-validation folds'
        # shared training rows reads their ratio (suite.report.resampling)
        "train_rows": len(x_train),
        "eval_rows": len(x_eval),
    }


def _measure(model, splits, trial: Trial, device: torch.device) -> dict:
    """Inference throughput and peak memory, on the trained model, after training."""
    measure = trial.measure
    x, y = splits[list(splits)[-1]]
    xb = x[: measure["inference_batch"]]
    out: dict = {}

    def infer():
        with torch.no_grad():
            model(xb)

    model.eval()
    if measure["throughput"]:
        times = time_fn(infer, device, measure["warmup"], measure["repeats"])
        out["infer_samples_per_s"] = len(xb) / median(times)
        out["infer_tokens_per_s"] = out["infer_samples_per_s"] * xb.shape[1]
    if measure["memory"] and device.type in ("cpu", "cuda"):
        xt, yt = splits[list(splits)[0]]
        bs = trial.training["batch_size"] or len(xt)
        shapes = _memory_key(trial, model, xb, xt[:bs])
        out["memory_group"] = "m" + identity.key(shapes)
        out["peak_infer_mem_bytes"] = peak_memory(infer, device, key=("infer", out["memory_group"]))
        model.train()
        one = []  # made only when this shape is measured, not for every row that shares it

        def train_step():  # one step of suite.train.fit
            update(one[0], objective.member_loss(model(xt[:bs]), yt[:bs].unsqueeze(0)), None)

        def setup():  # the optimizer's state exists before the measured step, as in training
            one.append(One(model, {"train": (xt[:bs], yt[:bs])}, trial.training))
            train_step()

        key = ("train", out["memory_group"])
        out["peak_train_mem_bytes"] = peak_memory(train_step, device, key=key, setup=setup)
    return out


def _memory_key(trial: Trial, model, infer_x: torch.Tensor, train_x: torch.Tensor) -> dict:
    """What decides the sizes a measured step allocates: architecture, parameter shapes, data (for
    any data-dependent shape), input shapes, optimizer and device; not seeds or weight values."""
    return {
        "model": trial.model,
        "parameters": [[n, list(p.shape), str(p.dtype)] for n, p in model.named_parameters()],
        "dataset": [trial.dataset, trial.dataset_params],
        "inputs": [list(infer_x.shape), list(train_x.shape), str(infer_x.dtype)],
        # weight decay adds a tensor to the step (grad + wd · param); keyed only when set, so the
        # groups of committed results, which set none, keep their ids
        "optimizer": [trial.training["optimizer"], trial.training["momentum"]]
        + ([trial.training["weight_decay"]] if trial.training["weight_decay"] else []),
        "device": trial.device,
    }


def plan(trials: list[Trial]) -> list[list[Trial]]:
    """Split trials into units of work, each run by one `run_unit` call.

    Trials that can share one vectorized training step (one architecture, training and data
    shape; different seeds or datasets: `suite.vectorized.group_key`) form one unit; the rest,
    and every trial of a study with `training.vectorize: false`, are units of one.
    """
    from suite.vectorized import group_key

    units: list[list[Trial]] = []
    groups: dict[str, list[Trial]] = {}
    for trial in trials:
        key = group_key(trial)
        if key is None:
            units.append([trial])
        elif key in groups:
            groups[key].append(trial)
        else:
            groups[key] = [trial]
            units.append(groups[key])
    return units


def run_unit(unit: list[Trial]) -> list[TrialResult]:
    """Run one unit of work; it must not raise, and returns one result per trial, in unit order."""
    before = torch.get_num_threads()
    if unit[0].threads:
        torch.set_num_threads(unit[0].threads)
    try:
        return _run_unit(unit)
    finally:
        torch.set_num_threads(before)


def _run_unit(unit: list[Trial]) -> list[TrialResult]:
    if len(unit) > 1:
        try:
            return _run_group(unit)
        except Exception as err:  # a bug in the stacked path must not cost the trials
            from suite.vectorized import log_once

            log_once(f"vectorized training failed ({type(err).__name__}: {err}); running one at a time")
    return [run_trial(trial) for trial in unit]


def _run_group(unit: list[Trial]) -> list[TrialResult]:
    """Train a unit's trials together (`suite.vectorized`), then measure each trained model on
    its own, as `run_trial` does. Members that cannot share a step run one at a time."""
    from suite import vectorized

    first = unit[0]
    device = torch.device(first.device)
    datasets = [data.create(t.dataset, **t.dataset_params) for t in unit]
    if device_available(first.device) or any(d.unavailable() for d in datasets):
        return [run_trial(trial) for trial in unit]  # each row says why it is skipped
    on_device: dict[str, dict] = {}  # one device copy per dataset, shared by its members
    splits = []
    for trial in unit:
        params = json.dumps(trial.dataset_params, sort_keys=True)
        if (trial.dataset, params) not in on_device:
            loaded = _load(trial.dataset, params)
            on_device[trial.dataset, params] = evaluated_rows(
                {n: (x.to(device), y.to(device)) for n, (x, y) in loaded.items()},
                knob(first.training, "eval_rows"),
            )
        splits.append(on_device[trial.dataset, params])
    members = [
        seeded_model(trial, dataset, device, split[list(split)[0]])
        for trial, dataset, split in zip(unit, datasets, splits, strict=True)
    ]
    results: dict[int, TrialResult] = {}
    for group in vectorized.partition(splits, first.training):
        if len(group) == 1:
            results[group[0]] = run_trial(unit[group[0]])
            continue
        group_started = time.perf_counter()  # wall time: the group's training, shared equally
        try:
            trained = vectorized.train_group(
                [members[i] for i in group],
                [splits[i] for i in group],
                first.training,
                device,
                [unit[i].seed for i in group],
                eval_batch=first.training["eval_batch_size"],
                task=datasets[group[0]].task,  # one per group: the task is part of its data shape
                draws=_draws([datasets[i] for i in group], [unit[i].seed for i in group], device),
            )
        except vectorized.CannotStack as err:
            vectorized.log_once(f"{first.variant}: seeds run one at a time: {err}")
            results.update({i: run_trial(unit[i]) for i in group})
            continue
        shared = (time.perf_counter() - group_started) / len(group)
        timing_group = "g" + identity.key({"members": sorted(unit[i].key for i in group)})
        for i, result in zip(group, trained, strict=True):
            results[i] = _group_member_result(
                unit[i], datasets[i], members[i], splits[i], result, len(group), device
            )
            results[i].row["wall_seconds"] += shared
            results[i].row["timing_group"] = timing_group
    return [results[i] for i in range(len(unit))]


def seeded_model(trial: Trial, dataset, device: torch.device, train_split=None):
    """The trial's model with its seed's initial weights, as `run_trial` builds it
    (pretrained token vectors copied in where the model names some), and, given the training
    split, whatever a model derives from its training rows before training (`prepare`: ngram's
    nb_weight ratios); never from val or test."""
    seed_everything(trial.seed)
    cfg = parse(trial.model)
    model = models.build(
        cfg,
        vocab_size=dataset.vocab_size,
        seq_len=dataset.seq_len,
        num_classes=dataset.num_classes,
        pad_id=dataset.pad_id,
        task=dataset.task,
    )
    if cfg.pretrained:
        from suite.data import glove

        glove.load_into(model.embedding, cfg.pretrained, dataset.vocabulary())
    model = model.to(device)
    prepare = getattr(model, "prepare", None)
    if train_split is not None and callable(prepare):
        prepare(*train_split)
    return model


def _pretrained_unavailable(trial: Trial) -> str | None:
    name = trial.model.get("pretrained")
    if not name:
        return None
    from suite.data import glove

    return glove.unavailable(name)


def _group_member_result(trial: Trial, dataset, model, splits, trained, size: int, device) -> TrialResult:
    started = time.perf_counter()
    row = trial.base_row()
    row.update(provenance(device))
    row["train_group_size"] = size
    artifacts: list[dict] = []
    preds: list[dict] = []
    checkpoint = None
    try:
        artifacts, preds, checkpoint = _record_training(row, trial, dataset, model, splits, trained, device)
    except Exception:
        row.update(status="failed", error=traceback.format_exc())
        checkpoint = None
    row["wall_seconds"] = time.perf_counter() - started
    history = [{"key": trial.key, **h} for h in trained.history]
    return TrialResult(row, history, artifacts, preds, checkpoint)
