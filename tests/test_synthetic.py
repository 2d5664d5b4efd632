import pytest
import torch

from suite import data
from suite.data.synthetic import copy_rule, order_rule, recall_rule, relative_rule


def _all(ds):
    splits = ds.load()
    assert list(splits) == list(ds.splits)
    return splits


def test_order_rule_reversal_flips_the_label_and_bags_carry_nothing():
    ds = data.create("order", V=6, T=10, n=400, seed=3)
    splits = _all(ds)
    assert [len(splits[s][0]) for s in ("train", "val", "test")] == [320, 40, 40]
    x, y = splits["train"]
    assert torch.equal(y, (x[:, 0] < x[:, -1]).long())
    half = len(x) // 2
    assert torch.equal(x[half:], x[:half].flip(1)) and torch.equal(y[half:], 1 - y[:half])
    assert (x[:, 0] != x[:, -1]).all()
    assert y.float().mean() == 0.5


def test_relative_position_rule_and_no_shortcut():
    ds = data.create("relative_position", V=9, T=12, n=2000, seed=1)
    x, y = _all(ds)["train"]
    for row, label in zip(x.tolist(), y.tolist(), strict=True):
        lefts = [i for i, t in enumerate(row) if t in (0, 1)]
        assert len(lefts) == 1 and row.count(2) == 1 and row.count(3) == 1
        p = lefts[0]
        other = row.index(5 - row[p + 1])  # the right token not after the left one
        assert abs(other - p) > 1
        assert label == int(row[p + 1] == row[p] + 2)
    assert torch.equal(relative_rule(x), y)
    # the left token alone tells nothing: both labels are about equally common for each
    for left in (0, 1):
        rate = y[(x == left).any(dim=1)].float().mean()
        assert 0.4 < rate < 0.6


def test_associative_recall_rule():
    ds = data.create("associative_recall", V=17, T=12, n=500, seed=2)
    assert ds.num_classes == 8
    x, y = _all(ds)["test"]
    for row, label in zip(x.tolist(), y.tolist(), strict=True):
        pairs = row[1:-1]  # T=12: one leading filler, 5 pairs, the query
        assert row[0] == 0
        keys, values = pairs[0::2], pairs[1::2]
        assert len(set(keys)) == len(keys) and all(1 <= k <= 8 for k in keys)
        assert label == values[keys.index(row[-1])] - 9
    assert torch.equal(recall_rule(x, 17), y)


def test_selective_copy_rule():
    ds = data.create("selective_copy", V=12, T=20, n=300, seed=0, content=3)
    x, y = _all(ds)["val"]
    for row, label in zip(x.tolist(), y.tolist(), strict=True):
        tokens = [t for t in row[:-1] if t != 0]
        assert len(tokens) == 3 and 1 <= row[-1] <= 3
        assert label == tokens[row[-1] - 1] - 4
    assert torch.equal(copy_rule(x, 3), y)


def test_eval_len_adds_a_longer_test_split_and_seed_decides():
    ds = data.create("order", T=8, n=100, eval_len=24)
    assert ds.splits == ("train", "val", "test_long", "test") and ds.seq_len == 24
    splits = ds.load()
    assert splits["test_long"][0].shape == (10, 24) and splits["test"][0].shape == (10, 8)
    assert torch.equal(order_rule(splits["test_long"][0]), splits["test_long"][1])
    again = data.create("order", T=8, n=100, eval_len=24).load()
    other = data.create("order", T=8, n=100, eval_len=24, seed=1).load()
    assert torch.equal(again["train"][0], splits["train"][0])
    assert not torch.equal(other["train"][0], splits["train"][0])


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("relative_position", {"V": 4}, "V ≥ 5"),
        ("associative_recall", {"V": 8, "T": 20}, "raise V"),
        ("selective_copy", {"T": 4}, "T ≥ content"),
        ("order", {"T": 8, "eval_len": 8}, "eval_len=8 must be longer"),
    ],
)
def test_bad_parameters_are_refused(name, params, match):
    with pytest.raises(ValueError, match=match):
        data.create(name, **params)
