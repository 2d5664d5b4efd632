"""A language-model study through the one engine, as `lm_positional` runs it: a tinyshakespeare-format
file, a fresh batch of random windows every step, nanoGPT's optimizer knobs, the per-token metrics in
history and rows, length extrapolation and temperature samples in the row."""

import json
import math

import pytest

from suite.data.tinyshakespeare import tinyshakespeare

SPEECH = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\n"
    "All:\nResolved. resolved.\n\n"
)


def lm_study(write_study, path, **changes):
    spec = dict(
        variants=[{"name": "decoder_lm", "label": label, "positional": p} for label, p in (("learned", "learned"), ("rotary", "rope"))],
        datasets=[{"name": "tinyshakespeare", "block_size": 16, "data_path": str(path)}],
        seeds=1,
        model={"dim": 32, "depth": 1, "heads": 2},
        training={
            "optimizer": "adamw", "lr": 3e-3, "beta2": 0.99, "weight_decay": 0.1, "weight_decay_on": "matrices",
            "lr_schedule": "cosine", "warmup": 0.1, "min_lr": 3e-4, "grad_clip": 1.0,
            "steps": 100, "batch_size": 16, "history_every": 50, "eval_rows": 40, "select": "final",
        },
        measure={
            "throughput": False, "memory": False, "predictions": False, "context_factors": [1, 2],
            "sample_tokens": 20, "sample_temperatures": [0.5, 1.0], "sample_prompt": "All:\n",
        },
    )  # fmt: skip
    spec.update(changes)
    return write_study(**spec)


def test_a_decoder_study_learns_the_characters_through_the_engine(write_study, tmp_path):
    from suite.study import load_study
    from suite.train_run import plan, run_unit

    path = tmp_path / "input.txt"
    path.write_text(SPEECH * 20)
    vocab = tinyshakespeare(block_size=16, data_path=str(path)).vocab_size
    study = load_study(lm_study(write_study, path))
    units = plan(study.trials())
    assert all(len(u) == 1 for u in units)  # weight-decay groups and a tied head: one at a time
    results = [r for unit in units for r in run_unit(unit)]
    for result in results:
        row = result.row
        assert row["status"] == "ok", row["error"]
        start = [h for h in result.history if h["step"] == 0 and h["split"] == "val"][0]
        assert abs(start["loss"] - math.log(vocab)) < 0.3  # an untrained model is about uniform
        assert row["selected_val_loss"] < start["loss"] - 1.0  # learned the repeated text
        assert row["selected_val_bits"] == pytest.approx(row["selected_val_loss"] / math.log(2))
        assert row["selected_val_perplexity"] == pytest.approx(math.exp(row["selected_val_loss"]), rel=1e-5)
        assert row["steps"] == 100 and {h["step"] for h in result.history} == {0, 50, 100}
        # fresh batches every step: no epochs, the reported point is a step
        assert {h["epoch"] for h in result.history} == {None} and row["selected_epoch"] is None
        assert row["selected_step"] == 100 and row["selection"] == "final step (training.select: final)"
        assert row["task"] == "lm"
        assert row["selected_loss1x"] == pytest.approx(row["selected_val_loss"], rel=1e-4)  # the same windows
        samples = json.loads(row["samples"])
        assert set(samples) == {"0.5", "1"} and all(len(text) == 20 for text in samples.values())
    learned, rotary = (r.row for r in results)
    assert math.isnan(learned["selected_val_loss2x"])  # a table of 16 positions cannot read 32
    assert rotary["selected_val_loss2x"] > 0 and rotary["selected_val_beyond2x"] > 0
    again = run_unit(units[1])[0]  # a fresh batch per step, the same per seed
    assert again.row["selected_val_loss"] == rotary["selected_val_loss"]


def test_lm_variants_and_datasets_meet_only_their_own_tasks(write_study, tmp_path):
    from suite.spec import StudyError
    from suite.study import load_study

    path = tmp_path / "input.txt"
    path.write_text(SPEECH * 20)
    with pytest.raises(StudyError, match=r"encoder='bow' gives one label per sequence .* task 'lm'"):
        load_study(lm_study(write_study, path, variants=["bow_mlp"], model={}))
    with pytest.raises(StudyError, match=r"causal=true: it would read the answer"):
        load_study(lm_study(write_study, path, variants=["attention"], model={}))
    with pytest.raises(
        StudyError, match=r"encoder='decoder' gives a prediction at every position .* 'classify'"
    ):
        load_study(write_study(variants=["decoder_lm"], datasets=["reversal"], model={}))
    with pytest.raises(StudyError, match=r"fresh training batch every step, so training.steps"):
        load_study(lm_study(write_study, path, training={"batch_size": 4}))


def test_a_language_model_is_headlined_by_its_loss_and_recall_by_its_accuracy():
    import pandas as pd

    from suite.report.load import headline_accuracy

    rows = {"selected_loss": [1.9], "selected_accuracy": [0.4], "selected_bits": [2.7]}
    assert headline_accuracy(pd.DataFrame({**rows, "task": ["lm"]})) == "selected_loss"
    assert headline_accuracy(pd.DataFrame({**rows, "task": ["tokens"]})) == "selected_accuracy"
    assert headline_accuracy(pd.DataFrame(rows)) == "selected_loss"  # rows from before the task column
    assert (
        headline_accuracy(pd.DataFrame({"selected_loss": [0.6], "selected_accuracy": [0.7]}))
        == "selected_accuracy"
    )


def test_select_on_val_bits_reports_the_point_of_lowest_val_bits(write_study, tmp_path):
    from suite.study import load_study
    from suite.train_run import plan, run_unit

    path = tmp_path / "input.txt"
    path.write_text(SPEECH * 20)
    training = {
        "optimizer": "adam",
        "lr": 3e-3,
        "steps": 60,
        "batch_size": 8,
        "history_every": 20,
        "eval_rows": 20,
    }
    study = load_study(
        lm_study(write_study, path, variants=[{"name": "decoder_lm", "positional": "rope"}],
                 training={**training, "select": "val_bits"})
    )  # fmt: skip
    (result,) = run_unit(plan(study.trials())[0])
    val = {h["step"]: h["bits"] for h in result.history if h["split"] == "val"}
    assert result.row["selection"] == "best val bits"
    assert result.row["selected_step"] == min(val, key=val.get)
    assert result.row["selected_val_bits"] == min(val.values())
