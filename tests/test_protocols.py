"""Protocols: each dataset states how its results are obtained (corpus, evaluation, training rows,
input), an anchor states the published one, and the report compares the two only where they
match; `training.retrain` trains the reported model again on train + val at the val-chosen epoch."""

import json

import pandas as pd
import pytest

from suite import data
from suite.report.anchors import anchor_section, our_protocol
from suite.study import StudyError, load_study
from tests.test_mr import write_corpus

IMDB = {"corpus": "IMDB (Maas et al. 2011)", "evaluation": "the official 25,000 test reviews"}


def test_datasets_state_their_protocol():
    whole = data.create("imdb", max_len=2800).protocol
    assert whole["input"] == "whole reviews" and whole["corpus"] == IMDB["corpus"]
    assert whole["training"] == "20,000 of the 25,000 training reviews (the rest validates)"
    assert whole["retrained"] == "all 25,000 training reviews"
    assert data.create("imdb", max_len=200).protocol["input"] == "last 200 tokens"  # truncating: pre
    assert (
        data.create("imdb", max_len=2738).protocol["input"] == "last 2738 tokens"
    )  # one short of the longest
    mr = data.create("mr", folds=10).protocol
    assert (mr["corpus"], mr["evaluation"], mr["input"]) == ("MR v1.0", "10-fold CV", "whole snippets")
    assert data.create("mr", max_len=40).protocol["input"] == "first 40 tokens"  # truncating: post
    assert "not MR v1.0" in data.create("rotten_tomatoes").protocol["corpus"]


def test_an_anchor_names_known_facets_only(write_study):
    anchor = {"dataset": "reversal", "model": "m", "value": 0.8, "source": "s"}
    study = load_study(write_study(anchors=[anchor | {"protocol": {"corpus": "X", "input": "whole"}}]))
    assert study.spec.anchors[0].protocol == {"corpus": "X", "input": "whole"}
    with pytest.raises(
        StudyError, match=r"anchors\[0\]\.protocol: 'inputs' is not a protocol facet; did you mean 'input'"
    ):
        load_study(write_study(anchors=[anchor | {"protocol": {"inputs": "whole"}}]))


def rows(variant: str, accs, model: dict | None = None, training: dict | None = None) -> list[dict]:
    config = {"model": model or {}, "training": training or {}, "dataset_params": {"max_len": 2800}}
    return [
        {"dataset": "imdb", "dataset_name": "imdb", "variant": variant, "status": "ok", "final_accuracy": a,
         "error": None, "config": json.dumps(config), "key": f"{variant}{i}"}
        for i, a in enumerate(accs)
    ]  # fmt: skip


def test_the_report_compares_an_anchor_only_where_the_protocols_match():
    runs = pd.DataFrame(
        rows("ngram", [0.905, 0.91, 0.915], training={"retrain": True})
        + rows("bow", [0.88, 0.885, 0.89])
        + rows("conv", [0.88, 0.885, 0.89], model={"input_len": 400})
    )
    meta = {
        "dataset_entries": [
            {"name": "imdb", "params": {"max_len": 2800, "vocab_size": 20000},
             "protocol": data.create("imdb", max_len=2800).protocol}
        ]
    }  # fmt: skip
    trained_on_all = {**IMDB, "training": "all 25,000 training reviews"}
    anchors = [
        {"dataset": "imdb", "model": "NBSVM", "variant": "ngram", "value": 0.912, "source": "W&M",
         "protocol": {**trained_on_all, "input": "whole reviews"}},
        {"dataset": "imdb", "model": "MLP", "variant": "bow", "value": 0.885, "source": "Chollet",
         "protocol": {**trained_on_all, "input": "whole reviews"}},
        {"dataset": "imdb", "model": "CNN", "variant": "conv", "value": 0.89, "source": "Keras",
         "protocol": {**IMDB, "input": "last 400 tokens"}},
    ]  # fmt: skip
    ours = our_protocol(meta, runs[runs["variant"] == "ngram"])
    assert ours["training"] == "all 25,000 training reviews" and "retrained" not in ours
    assert our_protocol(meta, runs[runs["variant"] == "conv"])["input"] == "last 400 tokens"
    text = "\n".join(anchor_section(anchors, runs, None, meta))
    table = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert "inside our interval" in table["NBSVM"]  # retrained on all 25,000, whole reviews: matches
    assert (
        "not compared: the protocols differ in training (ours: 20,000 of the 25,000 training reviews "
        "(the rest validates); published: all 25,000 training reviews)" in table["MLP"]
    )
    assert "inside our interval" in table["CNN"]  # the anchor states no training rows: not compared on them
    assert "input: last 400 tokens" in table["CNN"]  # the published protocol, in words


def retrain_study(write_study, tmp_path, **training):
    corpus = str(write_corpus(tmp_path / "mr", n=30))
    return write_study(
        variants=["mean"],
        datasets=[
            {"name": "mr", "folds": 3, "fold": 0, "data_path": corpus, "vocab_size": 80, "max_len": 12}
        ],
        seeds=1,
        model={"dim": 4},
        training={"optimizer": "adam", "lr": 0.05, "epochs": 3, "batch_size": 8, "retrain": True, **training},
    )


def run_retrain(write_study, tmp_path, capsys, **training):
    """`ablate run` on `retrain_study`: its results folder and its one row."""
    from suite.cli import main

    path = retrain_study(write_study, tmp_path, **training)
    results = tmp_path / "results"
    assert (
        main(["run", "tiny", "--studies", str(path.parent), "--results", str(results), "--no-progress"]) == 0
    )
    capsys.readouterr()
    return results, pd.read_parquet(results / "tiny" / "runs.parquet").iloc[0]


def test_retrain_trains_again_on_train_and_val_at_the_chosen_epoch(write_study, tmp_path, capsys):
    results, row = run_retrain(write_study, tmp_path, capsys)
    assert row["status"] == "ok" and row["retrained_epochs"] == row["selected_epoch"]
    assert row["train_rows"] == 40 and row["eval_rows"] == 20  # the 40 rows of folds 1 and 2, val included
    assert row["selected_accuracy"] == row["selected_test_accuracy"]
    preds = pd.read_parquet(results / "tiny" / "predictions.parquet")
    assert len(preds) == 20  # the retrained model's predictions on the test fold


def test_retrain_needs_a_val_split_and_epochs_and_is_left_out_of_tuning(write_study, tmp_path):
    with pytest.raises(StudyError, match="retrain trains again for the val-chosen epochs"):
        load_study(retrain_study(write_study, tmp_path, select="final"))
    plain = write_study(training={"epochs": 2, "retrain": True}, datasets=["reversal"])
    with pytest.raises(StudyError, match="retrain trains again on train \\+ val .* no val split"):
        load_study(plain)
    path = retrain_study(write_study, tmp_path)
    text = path.read_text() + "tune: {grid: {lr: [0.01, 0.05]}, seeds: 1}\n"
    path.write_text(text)
    study = load_study(path)
    tuning = [t for g in study.tuning.groups for ts in g.tuning for t in ts]
    assert tuning and not any(t.training.get("retrain") for t in tuning)
    assert all(t.training["retrain"] for g in study.tuning.groups for t in g.finals)


@pytest.mark.parametrize("which, kept", [("held_out", {"val", "test"}), ("val", {"val"})])
def test_retrain_with_fewer_splits_in_history(write_study, tmp_path, capsys, which, kept):
    """`training.history_splits`: the row has no training-split columns (and with "val", the test
    split only at the selected point), and the retrained model's test metrics are the reported ones."""
    from suite.cli import main

    results, row = run_retrain(write_study, tmp_path, capsys, history_splits=which)
    assert row["status"] == "ok" and row["retrained_epochs"] == row["selected_epoch"]
    assert row["eval_split"] == "test" and row["selected_accuracy"] == row["selected_test_accuracy"]
    assert not any("_train_" in c for c in row.index if c.startswith(("selected_", "final_", "best_")))
    assert ("final_test_accuracy" in row) == ("final_accuracy" in row) == (which == "held_out")
    history = pd.read_parquet(results / "tiny" / "history.parquet")
    assert set(history["split"]) == kept
    assert main(["report", str(results / "tiny")]) == 0
    report = (results / "tiny" / "report.md").read_text()
    drawn = "the val split" if which == "val" else "the eval split"  # the curves of what was evaluated
    assert (
        f"Accuracy on {drawn} over training" in report
        and (results / "tiny/figures/accuracy_curves.png").exists()
    )
