"""The textbook kernels: softmax(QKᵀ/√d)·V written out with bmm or einsum, and
the float64 reference every kernel is checked against."""

from __future__ import annotations

import math

from suite.kernels import register_kernel
from suite.kernels.masking import combine_masks, masked_softmax
from suite.lazy import lazy_import

torch = lazy_import("torch")  # imported on first use: registering kernels and checking studies need no torch


def _scaled(scores: torch.Tensor, d: int, scale: float | None) -> torch.Tensor:
    """Scores times `scale`, 1/√d by default (scale=1.0 is the book exercise's unscaled attention)."""
    return scores / math.sqrt(d) if scale is None else scores * scale


def _dropped(weights: torch.Tensor, dropout_p: float) -> torch.Tensor:
    """Dropout on the attention weights (Neuromatch `DotProductAttention`); the caller passes
    dropout_p > 0 only while training."""
    return torch.nn.functional.dropout(weights, dropout_p) if dropout_p else weights


@register_kernel("naive")
def naive(q, k, v, *, mask=None, causal=False, scale=None, dropout_p=0.0):
    """softmax(QKᵀ/√d)·V with torch.bmm over batch·heads, as in the book exercise."""
    b, h, t_q, d = q.shape
    t_k = k.shape[2]
    scores = torch.bmm(q.reshape(b * h, t_q, d), k.reshape(b * h, t_k, d).transpose(1, 2))
    scores = _scaled(scores.view(b, h, t_q, t_k), d, scale)  # (B, H, Tq, Tk)
    weights = masked_softmax(scores, combine_masks(mask, causal, t_q, t_k, q.device))
    weights = _dropped(weights, dropout_p)
    out = torch.bmm(weights.reshape(b * h, t_q, t_k), v.reshape(b * h, t_k, v.shape[-1]))
    return out.view(b, h, t_q, v.shape[-1])


@register_kernel("folded_heads")
def folded_heads(q, k, v, *, mask=None, causal=False, scale=None, dropout_p=0.0):
    """Heads folded into the batch with transpose/contiguous/view, as the Neuromatch DotProductAttention."""
    b, h, t_q, d = q.shape
    t_k = k.shape[2]
    # The Neuromatch exercise receives (batch, T, heads, d), the layout a model's projection gives.
    queries, keys, values = (x.transpose(1, 2) for x in (q, k, v))  # (B, T, H, d), views
    queries = queries.transpose(1, 2).contiguous().view(b * h, t_q, d)
    keys = keys.transpose(1, 2).contiguous().view(b * h, t_k, d)
    values = values.transpose(1, 2).contiguous().view(b * h, t_k, v.shape[-1])
    score = _scaled(torch.bmm(queries, keys.transpose(1, 2)), d, scale)  # (B·H, Tq, Tk)
    mask = combine_masks(mask, causal, t_q, t_k, q.device)
    if mask is not None:
        mask = mask.expand(b, h, t_q, t_k).reshape(b * h, t_q, t_k)
    weights = _dropped(masked_softmax(score, mask), dropout_p)  # row-wise normalisation over keys
    return torch.bmm(weights, values).view(b, h, t_q, v.shape[-1])


@register_kernel("einsum")
def einsum(q, k, v, *, mask=None, causal=False, scale=None, dropout_p=0.0):
    """softmax(QKᵀ/√d)·V with torch.einsum on the (B, H, T, d) tensors as they are."""
    scores = _scaled(torch.einsum("bhqd,bhkd->bhqk", q, k), q.shape[-1], scale)
    weights = masked_softmax(scores, combine_masks(mask, causal, q.shape[2], k.shape[2], q.device))
    weights = _dropped(weights, dropout_p)
    return torch.einsum("bhqk,bhkd->bhqd", weights, v)


def float64_reference(q, k, v, *, mask=None, causal=False, scale=None):
    """The exact answer to check kernels against: float64, exp-normalise written out.

    Differentiable, so input gradients can be checked too; returns float64.
    """
    q, k, v = (x.double() for x in (q, k, v))
    scores = _scaled(q @ k.transpose(-2, -1), q.shape[-1], scale)
    mask = combine_masks(mask, causal, q.shape[2], k.shape[2], q.device)
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    mask = mask.expand_as(scores)
    shift = scores.masked_fill(~mask, float("-inf")).amax(dim=-1, keepdim=True)
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift)).detach()
    weights = torch.exp(scores.masked_fill(~mask, float("-inf")) - shift)  # masked keys: exp(-inf) = 0
    total = weights.sum(dim=-1, keepdim=True)
    weights = weights / torch.where(total > 0, total, torch.ones_like(total))
    return weights @ v
