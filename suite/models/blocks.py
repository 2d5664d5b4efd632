"""Small building blocks shared by the encoders."""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """Linear → ReLU → Linear with a skip, both layers initialised to the identity.

    The course's `ResidualBlock`: at initialisation it passes positive inputs
    through unchanged, so stacking it never starts a model off worse.
    """

    def __init__(self, dim: int, residual: bool = True, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, dim)
        self.fc2 = nn.Linear(dim, dim)
        self.residual = residual
        self.dropout = nn.Dropout(dropout)
        for fc in (self.fc1, self.fc2):
            nn.init.eye_(fc.weight)
            nn.init.zeros_(fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dropout(self.fc2(torch.relu(self.fc1(x))))
        return x + y if self.residual else y


def masked_mean(x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    """Mean over time of (B, T, D), counting only positions where keep is True."""
    if keep is None:
        return x.mean(dim=1)
    keep = keep.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    return (x * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)


def masked_max(x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    if keep is None:
        return x.amax(dim=1)
    return x.masked_fill(~keep.unsqueeze(-1), float("-inf")).amax(dim=1).clamp(min=-1e30)


class _RowsLookup(torch.autograd.Function):
    """F.embedding whose weight gradient is one `index_add_` of the output's gradient rows: the sum
    torch's dense embedding backward forms, in the same order (equal to the bit on one CPU thread),
    without its per-index kernel launches, which on the CPU cost more than the adds."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, tokens: torch.Tensor, padding_idx: int | None) -> torch.Tensor:
        ctx.save_for_backward(tokens)
        ctx.rows, ctx.padding_idx = weight.shape[0], padding_idx
        return torch.nn.functional.embedding(tokens, weight, padding_idx)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (tokens,) = ctx.saved_tensors
        width = grad.shape[-1]
        out = grad.new_zeros(ctx.rows, width).index_add_(0, tokens.reshape(-1), grad.reshape(-1, width))
        if ctx.padding_idx is not None:
            out[ctx.padding_idx] = 0  # the padding row gets no gradient, as nn.Embedding's
        return out, None, None


def embed(embedding: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """`embedding(tokens)`, through `_RowsLookup` where that is the same computation: a plain
    nn.Embedding on the CPU being trained (no max_norm, scale_grad_by_freq or sparse gradient).
    Elsewhere the module itself: on CUDA its backward is one kernel already, a stand-in (the
    stacked seeds' twin) has its own forward, and torch.func's transforms take no autograd.Function
    without a vmap rule."""
    if (
        type(embedding) is not nn.Embedding
        or embedding.weight.device.type != "cpu"
        or torch._C._functorch.is_functorch_wrapped_tensor(embedding.weight)  # torch.func: no Function
        or not (torch.is_grad_enabled() and embedding.weight.requires_grad)
        or embedding.max_norm is not None
        or embedding.scale_grad_by_freq
        or embedding.sparse
    ):
        return embedding(tokens)
    padding_idx = embedding.padding_idx
    return _RowsLookup.apply(embedding.weight, tokens, padding_idx)
