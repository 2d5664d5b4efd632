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
