"""Evaluating a next-token model on whole splits, and at contexts longer than it was trained on.

`evaluate` runs a model over (x, y) in batches through the metric registry's per-position metrics
(suite.metrics), so a split's loss is the mean over its counted tokens. `length_extrapolation` is the test users run on positional
encodings: the same text cut into windows of 1×, 2× and 4× the training context. A longer window
gives later positions more to read, but also asks the model about positions it never saw; the
table keeps both effects apart with a second loss over only the positions past the training
context (`loss_beyond`). A model that cannot read a length (learned positions) gets a row saying
why, not an error, so one table holds every variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from suite.data.sequence import IGNORE
from suite.lazy import lazy_import

if TYPE_CHECKING:
    from torch import nn

objective = lazy_import("suite.objective")
torch = lazy_import("torch")  # imported on first use, as pandas: importing this module stays cheap
pd = lazy_import("pandas")

FACTORS = (1, 2, 4)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64) -> dict[str, float]:
    """Every per-position metric of the registry (suite.metrics: loss in nats, accuracy, bits,
    perplexity) of `model` over rows (x (N, T), y (N, T)) as token means over the split (Σ / Σ
    counted targets, not a mean of batch means), plus `tokens`, the targets counted; NaN where none
    is. In eval mode without gradients, the model put back in the mode it was in; rows are moved
    to the model's device batch by batch."""
    from suite.train import Batch, batch_values, means

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    count = 0
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                xb, yb = (t[start : start + batch_size].to(device) for t in (x, y))
                targets = yb.unsqueeze(0)  # one member
                batch = Batch(xb, targets, objective.scored(targets))
                part = batch_values(model(xb).unsqueeze(0), batch, "lm")  # every per-position metric
                sums = {k: sums[k] + v for k, v in part.items()} if sums else part
                count = count + objective.counted(targets, batch.mask)
    finally:
        model.train(was_training)
    tokens = int(count.sum()) if isinstance(count, torch.Tensor) else int(count)
    values = {k: float(v[0]) for k, v in means(sums, count).items()} if tokens else {}
    nan = float("nan")
    return {name: values.get(name, nan) for name in ("loss", "accuracy", "bits", "perplexity")} | {
        "tokens": tokens
    }


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
                **totals,
                "loss_beyond": past["loss"] if past else float("nan"),
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


def extrapolation_columns(
    model: nn.Module, dataset, split: str, factors: Sequence[int], rows: int | None, batch_size: int
) -> dict[str, float]:
    """A trial's row columns from `length_extrapolation`: `loss{f}x`, `accuracy{f}x` and, past 1×,
    `beyond{f}x` (the loss over only the positions past the training context), each as the eval
    split's stage column `selected_…` and as `selected_<split>_…` (suite.metrics registers them). The same number
    of tokens at every length: `rows` windows at 1×, rows / f at f× (all windows when rows is None).
    A length the model cannot read (learned positions) is NaN."""
    out: dict[str, float] = {}
    for factor in factors:
        limit = None if rows is None else max(1, rows // factor)
        table = length_extrapolation(
            model, dataset, split=split, factors=(factor,), batch_size=batch_size * factor, limit=limit
        )
        row = table.iloc[0]
        values = {f"loss{factor}x": row["loss"], f"accuracy{factor}x": row["accuracy"]}
        if factor > 1:
            values[f"beyond{factor}x"] = row["loss_beyond"]
        for name, value in values.items():
            value = float(value) if value == value else float("nan")
            out[f"selected_{name}"] = out[f"selected_{split}_{name}"] = value
    return out


def samples(
    model: nn.Module, dataset, temperatures: Sequence[float], tokens: int, prompt: str, seed: int
) -> dict[str, str]:
    """Temperature → `tokens` characters drawn after `prompt` (suite.models.generate), reproducible
    from the trial's seed; `dataset` encodes and decodes (tinyshakespeare)."""
    from suite.models.generate import generate

    device = next(model.parameters()).device
    out = {}
    for temperature in temperatures:
        idx = dataset.encode(prompt).unsqueeze(0).to(device)
        gen = torch.Generator(device=device).manual_seed(seed)
        drawn = generate(model, idx, tokens, temperature=temperature, generator=gen)
        out[f"{temperature:g}"] = dataset.decode(drawn[0, idx.shape[1] :].tolist())
    return out
