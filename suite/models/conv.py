"""A Conv1d stack over time (the lecture's Conv1d text model)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from suite.models.encoders import ConvConfig


class Widths(nn.Module):
    """Kim's (2014) layer: a Conv1d per filter width over the same input, outputs concatenated
    along the channels (every width keeps the length: padding "same")."""

    def __init__(self, dim: int, channels: int, widths: list[int], padding: str):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(dim, channels, k, padding=padding) for k in widths)

    def forward(self, h):
        return torch.cat([conv(h) for conv in self.convs], dim=1)


class ConvEncoder(nn.Module):
    """`depth` × (Conv1d → ReLU), with max-pooling over time between layers.

    `conv_padding="same"` keeps the length; "valid" (Keras' and the lecture's default) shrinks it
    by kernel_size − 1 per layer, and an output position is kept if any input in its window was.
    """

    def __init__(self, cfg: ConvConfig):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(cfg.dim if i == 0 else cfg.width, cfg.width, cfg.kernel_size, padding=cfg.conv_padding)
            for i in range(cfg.depth)
        )
        if cfg.kernel_sizes is not None:  # one layer of filters of several widths, side by side
            each = cfg.width // len(cfg.widths)
            self.convs = nn.ModuleList([Widths(cfg.dim, each, cfg.widths, cfg.conv_padding)])
        self.pool = nn.MaxPool1d(cfg.pool_size)
        self.dropout = nn.Dropout(cfg.dropout)
        self.valid = cfg.conv_padding == "valid"
        self.kernel_size = cfg.kernel_size

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
            if self.valid and keep is not None:  # (B, T - k + 1): a window is kept if any of it was
                keep = F.max_pool1d(keep.unsqueeze(1).to(h.dtype), self.kernel_size, stride=1).squeeze(1) > 0
        return h.transpose(1, 2), keep  # (B, T', C)
