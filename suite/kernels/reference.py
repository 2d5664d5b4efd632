"""The textbook kernels: explicit softmax(QKᵀ/√d)·V and PyTorch's fused SDPA."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from suite.kernels import register_kernel


def combine_masks(mask: torch.Tensor | None, causal: bool, t_q: int, t_k: int, device) -> torch.Tensor | None:
    """One boolean mask (True = may attend) from a padding mask and causality."""
    if causal:
        tri = torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril(diagonal=t_k - t_q)
        mask = tri if mask is None else mask & tri
    return mask


@register_kernel("naive")
def naive(q, k, v, *, mask=None, causal=False):
    """softmax(QKᵀ/√d)·V with torch.bmm over batch·heads, as in the book exercise."""
    b, h, t_q, d = q.shape
    t_k = k.shape[2]
    scores = torch.bmm(q.reshape(b * h, t_q, d), k.reshape(b * h, t_k, d).transpose(1, 2))
    scores = scores.view(b, h, t_q, t_k) / math.sqrt(d)  # (B, H, Tq, Tk)
    mask = combine_masks(mask, causal, t_q, t_k, q.device)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
        # A fully masked row would be softmax of all -inf = NaN; give it zeros instead.
        any_key = mask.any(dim=-1, keepdim=True)
        scores = scores.masked_fill(~any_key, 0.0)
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~any_key, 0.0)
    out = torch.bmm(weights.reshape(b * h, t_q, t_k), v.reshape(b * h, t_k, v.shape[-1]))
    return out.view(b, h, t_q, v.shape[-1])


@register_kernel("sdpa")
def sdpa(q, k, v, *, mask=None, causal=False):
    """torch.nn.functional.scaled_dot_product_attention with its default dispatch."""
    t_q, t_k = q.shape[2], k.shape[2]
    if mask is None and (not causal or t_q == t_k):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    mask = combine_masks(mask, causal, t_q, t_k, q.device)
    any_key = mask.any(dim=-1, keepdim=True)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask | ~any_key)
    return out.masked_fill(~any_key, 0.0)
