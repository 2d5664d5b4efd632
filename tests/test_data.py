import pytest
import torch

from suite import data


def test_toy_datasets_are_the_course_rows():
    rev = data.create("reversal").load()["train"]
    assert rev[0].tolist() == [[0, 1, 2], [2, 1, 0], [1, 3, 4], [4, 3, 1]]
    assert rev[1].tolist() == [1, 0, 1, 0]
    rel = data.create("relative").load()["train"]
    assert rel[0].tolist() == [[0, 1, 2], [0, 3, 2], [4, 3, 2], [4, 1, 2]]
    comb = data.create("combined")
    x, y = comb.load()["train"]
    assert torch.equal(x, torch.cat([rel[0], rev[0]]))
    assert y.tolist() == [1, 0, 1, 0, 1, 0, 1, 0]
    assert (comb.vocab_size, comb.seq_len, comb.num_classes) == (5, 3, 2)
    assert "same rows" in comb.note


def test_unknown_dataset_and_parameter():
    with pytest.raises(KeyError, match="did you mean 'reversal'"):
        data.create("reversl")
    with pytest.raises(ValueError, match="has no parameter 'size'"):
        data.resolve_params("reversal", {"size": 3})
