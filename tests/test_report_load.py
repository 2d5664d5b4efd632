import numpy as np
import pandas as pd
import pytest

from suite.report.load import example_matrix


def _predictions():
    """Two trials on three examples, rows shuffled; a third trial on two examples only."""
    rows = [
        ("a", 2, True, 0.9),
        ("b", 0, False, 0.2),
        ("a", 0, False, 0.4),
        ("c", 0, True, 0.6),
        ("b", 2, True, 0.7),
        ("a", 1, True, 0.8),
        ("c", 1, True, 0.6),
        ("b", 1, True, 0.5),
    ]
    return pd.DataFrame(rows, columns=["key", "index", "correct", "p_true"])


def test_example_matrix_rows_follow_the_keys_and_columns_the_example_index():
    predictions = _predictions()
    assert example_matrix(predictions, ["a", "b"], "accuracy").tolist() == [[0, 1, 1], [0, 1, 1]]
    assert example_matrix(predictions, ["b", "a"], "loss") == pytest.approx(
        -np.log([[0.2, 0.5, 0.7], [0.4, 0.8, 0.9]])
    )
    assert example_matrix(predictions, ["a", "c"], "accuracy") is None  # not the same examples
    assert example_matrix(predictions, ["a", "missing"], "accuracy") is None
    assert example_matrix(pd.DataFrame(), ["a"], "accuracy") is None


def test_a_new_frame_is_indexed_afresh():
    first = _predictions()
    assert example_matrix(first, ["a"], "accuracy").tolist() == [[0, 1, 1]]
    flipped = first.assign(correct=~first["correct"])
    assert example_matrix(flipped, ["a"], "accuracy").tolist() == [[1, 0, 0]]
    assert example_matrix(first, ["a"], "accuracy").tolist() == [[0, 1, 1]]


def test_an_errors_last_line_is_its_message_and_nothing_without_one():
    from suite.report.load import last_line

    assert (
        last_line("Traceback (most recent call last):\n  File x\nValueError: bad T\n") == "ValueError: bad T"
    )
    assert last_line("  \n ") == "" and last_line(None) == "" and last_line(float("nan")) == ""


def test_the_stored_nll_is_the_loss_and_an_underflowed_probability_is_never_clipped_into_one():
    """A model sure of the wrong class: p(true) = e^-200 underflows float32 to 0. Its loss is
    200 nats; −log of a clip at 1e-30 would say 69, and of the stored 0 infinity."""
    from suite.report.load import approximated

    rows = pd.DataFrame(
        {
            "key": ["a", "a", "b", "b"],
            "index": [0, 1, 0, 1],
            "correct": [False, True, True, True],
            "p_true": np.array([np.exp(-200.0), 0.5, 0.9, 0.8], dtype=np.float32),
        }
    )
    assert rows["p_true"].iloc[0] == 0  # float32 cannot hold it
    exact = rows.assign(nll=[200.0, np.log(2), -np.log(0.9), -np.log(0.8)])
    assert example_matrix(exact, ["a"], "loss") == pytest.approx(np.array([[200.0, np.log(2)]]))
    assert approximated(exact) == ([], [])
    # without the column: no matrix for the trial whose probability underflowed (the report then
    # takes its measured loss over seeds), the others rebuilt from p(true), and both named
    assert example_matrix(rows, ["a", "b"], "loss") is None
    assert example_matrix(rows, ["b"], "loss") == pytest.approx(-np.log([[0.9, 0.8]]), rel=1e-6)
    assert approximated(rows) == (["a", "b"], ["a"])


def test_streaming_trials_are_read_in_steps_and_epoch_trials_are_left_alone():
    """A fresh-batch-per-step trial counts steps: older rows (epoch = step / steps per epoch, found
    streaming by the study's meta) and newer ones (`selected_step`, null epochs) read the same; a
    classification trial keeps its epochs."""
    import json

    from suite.report.load import in_steps, point_unit

    stream = {"name": "mqar", "params": {"fresh": True}, "note": "", "streaming": True}
    meta = {"dataset_entries": [stream, {"name": "order", "params": {}, "note": ""}]}
    config = {d: json.dumps({"dataset_params": p}) for d, p in (("mqar", {"fresh": True}), ("order", {}))}
    runs = pd.DataFrame(
        {
            "key": ["old", "new", "cls"],
            "dataset": ["mqar", "mqar", "order"],
            "config": [config["mqar"], config["mqar"], config["order"]],
            "steps": [1000, 1000, 40],
            "selected_epoch": [62.5, None, 3.0],
            "final_epoch": [125.0, None, 4.0],
            "selected_step": [None, 750, None],
        }
    )
    history = pd.DataFrame(
        {"key": ["old", "new", "cls"], "step": [500, 750, 30], "epoch": [62.5, None, 3.0], "split": "test"}
    )
    out, hist = in_steps(runs, history, meta)
    assert out["point_unit"].tolist() == ["step", "step", "epoch"]
    assert out["selected_epoch"].tolist() == [500.0, 750.0, 3.0]
    assert out["final_epoch"].tolist() == [1000.0, 1000.0, 4.0]
    assert hist["epoch"].tolist() == [500.0, 750.0, 3.0]
    assert point_unit(out.iloc[:2]) == "step" and point_unit(out.iloc[2:]) == "epoch"
    unmarked, _ = in_steps(runs.iloc[[0, 2]], history, {})  # old rows and no meta mark: epochs, as before
    assert unmarked["point_unit"].tolist() == ["epoch", "epoch"]
