"""Running trials: seed, load, build, train, measure, and hand rows to the store.

`run_trial` turns one `Trial` into one result row plus its history; it never
raises for a failing trial (the row says `failed` and why). `run_study` runs
the trials the store does not have yet, with a progress bar.
"""

from __future__ import annotations

import json
import random
import time
import traceback
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from tqdm import tqdm

from suite import data, models
from suite.measure import device_available, median, peak_memory, provenance, time_fn
from suite.models.config import ModelConfig
from suite.study import Study, Trial
from suite.train import loss_and_correct, make_optimizer, train

STATUSES = ("ok", "diverged", "failed", "skipped")


@dataclass
class TrialResult:
    row: dict
    history: list[dict]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@lru_cache(maxsize=8)
def _load(name: str, params_json: str):
    """Load a dataset once per process; trials of one study share it."""
    return data.create(name, **json.loads(params_json)).load()


def base_row(trial: Trial) -> dict:
    return {
        "key": trial.key,
        "study": trial.study,
        "variant": trial.variant,
        "variant_name": trial.variant_name,
        "dataset": trial.dataset,
        "seed": trial.seed,
        "device": trial.device,
        "status": "ok",
        "error": None,
        "config": json.dumps(trial.config(), sort_keys=True),
    }


def run_trial(trial: Trial) -> TrialResult:
    started = time.perf_counter()
    row = base_row(trial)
    device = torch.device(trial.device)
    dataset = data.create(trial.dataset, **trial.dataset_params)
    reason = device_available(trial.device) or dataset.unavailable()
    if reason:
        row.update(status="skipped", error=reason)
        row.update(provenance(torch.device("cpu")) | {"device_name": None})
        return TrialResult(row, [])
    row.update(provenance(device))
    history: list[dict] = []
    try:
        splits = _load(trial.dataset, json.dumps(trial.dataset_params, sort_keys=True))
        splits = {name: (x.to(device), y.to(device)) for name, (x, y) in splits.items()}
        seed_everything(trial.seed)
        model = models.build(
            ModelConfig(**trial.model),
            vocab_size=dataset.vocab_size,
            seq_len=dataset.seq_len,
            num_classes=dataset.num_classes,
            pad_id=dataset.pad_id,
        ).to(device)
        trained = train(model, splits, trial.training, device, trial.seed, trial.training["eval_batch_size"])
        history = trained.history
        row.update(_summarise(trained.history, list(splits)))
        row["params"] = sum(p.numel() for p in model.parameters())
        row["steps"] = trained.steps
        row["train_seconds"] = trained.timed_seconds
        tokens_per_row = splits[next(iter(splits))][0].shape[1]
        if trained.timed_seconds > 0:
            row["train_samples_per_s"] = trained.timed_samples / trained.timed_seconds
            row["train_tokens_per_s"] = row["train_samples_per_s"] * tokens_per_row
        if trained.diverged:
            row.update(status="diverged", error="loss became NaN or infinite")
        else:
            row.update(_measure(model, splits, trial, device))
    except Exception:  # a failing trial is a result, not the end of the study
        row.update(status="failed", error=traceback.format_exc())
    row["wall_seconds"] = time.perf_counter() - started
    return TrialResult(row, [{"key": trial.key, **h} for h in history])


def _summarise(history: list[dict], splits: list[str]) -> dict:
    """Final and best loss and accuracy per split; the unprefixed ones are on the
    last split (test where there is one; train for the course's toy data)."""
    out = {}
    for split in splits:
        points = [h for h in history if h["split"] == split]
        final = points[-1]
        out[f"final_{split}_loss"] = final["loss"]
        out[f"final_{split}_accuracy"] = final["accuracy"]
        out[f"best_{split}_loss"] = min(h["loss"] for h in points)
        out[f"best_{split}_accuracy"] = max(h["accuracy"] for h in points)
    last = splits[-1]
    out["eval_split"] = last
    for kind in ("final", "best"):
        for metric in ("loss", "accuracy"):
            out[f"{kind}_{metric}"] = out[f"{kind}_{last}_{metric}"]
    return out


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
        out["peak_infer_mem_bytes"] = peak_memory(infer, device)
        model.train()
        xt, yt = splits[list(splits)[0]]
        bs = trial.training["batch_size"] or len(xt)
        optimizer = make_optimizer(model.parameters(), trial.training)

        def train_step():
            optimizer.zero_grad(set_to_none=True)
            loss, _ = loss_and_correct(model(xt[:bs]), yt[:bs])
            loss.backward()
            optimizer.step()

        train_step()  # the optimizer's state exists from here on, as in training
        out["peak_train_mem_bytes"] = peak_memory(train_step, device)
    return out


def plan(trials: list[Trial]) -> list[list[Trial]]:
    """Split trials into units of work, each run by one `run_unit` call.

    A unit is one trial today; trials that can share one vectorized training step
    (same architecture and data, different seeds) belong in one unit.
    """
    return [[trial] for trial in trials]


def run_unit(unit: list[Trial]) -> list[TrialResult]:
    """Run one unit of work; it must not raise, and returns one result per trial."""
    return [run_trial(trial) for trial in unit]


def run_study(study: Study, store, *, force: bool = False, progress: bool = True) -> dict[str, int]:
    """Run what the store lacks (everything with force), keeping each result as it
    comes; return counts per status."""
    trials = study.trials()
    done = set() if force else store.finished_keys()
    todo = [t for t in trials if t.key not in done]
    counts = {s: 0 for s in STATUSES}
    counts["cached"] = len(trials) - len(todo)
    bar = tqdm(total=len(todo), desc=study.name, unit="trial", disable=not progress, dynamic_ncols=True)
    for unit in plan(todo):
        first = unit[0]
        bar.set_postfix_str(f"{first.variant} · {first.dataset} · seed {first.seed}", refresh=False)
        for result in run_unit(unit):
            store.write(result.row, result.history)
            counts[result.row["status"]] += 1
            bar.update(1)
    bar.close()
    return counts
