"""A Conv1d stack over time (the lecture's Conv1d text model)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from suite.models import register_variant
from suite.models.config import ConfigError, ModelConfig, parse, register_encoder


class ConvConfig(ModelConfig):
    """`depth` Conv1d layers over time with max-pooling between them."""

    encoder: Literal["conv1d"] = "conv1d"
    channels: int | None = Field(None, alias="hidden", ge=1)  # output channels of each layer; None → dim
    kernel_size: int = Field(3, ge=1)  # positions each filter spans
    pool_size: int = Field(2, ge=1)  # max-pool window (and stride) between layers
    conv_padding: Literal["same", "valid"] = "same"  # "same" keeps the length, "valid" (Keras') shrinks it

    @property
    def width(self) -> int:
        return self.channels if self.channels is not None else self.dim

    def check(self, *, vocab_size: int, seq_len: int) -> None:
        super().check(vocab_size=vocab_size, seq_len=seq_len)
        remaining = self.length(seq_len)
        shrink = self.kernel_size - 1 if self.conv_padding == "valid" else 0
        for i in range(self.depth):
            if i > 0:
                remaining //= self.pool_size
            remaining -= shrink
        if remaining < 1:
            raise ConfigError(
                f"conv1d with depth={self.depth}, pool_size={self.pool_size} and "
                f"conv_padding={self.conv_padding!r} shrinks a length-{seq_len} sequence away; "
                f"lower depth, pool_size or kernel_size"
            )


@register_encoder("conv1d", config=ConvConfig, width=lambda cfg: cfg.width)
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


@register_variant("conv1d")
def conv1d(**overrides) -> ModelConfig:
    """A Conv1d text classifier: `depth` same-padded Conv1d → ReLU layers with max-pooling between them → global average → linear."""
    return parse({"encoder": "conv1d", "depth": 2, "pooling": "mean"}, **overrides)


@register_variant("lecture_conv1d")
def lecture_conv1d(**overrides) -> ModelConfig:
    """The lecture's IMDB Conv1d: Emb(20) → Conv(32, k7, valid) → ReLU → MaxPool(5) → Conv(32, k7) → ReLU → global average → linear."""
    return parse(
        {
            "encoder": "conv1d",
            "dim": 20,
            "hidden": 32,
            "depth": 2,
            "kernel_size": 7,
            "pool_size": 5,
            "conv_padding": "valid",
            "pooling": "mean",
            "mask_padding": False,
        },
        **overrides,
    )
