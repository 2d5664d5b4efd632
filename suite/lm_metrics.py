"""Per-token metrics of language models and recall: pure functions of (logits (B, T, V), targets (B, T)).

A target equal to `ignore_index` (−100, torch's cross-entropy default) is not counted by any of
them: MQAR asks only at its query positions, and padding asks nothing. Each metric exists in two
forms: `token_totals` gives sums and the count of counted tokens, which add up across batches
(a per-token mean over a split is Σ loss / Σ tokens, not the mean of batch means when batches
hold different numbers of counted tokens), and the scalar functions give one batch's value.

    loss (nats/token)  L = −(1/N) Σ log p(target)         over the N counted positions
    bits per token     L / ln 2                            (bits per character at character level)
    perplexity         exp(L)
    accuracy           (1/N) Σ [argmax logits = target]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from suite.lazy import lazy_import

if TYPE_CHECKING:
    import torch

F = lazy_import("torch.nn.functional")  # on first use: a metric registry may import this module torch-free

IGNORE = -100


@dataclass(frozen=True)
class TokenTotals:
    """Sums over counted tokens; add them over batches, then read the means."""

    loss_sum: float  # Σ −log p(target), nats
    correct: int  # Σ [argmax = target]
    count: int  # counted (non-ignored) targets

    def __add__(self, other: TokenTotals) -> TokenTotals:
        return TokenTotals(
            self.loss_sum + other.loss_sum, self.correct + other.correct, self.count + other.count
        )

    @property
    def loss(self) -> float:
        return self.loss_sum / self.count if self.count else math.nan

    @property
    def bits(self) -> float:
        return self.loss / math.log(2)

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss) if self.count else math.nan

    @property
    def accuracy(self) -> float:
        return self.correct / self.count if self.count else math.nan

    def as_dict(self) -> dict[str, float]:
        return {
            "loss": self.loss,
            "bits": self.bits,
            "perplexity": self.perplexity,
            "accuracy": self.accuracy,
            "tokens": self.count,
        }


ZERO = TokenTotals(0.0, 0, 0)


def _check(logits: torch.Tensor, targets: torch.Tensor) -> None:
    if logits.dim() != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(
            f"per-token metrics take logits (B, T, V) and targets (B, T); got {tuple(logits.shape)} "
            f"and {tuple(targets.shape)}"
        )


def token_totals(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = IGNORE) -> TokenTotals:
    """Summed loss, correct predictions and the number of counted targets of one batch."""
    _check(logits, targets)
    logits = logits.detach()
    counted = targets != ignore_index
    loss = F.cross_entropy(
        logits.flatten(0, 1).float(), targets.flatten(), ignore_index=ignore_index, reduction="sum"
    )
    correct = ((logits.argmax(dim=-1) == targets) & counted).sum()
    return TokenTotals(float(loss), int(correct), int(counted.sum()))


def token_loss(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = IGNORE) -> torch.Tensor:
    """Mean negative log-likelihood per counted token, in nats (differentiable: the training loss)."""
    _check(logits, targets)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=ignore_index)


def bits_per_token(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = IGNORE) -> float:
    """Mean loss in bits per counted token (bits per character when a token is a character)."""
    return token_totals(logits, targets, ignore_index).bits


def perplexity(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = IGNORE) -> float:
    """exp(mean loss in nats): the number of equally likely choices the model is as unsure as."""
    return token_totals(logits, targets, ignore_index).perplexity


def token_accuracy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = IGNORE) -> float:
    """Share of counted targets that are the most likely token (MQAR's accuracy)."""
    return token_totals(logits, targets, ignore_index).accuracy
