import math

import pytest
import torch

from suite import lm_metrics as lm


def logits_for(probabilities: list[list[list[float]]]) -> torch.Tensor:
    return torch.tensor(probabilities).log()


def test_loss_bits_perplexity_accuracy_by_hand():
    # two positions; p(target) = 0.5 and 0.25; argmax right at the first only
    logits = logits_for([[[0.5, 0.3, 0.2], [0.5, 0.25, 0.25]]])
    targets = torch.tensor([[0, 1]])
    nats = -(math.log(0.5) + math.log(0.25)) / 2
    assert float(lm.token_loss(logits, targets)) == pytest.approx(nats)
    assert lm.bits_per_token(logits, targets) == pytest.approx(1.5)  # (1 + 2) / 2 bits
    assert lm.perplexity(logits, targets) == pytest.approx(math.exp(nats))
    assert lm.token_accuracy(logits, targets) == pytest.approx(0.5)


def test_ignored_targets_count_nowhere():
    logits = logits_for([[[0.5, 0.5], [0.9, 0.1], [0.1, 0.9]]])
    targets = torch.tensor([[lm.IGNORE, 0, lm.IGNORE]])
    totals = lm.token_totals(logits, targets)
    assert totals.count == 1 and totals.correct == 1
    assert totals.loss == pytest.approx(-math.log(0.9))
    assert float(lm.token_loss(logits, targets)) == pytest.approx(-math.log(0.9))
    changed = logits.clone()
    changed[0, 0] = torch.tensor([5.0, -5.0])  # an ignored position's logits change nothing
    assert lm.token_totals(changed, targets) == totals


def test_totals_add_up_over_batches_as_one_split():
    torch.manual_seed(0)
    logits = torch.randn(4, 6, 5)
    targets = torch.randint(5, (4, 6))
    targets[0, :5] = lm.IGNORE  # batches with different numbers of counted tokens
    whole = lm.token_totals(logits, targets)
    parts = lm.token_totals(logits[:1], targets[:1]) + lm.token_totals(logits[1:], targets[1:])
    assert parts.count == whole.count == 19
    assert parts.loss == pytest.approx(whole.loss) and parts.accuracy == pytest.approx(whole.accuracy)
    batch_means = (
        lm.token_totals(logits[:1], targets[:1]).loss + lm.token_totals(logits[1:], targets[1:]).loss
    ) / 2
    assert batch_means != pytest.approx(whole.loss)  # why the sums, not the batch means, are kept
    assert lm.ZERO + whole == whole


def test_uniform_prediction_is_log_v_nats():
    logits = torch.zeros(2, 3, 65)
    targets = torch.randint(65, (2, 3))
    assert lm.token_totals(logits, targets).loss == pytest.approx(math.log(65))
    assert lm.perplexity(logits, targets) == pytest.approx(65)


def test_nothing_counted_is_nan_not_an_error():
    totals = lm.token_totals(torch.zeros(1, 2, 3), torch.full((1, 2), lm.IGNORE))
    assert totals.count == 0 and math.isnan(totals.loss) and math.isnan(totals.accuracy)


def test_token_loss_is_differentiable_and_shapes_are_checked():
    logits = torch.randn(2, 3, 4, requires_grad=True)
    lm.token_loss(logits, torch.randint(4, (2, 3))).backward()
    assert logits.grad is not None
    with pytest.raises(ValueError, match=r"logits \(B, T, V\) and targets \(B, T\)"):
        lm.token_totals(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long))
