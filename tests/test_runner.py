import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY_TRAINING

from suite import data
from suite.runner import run_study
from suite.store import Store
from suite.study import load_study
from suite.train_run import run_trial


def test_trial_row_has_metrics_speed_memory_and_provenance(write_study):
    trial = load_study(write_study(variants=["attention"], seeds=1)).trials()[0]
    result = run_trial(trial)
    row = result.row
    assert row["status"] == "ok", row["error"]
    for col in (
        "final_loss",
        "best_loss",
        "final_train_accuracy",
        "train_samples_per_s",
        "infer_samples_per_s",
        "peak_train_mem_bytes",
        "peak_infer_mem_bytes",
        "params",
    ):
        assert row[col] is not None and not math.isnan(row[col]) and row[col] > 0, col
    assert row["best_loss"] <= row["final_loss"] + 1e-12
    for col in (
        "torch_version",
        "device_name",
        "threads",
        "git_commit",
        "python_version",
        "host",
        "measured_at",
    ):
        assert row[col], col
    history = pd.DataFrame(result.history)
    assert list(history["step"].unique()) == [0, 5, 10, 15, 20]
    assert (history["key"] == trial.key).all()


def test_rerun_on_cpu_reproduces_exactly(write_study):
    trial = load_study(write_study(variants=["multihead"], seeds=[4])).trials()[0]
    a, b = run_trial(trial), run_trial(trial)
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert a.row["final_loss"] == b.row["final_loss"]


def test_course_finding_on_reversal(write_study):
    """Order-blind mean stays at ln 2; learned positions solve reversal."""
    study = load_study(
        write_study(
            variants=["mean", "positional"],
            seeds=1,
            training={"lr": 0.01, "epochs": 400, "history_every": 100},
        )
    )
    rows = {t.variant: run_trial(t).row for t in study.trials()}
    assert abs(rows["mean"]["final_loss"] - math.log(2)) < 1e-3
    assert rows["positional"]["final_loss"] < 0.05


def test_failed_diverged_and_skipped_trials_are_rows(write_study, monkeypatch):
    study = load_study(
        write_study(variants=["mean"], seeds=1, devices=["cpu", "cuda:7"], training={"lr": 1e30, "epochs": 5})
    )
    rows = {t.device: run_trial(t).row for t in study.trials()}
    assert rows["cuda:7"]["status"] == "skipped" and "cuda" in rows["cuda:7"]["error"].lower()
    assert rows["cpu"]["status"] in ("diverged", "ok")

    import suite.train_run as runner

    def broken(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(runner, "train", broken)
    row = run_trial(study.trials()[0]).row
    assert row["status"] == "failed" and "RuntimeError: boom" in row["error"]


def test_diverging_run_is_marked(write_study):
    study = load_study(
        write_study(
            variants=["attention"],
            seeds=1,
            training={"optimizer": "sgd", "lr": 1e38, "epochs": 30, "history_every": 1},
        )
    )
    row = run_trial(study.trials()[0]).row
    assert row["status"] == "diverged"


def test_run_study_runs_only_missing_trials(write_study, tmp_path):
    study = load_study(write_study(seeds=2))
    store = Store(tmp_path / "results" / "tiny")
    counts = run_study(study, store, progress=False)
    assert counts["ok"] == 4 and counts["cached"] == 0
    first = store.runs().sort_values("key").reset_index(drop=True)
    again = run_study(study, store, progress=False)
    assert again["cached"] == 4 and again["ok"] == 0
    pd.testing.assert_frame_equal(first, store.runs().sort_values("key").reset_index(drop=True))
    forced = run_study(study, store, force=True, progress=False)
    assert forced["ok"] == 4 and len(store.runs()) == 4
    assert len(store.history()) == 4 * 5  # 5 history points, one split, no duplicates
    assert torch.get_num_threads() >= 1


def test_selection_on_val_predictions_and_chance_are_recorded(write_study):
    study = load_study(
        write_study(
            variants=["attention"],
            datasets=[{"name": "order", "V": 4, "T": 6, "n": 60}],
            seeds=1,
            training={"optimizer": "adam", "lr": 0.05, "epochs": 8, "history_every": 1, "patience": 2},
        )
    )
    (trial,) = study.trials()
    result = run_trial(trial)
    row, history = result.row, result.history
    assert row["status"] == "ok" and row["timing_group"] is None
    val = [h for h in history if h["split"] == "val"]
    best = max(val, key=lambda h: (h["accuracy"], -h["loss"], -h["step"]))
    assert row["selected_epoch"] == best["epoch"]
    test_at = next(h for h in history if h["split"] == "test" and h["step"] == best["step"])
    assert row["selected_accuracy"] == pytest.approx(test_at["accuracy"])
    # early stopping: no more than `patience` history points after the best one
    assert row["final_epoch"] - row["selected_epoch"] <= 2
    preds = result.predictions
    test_rows = len(data.create("order", V=4, T=6, n=60).load()["test"][1])
    assert len(preds) == test_rows and preds[0]["pred"].dtype.name == "int16"  # one per test example
    assert np.mean([p["correct"] for p in preds]) == pytest.approx(row["selected_accuracy"])
    loss = np.mean([-np.log(p["p_true"]) for p in preds])
    assert loss == pytest.approx(row["selected_loss"], rel=1e-3)
    assert np.mean([p["nll"] for p in preds]) == pytest.approx(row["selected_loss"], rel=1e-5)
    assert 0.5 <= row["chance_accuracy"] <= 1 and row["chance_loss"] == pytest.approx(np.log(2), abs=0.05)


def test_no_val_split_reports_the_final_epoch_and_says_so(write_study):
    (trial, *_) = load_study(write_study(variants=["mean"], seeds=1)).trials()
    row = run_trial(trial).row
    assert row["selection"] == "final epoch (no val split)" and row["selected_epoch"] == row["final_epoch"]


def test_selection_knobs_stay_out_of_keys_at_their_defaults(write_study):
    plain = load_study(write_study(seeds=1))
    explicit = load_study(write_study(seeds=1, training={**TINY_TRAINING, "select": "val_accuracy"}))
    other = load_study(write_study(seeds=1, training={**TINY_TRAINING, "select": "val_loss"}))
    assert [t.key for t in plain.trials()] == [t.key for t in explicit.trials()]
    assert [t.key for t in plain.trials()] != [t.key for t in other.trials()]


def test_a_run_never_imports_the_compiler(write_study, tmp_path):
    """torch._dynamo costs ~1 s to import: planning (meta-device builds), stacked and one-at-a-time
    training, a learning-rate schedule and the measurements must not pull it in."""
    scheduled = {"name": "mean", "label": "cosine", "training": {"lr_schedule": "cosine", "warmup": 0.1}}
    path = write_study(variants=["mean", "attention", scheduled], training={**TINY_TRAINING, "epochs": 3})
    code = (
        "import sys\n"
        "from suite.cli import main\n"
        f"code = main(['run', {str(path)!r}, '--results', {str(tmp_path / 'r')!r}, '--no-progress'])\n"
        "print('exit', code, 'compiler imported:', 'torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "exit 0 compiler imported: False" in out.stdout, out.stdout + out.stderr
