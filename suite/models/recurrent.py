"""Recurrent encoders (LSTM, GRU, plain Elman RNN) and the "last valid position" pooling they are
read out with."""

from __future__ import annotations

import torch
from torch import nn

from suite.models.encoders import RecurrentConfig

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class RecurrentEncoder(nn.Module):
    """`depth` layers of the encoder's cell (`nn.LSTM`, `nn.GRU` or tanh `nn.RNN`)."""

    def __init__(self, cfg: RecurrentConfig):
        super().__init__()
        extra = {"proj_size": cfg.proj_size} if cfg.proj_size else {}
        rnn = CELLS[cfg.encoder](
            cfg.dim,
            cfg.width,
            num_layers=cfg.depth,
            batch_first=True,
            bidirectional=cfg.bidirectional,
            dropout=cfg.dropout if cfg.depth > 1 else 0.0,
            **extra,
        )
        self.cell = cfg.encoder
        setattr(self, cfg.encoder, rnn)  # `self.lstm` as before, so parameter names stay

    def forward(self, x, keep):
        h, _ = getattr(self, self.cell)(x)  # (B, T, H · directions), H = proj_size if set
        return h, keep


LstmEncoder = RecurrentEncoder


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
