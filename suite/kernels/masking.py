"""Masks shared by the kernels: one boolean mask from padding and causality, and
a softmax that gives fully masked rows zeros instead of NaN."""

from __future__ import annotations

from suite.lazy import lazy_import

torch = lazy_import("torch")  # imported on first use: registering kernels and checking studies need no torch


def combine_masks(mask: torch.Tensor | None, causal: bool, t_q: int, t_k: int, device) -> torch.Tensor | None:
    """One boolean mask (True = may attend) from a padding mask and causality."""
    if causal:
        tri = torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril(diagonal=t_k - t_q)
        mask = tri if mask is None else mask & tri
    return mask


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """softmax over the last axis where mask is True; rows with no True key are all zero."""
    if mask is None:
        return torch.softmax(scores, dim=-1)
    any_key = mask.any(dim=-1, keepdim=True)
    # A fully masked row would be the softmax of all -inf = NaN: let it see every key, then zero it.
    scores = scores.masked_fill(~(mask | ~any_key), float("-inf"))
    return torch.softmax(scores, dim=-1).masked_fill(~any_key, 0.0)
