"""Recurrent encoders (LSTM, GRU, plain Elman RNN) and the "last valid position" pooling they are
read out with."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from suite.models import register_variant
from suite.models.config import ConfigError, ModelConfig, parse, register_encoder

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class RecurrentConfig(ModelConfig):
    """`depth` layers of an LSTM, GRU or tanh RNN cell, read out at the last (or every) position."""

    encoder: Literal["lstm", "gru", "rnn"] = "lstm"
    hidden_size: int | None = Field(None, alias="hidden", ge=1)  # the cell's hidden state; None → dim
    bidirectional: bool = False  # a second cell reads right to left; outputs side by side
    proj_size: int = Field(0, ge=0)  # LSTM only: project the hidden state to this width (0: no projection)

    reads_last: ClassVar[bool] = True

    @property
    def width(self) -> int:
        return self.hidden_size if self.hidden_size is not None else self.dim

    def validate_knobs(self) -> None:
        super().validate_knobs()
        if self.proj_size and self.encoder != "lstm":
            raise ConfigError(f"proj_size applies only to encoder='lstm', not {self.encoder!r}")
        if self.proj_size and not self.proj_size < self.width:
            raise ConfigError(
                f"proj_size must be between 1 and hidden-1 ({self.width - 1}), got {self.proj_size}"
            )


def _width(cfg: RecurrentConfig) -> int:
    """Per direction, the hidden state (or its projection); both directions side by side."""
    return (cfg.proj_size or cfg.width) * (2 if cfg.bidirectional else 1)


@register_encoder("rnn", config=RecurrentConfig, family="recurrent", width=_width)
@register_encoder("gru", config=RecurrentConfig, family="recurrent", width=_width)
@register_encoder(
    "lstm", config=RecurrentConfig, family="recurrent", width=_width
)  # decorators apply bottom-up: lstm first
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


@register_variant("lstm")
def lstm(**overrides) -> ModelConfig:
    """LSTM encoder (layers = depth, optional bidirectional and proj_size), read out at the last token (the lecture's LSTM)."""
    return parse({"encoder": "lstm", "pooling": "last"}, **overrides)


@register_variant("gru")
def gru(**overrides) -> ModelConfig:
    """GRU encoder (layers = depth, optional bidirectional), read out at the last token (the lecture's gated RNNs)."""
    return parse({"encoder": "gru", "pooling": "last"}, **overrides)


@register_variant("rnn")
def rnn(**overrides) -> ModelConfig:
    """Plain tanh RNN, h_t = tanh(W[x_t; h_t-1] + b), read out at the last token (the lecture's RNN)."""
    return parse({"encoder": "rnn", "pooling": "last"}, **overrides)
