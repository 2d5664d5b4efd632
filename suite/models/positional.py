"""Positional encodings: what tells an order-blind model where each token stands.

`learned` and `sinusoidal` are added to the token embeddings; `rope` rotates
queries and keys inside attention, so it lives beside the attention code.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LearnedPositions(nn.Module):
    """A trained embedding per position index (the course's `position_embedding`)."""

    def __init__(self, max_len: int, dim: int):
        super().__init__()
        self.table = nn.Embedding(max_len, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, D)
        return x + self.table(torch.arange(x.shape[1], device=x.device))


def sinusoidal_table(length: int, dim: int) -> torch.Tensor:
    """PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos(p / 10000^(2i/D))."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)  # (T, 1)
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim + dim % 2)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div)
    return table[:, :dim]  # (T, D)


class SinusoidalPositions(nn.Module):
    """Fixed sin/cos positions of "Attention is all you need"; any length works."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, D)
        return x + sinusoidal_table(x.shape[1], self.dim).to(x.device, x.dtype)


def rope_angles(length: int, head_dim: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotation angle p·θ_i, θ_i = 10000^(-2i/d), each (T, d/2)."""
    theta = 10000.0 ** (-torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim)
    angles = torch.arange(length, dtype=torch.float32, device=device).unsqueeze(1) * theta
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair (x_2i, x_2i+1) of x: (B, H, T, d) by its position's angle."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return rotated.flatten(-2)
