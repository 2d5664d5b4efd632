"""Task types: per-position targets with an ignore index train through the same loop, evaluator
and metrics as one label per sequence, for one model and for seeds trained together."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from suite import models, objective
from suite.data.registry import Dataset, register_dataset
from suite.study import load_study
from suite.train import One, evaluate
from suite.train_run import plan, run_trial, run_unit


class CopyTokens(Dataset):
    """Copy each token at even positions; odd positions are not scored (IGNORE)."""

    def __init__(self, n: int, lm: bool):
        super().__init__(
            name="copy_tokens", vocab_size=6, seq_len=5, num_classes=6, splits=("train", "val", "test"),
            task="lm" if lm else "tokens",
        )  # fmt: skip
        self.n = n

    def load(self):
        g = torch.Generator().manual_seed(0)
        out = {}
        for name, rows in (("train", self.n), ("val", 20), ("test", 30)):
            x = torch.randint(0, 6, (rows, 5), generator=g)
            y = x.clone()
            y[:, 1::2] = objective.IGNORE
            out[name] = (x, y)
        return out


@register_dataset("copy_tokens")
def copy_tokens(n: int = 40, lm: bool = False) -> Dataset:
    return CopyTokens(n, lm)


def _study(write_study, **training):
    return load_study(
        write_study(
            variants=["mean", "attention"],
            datasets=[{"name": "copy_tokens"}],
            seeds=2,
            model={"dim": 8},
            training={"optimizer": "adam", "lr": 0.05, "epochs": 15, "history_every": 5, **training},
            measure={"throughput": False, "memory": False},
        )
    )


def test_per_position_targets_train_with_ignored_positions_left_out(write_study):
    study = _study(write_study)
    units = plan(study.trials())
    assert [len(u) for u in units] == [2, 2]  # seeds stacked, as for classification
    for unit in units:
        for trial, result in zip(unit, run_unit(unit), strict=True):
            row = result.row
            assert row["status"] == "ok", row["error"]
            assert row["train_group_size"] == 2
            assert row["final_train_accuracy"] > 0.9  # copying is learnable position by position
            alone = run_trial(trial)
            for a, b in zip(result.history, alone.history, strict=True):
                assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
                assert a["accuracy"] == pytest.approx(b["accuracy"], abs=1e-6)
            preds = result.predictions
            assert len(preds) == 30 * 3  # positions 0, 2, 4 of every test row
            assert {p["position"] for p in preds} == {0, 2, 4}
            assert np.mean([p["nll"] for p in preds]) == pytest.approx(row["selected_loss"], rel=1e-5)
            assert np.mean([p["correct"] for p in preds]) == pytest.approx(row["selected_accuracy"])
            assert 0 < row["chance_accuracy"] < 0.5  # from the scored targets only


def test_the_evaluator_counts_only_scored_targets():
    torch.manual_seed(0)
    data = CopyTokens(8, lm=False).load()
    cfg = models.resolve("attention", dim=4)
    model = models.build(cfg, vocab_size=6, seq_len=5, num_classes=6, task="tokens").eval()
    x, y = data["test"]
    logits = model(x)
    assert logits.shape == (30, 5, 6)
    values = evaluate(One(model, data), "test", batch_size=7)  # several batches
    manual = F.cross_entropy(logits.reshape(-1, 6), y.reshape(-1), ignore_index=objective.IGNORE)
    assert values["loss"].item() == pytest.approx(manual.item(), rel=1e-6)
    scored = y != objective.IGNORE
    accuracy = (logits.argmax(-1) == y)[scored].double().mean()
    assert values["accuracy"].item() == pytest.approx(accuracy.item())


def test_a_tied_head_shares_the_embedding_and_needs_a_per_position_task():
    cfg = models.resolve("attention", dim=6, tie_embeddings=True, causal=True)
    model = models.build(cfg, vocab_size=6, seq_len=5, num_classes=6, task="lm")
    assert model.head.weight is model.embedding.weight
    with pytest.raises(models.ConfigError, match="tie_embeddings needs a per-position head"):
        models.build(cfg, vocab_size=6, seq_len=5, num_classes=2)
    from suite.vectorized import unstackable

    assert "tied" in unstackable(model)


def test_a_metric_for_one_task_is_computed_only_there(write_study):
    """`tasks` limits a metric to datasets of those tasks (classification tables keep their
    columns); `of_mean` turns a split's mean into the reported value (perplexity = exp of the loss)."""
    from suite import metrics

    @metrics.quality_metric(
        "toy_perplexity",
        "perplexity",
        "exp(nats)",
        higher_is_better=False,
        tasks=("tokens",),
        of_mean=torch.exp,
    )
    def toy_perplexity(logits, targets, mask):
        return objective.member_loss(logits, targets, mask) * objective.counted(targets, mask)

    try:
        (trial, *_) = _study(write_study).trials()
        result = run_trial(trial)
        assert result.row["status"] == "ok", result.row["error"]
        for h in result.history:
            assert h["toy_perplexity"] == pytest.approx(np.exp(h["loss"]), rel=1e-5)
        assert result.row["best_test_toy_perplexity"] == min(
            h["toy_perplexity"] for h in result.history if h["split"] == "test"
        )
        classify = load_study(write_study("c", variants=["mean"], seeds=1)).trials()[0]
        assert "toy_perplexity" not in run_trial(classify).history[0]
    finally:
        metrics.unregister("toy_perplexity")
