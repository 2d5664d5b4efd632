"""The training objective, decided once: two classes are one logit per row trained with
binary cross-entropy (as the course's Keras models), more classes are C logits with
cross-entropy. Models size their head with `logits_for`; training, evaluation and the
per-example predictions read logits only through the functions here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def logits_for(num_classes: int) -> int:
    """The width of a classifier's head: 1 for two classes, else one logit per class."""
    return 1 if num_classes == 2 else num_classes


def binary(logits: torch.Tensor) -> bool:
    """One logit per row: (N,) rather than (N, C)."""
    return logits.dim() == 1


def loss(
    logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean", label_smoothing: float = 0.0
) -> torch.Tensor:
    """Cross-entropy in nats (binary on one logit); `reduction` as torch's. Label smoothing ε aims
    at (1 − ε)·one-hot + ε/C, for one logit as for C logits (one logit: C = 2)."""
    if binary(logits):
        target = y.to(logits.dtype)
        if label_smoothing:
            target = target * (1 - label_smoothing) + label_smoothing / 2
        return F.binary_cross_entropy_with_logits(logits, target, reduction=reduction)
    return F.cross_entropy(logits, y, reduction=reduction, label_smoothing=label_smoothing)


def predicted(logits: torch.Tensor) -> torch.Tensor:
    """The predicted class of each row."""
    return (logits > 0).long() if binary(logits) else logits.argmax(dim=-1)


def predictions(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each row's predicted class, the probability given to its true class, and its loss in nats.
    With C logits the class is read off the probabilities (a tie in float32 goes to the first
    class). The loss comes from the logits (log-softmax, log-sigmoid), not from the probability:
    a true class whose probability underflows float32 to 0 still has its finite loss."""
    nll = loss(logits, y, reduction="none")
    if binary(logits):
        p1 = torch.sigmoid(logits)
        return (logits > 0).long(), torch.where(y == 1, p1, 1 - p1), nll
    probs = torch.softmax(logits, dim=-1)
    return probs.argmax(dim=-1), probs.gather(1, y.view(-1, 1)).squeeze(1), nll
