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
