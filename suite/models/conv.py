"""A Conv1d stack over time (the lecture's Conv1d text model)."""

from __future__ import annotations

import torch
from torch import nn

from suite.models import register_variant
from suite.models.config import ModelConfig


class ConvEncoder(nn.Module):
    """`depth` × (Conv1d → ReLU), with max-pooling over time between layers."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(cfg.dim if i == 0 else cfg.width, cfg.width, cfg.kernel_size, padding="same")
            for i in range(cfg.depth)
        )
        self.pool = nn.MaxPool1d(cfg.pool_size)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, keep):
        h = x.transpose(1, 2)  # (B, D, T): Conv1d wants channels first
        if keep is not None:
            h = h * keep.unsqueeze(1).to(h.dtype)
        for i, conv in enumerate(self.convs):
            if i > 0:
                h = self.pool(h)
                if keep is not None:  # a pooled window is kept if any of it was
                    keep = self.pool(keep.unsqueeze(1).to(h.dtype)).squeeze(1) > 0
            h = self.dropout(torch.relu(conv(h)))
        return h.transpose(1, 2), keep  # (B, T', C)


@register_variant("conv1d")
def conv1d(**overrides) -> ModelConfig:
    """Conv1d stack (kernel size, channels = hidden, max-pool between layers) → global average."""
    return ModelConfig(encoder="conv1d", depth=2, pooling="mean").replace(**overrides)
