"""Trial identity: the rule that makes keys, and that committed results are still found by it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from suite import identity, kinds
from suite.kinds import load_study
from suite.store import Store
from suite.study import TrainingSpec

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted(
    p.parent.name
    for p in (ROOT / "results").glob("*/runs.parquet")
    if (ROOT / "studies" / f"{p.parent.name}.yaml").is_file()
)


@pytest.mark.parametrize("name", COMMITTED)
def test_every_committed_result_is_found_by_its_study(name):
    """Recompute every trial's key from the study as it expands today: each committed row of
    the study's last run (the keys its study.json lists; a folder may also keep rows of an
    earlier version of the study) is one of them, with the configuration stored beside it."""
    folder = ROOT / "results" / name
    runs = pd.read_parquet(folder / "runs.parquet", columns=["key", "config"])
    meta = json.loads((folder / "study.json").read_text())
    runs = runs[runs["key"].isin(meta["keys"])]
    assert len(runs), f"{name}: no committed row of its last run"
    study = load_study(ROOT / "studies" / f"{name}.yaml")
    kinds.pending(study, Store(folder))  # trials that stored results decide (tuning's chosen configurations)
    trials = study.trials()
    if meta.get("sequential"):  # a run until resolved: the study's trials at the seeds its design may add
        trials += [dataclasses.replace(t, seed=s) for t in trials for s in meta["sequential"]["seeds"]]
    by_key = {t.key: t for t in trials}
    lost = sorted(set(runs["key"]) - set(by_key))
    assert not lost, f"{name}: {len(lost)} committed trial(s) no longer found, e.g. {lost[0]}"
    for key, config in zip(runs["key"], runs["config"], strict=True):
        assert identity.key(json.loads(config)) == key
        assert by_key[key].config() == json.loads(config)


def test_a_knob_added_later_is_keyed_only_away_from_its_default():
    values = {"lr": 0.1, "label_smoothing": 0.0, "warmup": 5}
    defaults = {"lr": 1e-3, "label_smoothing": 0.0, "warmup": 0}
    assert identity.section(values, defaults, baseline=("lr",)) == {"lr": 0.1, "warmup": 5}
    # a baseline field stays at its default; 0 is not the default 0.0
    assert identity.section({"lr": 1e-3}, defaults, baseline=("lr",)) == {"lr": 1e-3}
    assert identity.section({"label_smoothing": 0}, defaults) == {"label_smoothing": 0}


def test_a_new_training_knob_does_not_change_keys(write_study, monkeypatch):
    """What a branch that adds a knob to TrainingSpec does: every key stays until it is set."""
    from dataclasses import replace

    from pydantic import create_model

    trial = load_study(write_study(variants=["mean"], seeds=1)).trials()[0]
    assert "ema_decay" not in TrainingSpec.model_fields  # a knob this branch does not have yet
    grown = create_model("Grown", __base__=TrainingSpec, ema_decay=(float, 0.0))
    monkeypatch.setattr("suite.study.TrainingSpec", grown)
    assert replace(trial, training={**trial.training, "ema_decay": 0.0}).key == trial.key
    assert replace(trial, training={**trial.training, "ema_decay": 0.9}).key != trial.key


def test_locations_are_keyed_as_null_and_data_by_its_content(tmp_path):
    locations = {"data_path": identity.Location("content"), "cache_dir": identity.Location("cache")}
    a, b = tmp_path / "a.csv", tmp_path / "elsewhere" / "b.csv"
    b.parent.mkdir()
    a.write_text("1,2\n")
    b.write_text("1,2\n")
    keyed_a = identity.section({"n": 1, "data_path": str(a), "cache_dir": "/x"}, {}, ["n"], locations)
    keyed_b = identity.section({"n": 1, "data_path": str(b), "cache_dir": "/y"}, {}, ["n"], locations)
    assert keyed_a == keyed_b and keyed_a["data_path"] is None and keyed_a["cache_dir"] is None
    b.write_text("1,3\n")
    changed = identity.section({"n": 1, "data_path": str(b), "cache_dir": None}, {}, ["n"], locations)
    assert changed["data_path_content"] != keyed_a["data_path_content"]
    unset = identity.section({"n": 1, "data_path": None, "cache_dir": None}, {}, ["n"], locations)
    assert unset == {"n": 1, "data_path": None, "cache_dir": None}  # as committed results have it


def test_a_datasets_locations_come_from_its_signature():
    from suite import data

    assert set(data.locations("imdb")) == {"data_path", "cache_dir"}
    assert data.locations("imdb")["data_path"].holds == "content"
    assert data.locations("relative_position") == {}
