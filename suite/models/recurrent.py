"""Recurrent encoders (LSTM, GRU, plain Elman RNN) and the "last valid position" pooling they are
read out with."""

from __future__ import annotations

import torch
from torch import nn

from suite.models import register_variant
from suite.models.config import ModelConfig, register_encoder

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def _width(cfg: ModelConfig) -> int:
    """Per direction, the hidden state (or its projection); both directions side by side."""
    return (cfg.proj_size or cfg.width) * (2 if cfg.bidirectional else 1)


@register_encoder("rnn", family="recurrent", width=_width)
@register_encoder("gru", family="recurrent", width=_width)
@register_encoder("lstm", family="recurrent", width=_width)  # decorators apply bottom-up: lstm first
class RecurrentEncoder(nn.Module):
    """`depth` layers of the encoder's cell (`nn.LSTM`, `nn.GRU` or tanh `nn.RNN`)."""

    def __init__(self, cfg: ModelConfig):
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


@register_variant("lstm")
def lstm(**overrides) -> ModelConfig:
    """LSTM encoder (layers = depth, optional bidirectional and proj_size), read out at the last token (the lecture's LSTM)."""
    return ModelConfig(encoder="lstm", pooling="last").replace(**overrides)


@register_variant("gru")
def gru(**overrides) -> ModelConfig:
    """GRU encoder (layers = depth, optional bidirectional), read out at the last token (the lecture's gated RNNs)."""
    return ModelConfig(encoder="gru", pooling="last").replace(**overrides)


@register_variant("rnn")
def rnn(**overrides) -> ModelConfig:
    """Plain tanh RNN, h_t = tanh(W[x_t; h_t-1] + b), read out at the last token (the lecture's RNN)."""
    return ModelConfig(encoder="rnn", pooling="last").replace(**overrides)
