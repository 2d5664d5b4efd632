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
