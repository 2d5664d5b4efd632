"""Evaluating a next-token model on whole splits, and at contexts longer than it was trained on.

`evaluate` runs a model over (x, y) in batches and sums `lm_metrics.TokenTotals`, so a split's loss
is the mean over its counted tokens. `length_extrapolation` is the test users run on positional
encodings: the same text cut into windows of 1×, 2× and 4× the training context. A longer window
gives later positions more to read, but also asks the model about positions it never saw; the
table keeps both effects apart with a second loss over only the positions past the training
context (`loss_beyond`). A model that cannot read a length (learned positions) gets a row saying
why, not an error, so one table holds every variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from suite.lazy import lazy_import
from suite.lm_metrics import IGNORE, ZERO, TokenTotals, token_totals

if TYPE_CHECKING:
    from torch import nn

torch = lazy_import("torch")  # imported on first use, as pandas: importing this module stays cheap
pd = lazy_import("pandas")

FACTORS = (1, 2, 4)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64) -> TokenTotals:
    """Totals of `model` over rows (x (N, T), y (N, T)), in eval mode and without gradients; the
    model is put back in the mode it was in. Rows are moved to the model's device batch by batch."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals = ZERO
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                xb, yb = (t[start : start + batch_size].to(device) for t in (x, y))
                totals = totals + token_totals(model(xb), yb)
    finally:
        model.train(was_training)
    return totals


def beyond(y: torch.Tensor, context: int) -> torch.Tensor:
    """y with the targets at positions < context ignored: only what lies past the training context."""
    out = y.clone()
    out[:, :context] = IGNORE
    return out


def length_extrapolation(
    model: nn.Module,
    dataset,
    *,
    split: str = "val",
    context: int | None = None,
    factors: Sequence[int] = FACTORS,
    batch_size: int = 64,
    limit: int | None = None,
) -> pd.DataFrame:
    """One row per factor: the model's loss on `split` cut into windows of factor × context.

    `dataset` has `windows(split, length, limit) -> (x, y)` (tinyshakespeare, mqar); `context` is the
    training context (default the dataset's seq_len); `limit` caps the windows per length (evenly
    spaced). Columns: factor, context, windows, tokens, loss, bits, perplexity, accuracy,
    loss_beyond (positions ≥ the training context; NaN at 1×), note (why a length could not be read).
    """
    context = context or dataset.seq_len
    rows = []
    for factor in factors:
        length = factor * context
        x, y = dataset.windows(split, length, limit)
        row = {"factor": factor, "context": length, "windows": len(x)}
        try:
            totals = evaluate(model, x, y, max(1, batch_size // factor))
        except ValueError as err:  # a model that cannot read this length says so in one line
            rows.append({**row, "tokens": 0, "note": str(err)})
            continue
        past = evaluate(model, x, beyond(y, context), max(1, batch_size // factor)) if factor > 1 else None
        rows.append(
            {
                **row,
                "tokens": totals.count,
                "loss": totals.loss,
                "bits": totals.bits,
                "perplexity": totals.perplexity,
                "accuracy": totals.accuracy,
                "loss_beyond": past.loss if past else float("nan"),
                "note": "",
            }
        )
    columns = [
        "factor",
        "context",
        "windows",
        "tokens",
        "loss",
        "bits",
        "perplexity",
        "accuracy",
        "loss_beyond",
        "note",
    ]
    return pd.DataFrame(rows).reindex(columns=columns)
