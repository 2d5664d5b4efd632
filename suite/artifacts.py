"""What a trained model looks like inside, recorded for the report's heatmaps.

With `measure.artifacts: true` the runner calls `record(model, x)` after training:
the learned position table (if the model has one) and, for each attention layer,
the softmax(QKᵀ/√d) weights of every head on the first few rows of the eval split.
Each matrix is one plain row (kind, layer, head, input, shape, tokens, values), so
results stay picklable between processes and the store writes them to parquet;
the report draws them without rebuilding a model or training again.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from suite import objective
from suite.models.attention import SelfAttention
from suite.models.positional import LearnedPositions

INPUTS = 3  # eval rows whose attention weights are recorded


def _matrix(kind: str, m: torch.Tensor, *, layer=0, head=0, input=-1, tokens=()) -> dict:  # noqa: A002
    m = m.detach().float().cpu()
    return {
        "kind": kind,
        "layer": layer,
        "head": head,
        "input": input,
        "rows": m.shape[0],
        "cols": m.shape[1],
        "tokens": [int(t) for t in tokens],
        "values": m.flatten().tolist(),
    }


@torch.no_grad()
def record(model: nn.Module, x: torch.Tensor, inputs: int = INPUTS) -> list[dict]:
    """Rows for the position tables and per-head attention weights of `model` on x[:inputs]."""
    rows = [
        _matrix("learned_positions", module.table.weight)
        for module in model.modules()
        if isinstance(module, LearnedPositions)
    ]
    layers = [m for m in model.modules() if isinstance(m, SelfAttention)]
    if not layers:
        return rows
    seen: dict[int, tuple] = {}
    hooks = [
        layer.register_forward_pre_hook(lambda _m, args, i=i: seen.__setitem__(i, args))
        for i, layer in enumerate(layers)
    ]
    was_training = model.training
    model.eval()
    xb = x[:inputs]
    try:
        model(xb)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    for i, layer in enumerate(layers):
        h, keep = (seen[i] + (None,))[:2]
        weights = layer.attention_weights(h, keep)  # (B, H, T, T)
        for b in range(weights.shape[0]):
            for head in range(weights.shape[1]):
                rows.append(_matrix("attention", weights[b, head], layer=i, head=head, input=b, tokens=xb[b]))
    return rows


@torch.no_grad()
def predictions(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> list[dict]:
    """Per-example rows on an eval split (index, label, predicted class, correct, probability of
    the true class, loss), in compact dtypes: the report's test-set resampling and paired
    comparisons on the same examples need each example, not the split's mean. `nll` is the
    example's cross-entropy as the model computed it from its logits (float64 of the float32
    value): -log(p_true) cannot recover it once p_true underflows to 0.
    Per-position targets (tasks `tokens`, `lm`) give one row per scored target: `index` is its
    flat position (example × T + position), and `example` and `position` say which."""
    was_training = model.training
    model.eval()
    preds, p_true, nlls = [], [], []
    scored = (y != objective.IGNORE).reshape(-1)
    try:
        for start in range(0, len(x), batch_size):
            logits = model(x[start : start + batch_size]).float()
            yb = y[start : start + batch_size]
            if yb.dim() > 1:  # per position: drop what is not scored before reading its class
                keep = (yb != objective.IGNORE).reshape(-1)
                logits, yb = logits.reshape(len(keep), -1)[keep].squeeze(-1), yb.reshape(-1)[keep]
            pred, prob, nll = objective.predictions(logits, yb)
            preds.append(pred)
            p_true.append(prob)
            nlls.append(nll)
    finally:
        model.train(was_training)
    pred = torch.cat(preds).cpu().numpy().astype(np.int16)
    label = y.reshape(-1)[scored].cpu().numpy().astype(np.int16)
    prob = torch.cat(p_true).cpu().numpy().astype(np.float32)
    nll = torch.cat(nlls).cpu().numpy().astype(np.float64)
    index = np.flatnonzero(scored.cpu().numpy()).astype(np.int32)
    rows = [
        {"index": i, "label": t, "pred": p, "correct": bool(p == t), "p_true": q, "nll": n}
        for i, t, p, q, n in zip(index, label, pred, prob, nll, strict=True)
    ]
    if y.dim() > 1:
        for row in rows:
            row["example"], row["position"] = divmod(int(row["index"]), y.shape[1])
    return rows
