import math

import pytest
import torch

from suite.data.sequence import IGNORE
from suite.data.tinyshakespeare import tile
from suite.lm_eval import beyond, evaluate, length_extrapolation
from suite.models.decoder import DecoderLM

V, BLOCK = 7, 8


class Text:
    """The `windows` interface of a character dataset, over a fixed id sequence."""

    seq_len = BLOCK

    def __init__(self, n=400):
        self.ids = {"val": torch.arange(n) % V}

    def windows(self, split, length, limit=None):
        return tile(self.ids[split], length, limit)


def decoder(positional):
    torch.manual_seed(0)
    return DecoderLM(V, BLOCK, dim=16, depth=1, heads=2, positional=positional)


def test_evaluate_is_the_token_mean_over_batches_and_restores_the_mode():
    m = decoder("learned")
    x, y = Text().windows("val", BLOCK)
    y[0, :5] = IGNORE
    with torch.no_grad():
        logits = m.eval()(x)
    kept = y != IGNORE
    whole = torch.nn.functional.cross_entropy(logits[kept], y[kept])
    m.train()
    totals = evaluate(m, x, y, batch_size=7)
    assert m.training
    assert totals["tokens"] == y.numel() - 5
    assert totals["loss"] == pytest.approx(float(whole), rel=1e-5)


def test_beyond_ignores_the_trained_context():
    y = torch.arange(12).view(2, 6)
    out = beyond(y, 4)
    assert (out[:, :4] == IGNORE).all() and torch.equal(out[:, 4:], y[:, 4:])
    assert y[0, 0] == 0  # a copy


@pytest.mark.parametrize("positional", ["sinusoidal", "rotary", "alibi", "none"])
def test_a_table_at_one_two_and_four_times_the_context(positional):
    table = length_extrapolation(decoder(positional), Text(), limit=5)
    assert table["factor"].tolist() == [1, 2, 4]
    assert table["context"].tolist() == [8, 16, 32]
    assert table["windows"].tolist() == [5, 5, 5] and table["tokens"].tolist() == [40, 80, 160]
    assert table["loss"].notna().all() and (table["note"] == "").all()
    assert math.isnan(table["loss_beyond"][0]) and table["loss_beyond"][1:].notna().all()
    assert table["bits"].tolist() == pytest.approx((table["loss"] / math.log(2)).tolist())


def test_learned_positions_get_a_row_saying_why_not():
    table = length_extrapolation(decoder("learned"), Text())
    assert table["loss"].notna().tolist() == [True, False, False]
    assert "cannot read 16 tokens" in table["note"][1] and "cannot read 32 tokens" in table["note"][2]
