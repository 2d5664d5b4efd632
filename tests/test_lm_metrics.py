"""The per-token metrics of language models and recall, as the metric registry computes them
(suite.metrics: loss, accuracy, bits, perplexity over (logits (G, B, T, V), targets (G, B, T)))."""

import math

import pytest
import torch

from suite import metrics, objective
from suite.data.sequence import IGNORE
from suite.lm_eval import evaluate
from suite.train import Batch, batch_values, means


def values(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """Each registered metric over one batch of one member, as the evaluator reads it."""
    logits, targets = logits.unsqueeze(0), targets.unsqueeze(0)
    batch = Batch(logits, targets, objective.scored(targets))
    return {
        k: float(v[0])
        for k, v in means(batch_values(logits, batch, "lm"), objective.counted(targets, batch.mask)).items()
    }


def logits_for(probabilities) -> torch.Tensor:
    return torch.tensor(probabilities).log()


def test_ignore_is_the_objectives():
    assert IGNORE == objective.IGNORE


def test_loss_bits_perplexity_accuracy_by_hand():
    # two positions; p(target) = 0.5 and 0.25; argmax right at the first only
    out = values(logits_for([[[0.5, 0.3, 0.2], [0.5, 0.25, 0.25]]]), torch.tensor([[0, 1]]))
    nats = -(math.log(0.5) + math.log(0.25)) / 2
    assert out["loss"] == pytest.approx(nats)
    assert out["bits"] == pytest.approx(1.5)  # (1 + 2) / 2 bits
    assert out["perplexity"] == pytest.approx(math.exp(nats))
    assert out["accuracy"] == pytest.approx(0.5)


def test_bits_and_perplexity_are_per_position_only():
    names = {m.name for m in metrics.computed("classify")}
    assert {"loss", "accuracy"} <= names and not {"bits", "perplexity"} & names
    assert metrics.get("perplexity").bounds == (1.0, math.inf)
    assert not metrics.get("bits").higher_is_better


def test_ignored_targets_count_nowhere():
    logits = logits_for([[[0.5, 0.5], [0.9, 0.1], [0.1, 0.9]]])
    targets = torch.tensor([[IGNORE, 0, IGNORE]])
    out = values(logits, targets)
    assert out["accuracy"] == 1.0 and out["loss"] == pytest.approx(-math.log(0.9))
    changed = logits.clone()
    changed[0, 0] = torch.tensor([5.0, -5.0])  # an ignored position's logits change nothing
    assert values(changed, targets) == out


def test_a_split_is_the_token_mean_not_the_mean_of_batch_means():
    torch.manual_seed(0)
    logits = torch.randn(4, 6, 5)
    targets = torch.randint(5, (4, 6))
    targets[0, :5] = IGNORE  # batches with different numbers of counted tokens

    class Fixed(torch.nn.Module):  # returns the stored logits of the rows it is given
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, rows):
            return logits[rows[:, 0]] + self.w

    rows = torch.arange(4).unsqueeze(1).expand(4, 6)
    split = evaluate(Fixed(), rows, targets, batch_size=1)
    whole = values(logits, targets)
    assert split["tokens"] == 19
    assert split["loss"] == pytest.approx(whole["loss"]) and split["perplexity"] == pytest.approx(
        whole["perplexity"]
    )
    batch_means = sum(values(logits[i : i + 1], targets[i : i + 1])["loss"] for i in range(4)) / 4
    assert batch_means != pytest.approx(whole["loss"])  # why the sums, not the batch means, are kept


def test_uniform_prediction_is_log_v_nats():
    out = values(torch.zeros(2, 3, 65), torch.randint(65, (2, 3)))
    assert out["loss"] == pytest.approx(math.log(65)) and out["perplexity"] == pytest.approx(65)


def test_nothing_counted_is_nan_not_an_error():
    class Zeros(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, rows):
            return torch.zeros(*rows.shape, 3) + self.w

    out = evaluate(Zeros(), torch.zeros(1, 2, dtype=torch.long), torch.full((1, 2), IGNORE))
    assert out["tokens"] == 0 and math.isnan(out["loss"]) and math.isnan(out["accuracy"])
