"""Exports are read back with each library's own reader."""

import json

import pytest

from suite.cli import main


@pytest.fixture
def results(write_study, tmp_path):
    path = write_study(variants=["mean"], seeds=2)
    folder = tmp_path / "results"
    assert main(["run", str(path), "--results", str(folder), "--no-progress"]) == 0
    return folder


def test_mlflow_file_store_holds_a_run_per_trial(results, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps its file store behind it
    pytest.importorskip("mlflow", reason="mlflow-skinny is not installed (the mlflow extra)")
    from mlflow.tracking import MlflowClient

    store = tmp_path / "mlruns"
    assert main(["export", "tiny", "--to", "mlflow", "--out", str(store), "--results", str(results)]) == 0
    client = MlflowClient(tracking_uri=store.resolve().as_uri())
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2
    run = next(r for r in runs if r.data.params["seed"] == "0")
    assert run.data.params["variant"] == "mean" and json.loads(run.data.params["model.dim"]) == 2
    assert json.loads(run.data.params["training.lr"]) == 0.01
    assert run.data.tags["status"] == "ok" and run.info.status == "FINISHED"
    curve = client.get_metric_history(run.info.run_id, "train/loss")
    assert [m.step for m in curve] == [0, 5, 10, 15, 20]  # epochs 20, history every 5
    assert run.data.metrics["final_loss"] == pytest.approx(curve[-1].value)
    assert "train_samples_per_s" in run.data.metrics


def test_tensorboard_event_files_hold_curves_and_finals(results, tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (the tensorboard extra)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logs = tmp_path / "tb"
    assert main(["export", "tiny", "--to", "tensorboard", "--out", str(logs), "--results", str(results)]) == 0
    folder = logs / "tiny" / "mean" / "reversal" / "seed1"
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    scalars = events.Tags()["scalars"]
    curve = events.Scalars("train/loss")
    assert [e.step for e in curve] == [0, 5, 10, 15, 20]
    assert events.Scalars("final/final_loss")[0].value == pytest.approx(curve[-1].value, rel=1e-6)
    assert "final/train_samples_per_s" in scalars
    assert "config" in "".join(events.Tags()["tensors"])


def test_export_without_results_or_library_is_one_line(tmp_path, capsys):
    assert main(["export", "nothing", "--to", "tensorboard", "--results", str(tmp_path)]) == 2
    assert "unknown study 'nothing'" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()  # a folder with no results in it
    assert main(["export", "empty", "--to", "tensorboard", "--results", str(tmp_path)]) == 2
    assert "no results to export" in capsys.readouterr().err


def test_tuning_trials_are_tagged_apart_from_the_studys(write_study, tmp_path, monkeypatch):
    """A tuned study's tuning trials only chose a configuration: exports say so (as the report
    leaves them out), rather than mixing them in with the study's own runs."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    pytest.importorskip("mlflow", reason="mlflow-skinny is not installed (the mlflow extra)")
    from mlflow.tracking import MlflowClient

    tune = {"grid": {"lr": [0.01, 0.03]}, "seeds": 1}
    path = write_study(variants=["mean"], datasets=["order"], seeds=1, tune=tune)
    folder = tmp_path / "results"
    assert main(["run", str(path), "--results", str(folder), "--no-progress"]) == 0
    store = tmp_path / "mlruns"
    assert main(["export", "tiny", "--to", "mlflow", "--out", str(store), "--results", str(folder)]) == 0
    client = MlflowClient(tracking_uri=store.resolve().as_uri())
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    roles = sorted((r.data.tags["role"], r.data.params["seed"]) for r in runs)
    assert roles == [("study", "0"), ("tuning", "10000"), ("tuning", "10000")]


def test_each_tuning_configuration_gets_its_own_tensorboard_folder(write_study, tmp_path):
    """Every configuration is tried at the same tuning seed: a folder per seed kept only the last."""
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (the tensorboard extra)")
    tune = {"grid": {"lr": [0.01, 0.03]}, "seeds": 1}
    path = write_study(variants=["mean"], datasets=["order"], seeds=1, tune=tune)
    folder, logs = tmp_path / "results", tmp_path / "tb"
    assert main(["run", str(path), "--results", str(folder), "--no-progress"]) == 0
    assert main(["export", "tiny", "--to", "tensorboard", "--out", str(logs), "--results", str(folder)]) == 0
    tuned = sorted(p.name for p in (logs / "tiny" / "tuning" / "mean" / "order").iterdir())
    assert len(tuned) == 2 and all(name.startswith("seed10000-") for name in tuned)
    assert [p.name for p in (logs / "tiny" / "mean" / "order").iterdir()] == ["seed0"]


def test_exporting_twice_replaces_each_trials_run(results, tmp_path, monkeypatch):
    """A trial's key names its run: a second export leaves one run per trial, not two."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    pytest.importorskip("mlflow", reason="mlflow-skinny is not installed (the mlflow extra)")
    from mlflow.tracking import MlflowClient

    store = tmp_path / "mlruns"
    for _ in range(2):
        assert main(["export", "tiny", "--to", "mlflow", "--out", str(store), "--results", str(results)]) == 0
    client = MlflowClient(tracking_uri=store.resolve().as_uri())
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert len(runs) == 2 and len({r.data.tags["trial_key"] for r in runs}) == 2
    curve = client.get_metric_history(runs[0].info.run_id, "train/loss")
    assert [m.step for m in curve] == [0, 5, 10, 15, 20]  # one curve, not two appended


def test_tensorboard_gives_trials_of_one_dataset_name_their_own_folders(write_study, tmp_path):
    """Two entries of one dataset (order at T=4 and T=6) share variant, name and seed: each keeps its curve."""
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (the tensorboard extra)")
    path = write_study(
        variants=["mean"], seeds=1, datasets=[{"name": "order", "V": 4, "T": t, "n": 40} for t in (4, 6)]
    )
    results = tmp_path / "results"
    assert main(["run", str(path), "--results", str(results), "--no-progress"]) == 0
    logs = tmp_path / "tb"
    files = []
    command = ["export", "tiny", "--to", "tensorboard", "--out", str(logs), "--results", str(results)]
    for _ in range(2):  # the second export replaces the first's event files
        assert main(command) == 0
        files.append(sorted(p.relative_to(logs).parent for p in logs.rglob("events.*")))
    assert files[0] == files[1]
    folders = sorted(p.name for p in (logs / "tiny" / "mean" / "order").iterdir())
    assert len(folders) == 2 and all(f.startswith("seed0-") for f in folders)
