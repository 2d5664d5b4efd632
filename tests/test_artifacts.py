import numpy as np
import pandas as pd
import torch

from suite import models
from suite.artifacts import predictions, record
from suite.models.attention import SelfAttention
from suite.store import Store


def test_attention_weights_are_the_ones_forward_uses():
    torch.manual_seed(0)
    for rope in (False, True):
        layer = SelfAttention(8, heads=2, kernel="sdpa", rope=rope)
        x = torch.randn(3, 5, 8)
        keep = torch.ones(3, 5, dtype=torch.bool)
        keep[0, 3:] = False
        w = layer.attention_weights(x, keep)  # (B, H, T, T)
        assert w.shape == (3, 2, 5, 5)
        torch.testing.assert_close(w.sum(-1), torch.ones(3, 2, 5))
        assert (w[0, :, :, 3:] == 0).all()
        _, _, v = layer.qkv(x).split(8, dim=-1)
        v = v.view(3, 5, 2, 4).transpose(1, 2)
        by_hand = layer.out((w @ v).transpose(1, 2).reshape(3, 5, 8))
        torch.testing.assert_close(by_hand, layer(x, keep), rtol=1e-5, atol=1e-5)


def test_record_positions_and_every_head_and_store_round_trip(tmp_path):
    model = models.create("attention", vocab_size=6, seq_len=7, heads=2, dim=4, depth=2)
    x = torch.randint(0, 6, (5, 7))
    rows = record(model, x, inputs=2)
    kinds = pd.DataFrame(rows)["kind"].value_counts().to_dict()
    assert kinds == {"learned_positions": 1, "attention": 2 * 2 * 2}  # layers × inputs × heads
    table = next(r for r in rows if r["kind"] == "learned_positions")
    assert (table["rows"], table["cols"]) == (7, 4)
    assert table["values"] == model.positional.table.weight.flatten().tolist()
    store = Store(tmp_path)
    store.write({"key": "k", "status": "ok"}, [], [{"key": "k", **r} for r in rows])
    back = store.artifacts()
    assert len(back) == len(rows) and list(back["tokens"].iloc[1]) == x[0].tolist()
    store.write({"key": "k", "status": "ok"}, [], [])  # a rerun without artifacts drops the stale ones
    assert store.artifacts().empty
    assert record(models.create("lstm", vocab_size=6, seq_len=7), x) == []


class _Confident(torch.nn.Module):
    """Logits fixed by the input's first token: a margin of 120 nats against the labelled class."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        return self.logits[x[:, 0]]


def test_predictions_keep_the_loss_where_the_true_class_probability_underflows(tmp_path):
    """exp(-120) underflows float32 to 0: -log(p_true) is infinite (or 69 nats clipped at 1e-30),
    while the stored nll is the model's own loss, ~120 nats."""
    x = torch.tensor([[0], [1], [2]])
    y = torch.tensor([0, 0, 1])
    multi = torch.tensor([[-60.0, 60.0, 0.0], [3.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    rows = predictions(_Confident(multi), x, y, batch_size=2)
    assert rows[0]["p_true"] == 0.0  # underflowed
    assert 119.0 < rows[0]["nll"] < 121.0 and rows[0]["nll"].dtype.name == "float64"
    expected = torch.nn.functional.cross_entropy(multi, y, reduction="none").double()
    assert [r["nll"] for r in rows] == expected.tolist()
    binary = torch.tensor([-120.0, 4.0, 2.0])  # one logit per row: binary cross-entropy
    rows = predictions(_Confident(binary), x, torch.tensor([1, 0, 1]), batch_size=8)
    assert rows[0]["p_true"] == 0.0 and 119.0 < rows[0]["nll"] < 121.0
    assert np.isfinite([r["nll"] for r in rows]).all()
    store = Store(tmp_path)
    store.write({"key": "k", "status": "ok"}, [], [], predictions=[{"key": "k", **r} for r in rows])
    back = store.predictions()
    assert back["nll"].dtype.name == "float64" and back["nll"].iloc[0] == rows[0]["nll"]
