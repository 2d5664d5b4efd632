"""The training objective, decided once: two classes are one logit per row trained with
binary cross-entropy (as the course's Keras models), more classes are C logits with
cross-entropy. Models size their head with `logits_for`; training, evaluation and the
per-example predictions read logits only through the functions here.

Training and evaluation see every model as members side by side (suite.train's adapters): logits
(G, B, ...) and targets (G, B, ...) with a leading member axis (G = 1 for one model), and a mask
(1 = counted) or None where every target counts. One logit per target (logits shaped as the
targets) is the binary case; a target of IGNORE (per-position tasks) never counts.
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


IGNORE = -100  # a per-position target that is not scored (torch's cross-entropy ignore_index)


def scored(targets: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor | None:
    """The mask of targets that count (float, 1 = counted) for targets (G, B, ...): None where every
    one does (one label per sequence and no `rows` mask). Per-position targets (G, B, T) count where
    they are not IGNORE; `rows` (G, B) weighs whole rows (a stack's padding copies: 0)."""
    if targets.dim() <= 2:
        return rows
    mask = (targets != IGNORE).to(torch.float32)
    if rows is not None:
        mask = mask * rows.reshape(*rows.shape, *[1] * (targets.dim() - 2)).to(mask.dtype)
    return mask


def member_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Each member's mean loss (G,) over its counted targets: the value training minimises and the
    evaluator averages. `logits` are (G, B, ...) or, as a model returns them for members stacked
    along the batch, (G·B, ...). One model without a mask takes torch's fused mean (`loss`), members
    side by side the per-target losses' mean, each member over its own rows; the two agree to ~1e-7."""
    g, n = targets.shape[0], targets.numel()
    if g == 1 and mask is None:
        return loss(_flat(logits, n), targets.reshape(n), label_smoothing=label_smoothing).unsqueeze(0)
    per = loss(_flat(logits, n), targets.reshape(n), reduction="none", label_smoothing=label_smoothing)
    per = per.view(g, -1)
    if mask is None:
        return per.mean(dim=1)
    mask = mask.reshape(g, -1).to(per.dtype)
    return (per * mask).sum(dim=1) / mask.sum(dim=1)


def _flat(logits: torch.Tensor, n: int) -> torch.Tensor:
    """Logits for n targets as `loss` takes them: (n,) for one logit per target, else (n, C);
    the tensor itself where it has that shape already (no view to record for autograd)."""
    shape = (n,) if logits.numel() == n else (n, logits.numel() // n)
    return logits if logits.shape == shape else logits.reshape(shape)


def member_correct(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Each member's number of correctly predicted counted targets (G,), int64."""
    if logits.shape == targets.shape:
        hit = (logits > 0).long() == targets
    else:
        hit = logits.argmax(dim=-1) == targets
    if mask is not None:
        hit = hit & (mask > 0)
    return hit.reshape(targets.shape[0], -1).sum(dim=1)


def counted(targets: torch.Tensor, mask: torch.Tensor | None = None):
    """How many targets each member counts in a batch: an int where all count, else (G,)."""
    if mask is None:
        return targets[0].numel()
    return mask.reshape(targets.shape[0], -1).sum(dim=1)


def predicted(logits: torch.Tensor) -> torch.Tensor:
    """The predicted class of each row."""
    return (logits > 0).long() if binary(logits) else logits.argmax(dim=-1)


def predictions(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each target's predicted class, the probability given to its true class, and its loss in nats,
    flat over rows (and positions, for per-position targets, whose IGNORE entries the caller drops
    first). With C logits the class is read off the probabilities (a tie in float32 goes to the
    first class). The loss comes from the logits (log-softmax, log-sigmoid), not from the
    probability: a true class whose probability underflows float32 to 0 still has its finite loss."""
    logits, y = _flat(logits, y.numel()), y.reshape(-1)
    nll = loss(logits, y, reduction="none")
    if binary(logits):
        p1 = torch.sigmoid(logits)
        return (logits > 0).long(), torch.where(y == 1, p1, 1 - p1), nll
    probs = torch.softmax(logits, dim=-1)
    return probs.argmax(dim=-1), probs.gather(1, y.view(-1, 1)).squeeze(1), nll
