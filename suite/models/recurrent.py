"""The LSTM encoder and the "last valid position" pooling it is read out with."""

from __future__ import annotations

import torch
from torch import nn

from suite.models import register_variant
from suite.models.config import ModelConfig


class LstmEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.lstm = nn.LSTM(
            cfg.dim,
            cfg.width,
            num_layers=cfg.depth,
            batch_first=True,
            bidirectional=cfg.bidirectional,
            dropout=cfg.dropout if cfg.depth > 1 else 0.0,
        )

    def forward(self, x, keep):
        h, _ = self.lstm(x)  # (B, T, H · directions)
        return h, keep


def last_valid(h: torch.Tensor, keep: torch.Tensor | None, bidirectional: bool) -> torch.Tensor:
    """The forward state at the last kept position; for a bidirectional LSTM the
    backward half is read at the first kept position, where it has seen everything."""
    b, t, width = h.shape
    if keep is None:
        last = torch.full((b,), t - 1, device=h.device)
        first = torch.zeros(b, dtype=torch.long, device=h.device)
    else:
        positions = torch.arange(t, device=h.device).expand(b, t)
        last = torch.where(keep, positions, -1).amax(dim=1).clamp(min=0)
        first = torch.where(keep, positions, t).amin(dim=1).clamp(max=t - 1)
    rows = torch.arange(b, device=h.device)
    if not bidirectional:
        return h[rows, last]
    half = width // 2
    return torch.cat((h[rows, last, :half], h[rows, first, half:]), dim=-1)


@register_variant("lstm")
def lstm(**overrides) -> ModelConfig:
    """LSTM encoder (layers = depth, optional bidirectional), read out at the last token."""
    return ModelConfig(encoder="lstm", pooling="last").replace(**overrides)
