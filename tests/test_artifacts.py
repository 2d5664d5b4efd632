import pandas as pd
import torch

from suite import models
from suite.artifacts import record
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
