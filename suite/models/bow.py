"""The bag-of-words baseline: which words occur, and nothing about where."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from suite import objective
from suite.models import register_variant
from suite.models.config import ConfigError, ModelConfig, parse, register_encoder


class BowConfig(ModelConfig):
    """A multi-hot bag of words through an MLP: no token embedding, no positions."""

    encoder: Literal["bow"] = "bow"
    units: int | None = Field(None, alias="hidden", ge=1)  # width of each hidden layer; None → dim

    @property
    def width(self) -> int:
        return self.units if self.units is not None else self.dim

    def validate_knobs(self) -> None:
        super().validate_knobs()
        refuse_sequence_knobs(self, "a bag of words")


def refuse_sequence_knobs(cfg: ModelConfig, what: str) -> None:
    """The shared knobs a model that reads its tokens as an unordered bag, with no token embedding,
    cannot honour (bow, ngram)."""
    if cfg.positional != "none":
        raise ConfigError(f"{what} has no positions: {cfg.encoder} needs positional='none'")
    if cfg.input_len is not None:
        raise ConfigError(f"input_len: {what} reads every token; set the dataset's max_len")
    if cfg.freeze_embedding or cfg.pretrained:
        raise ConfigError(f"{what} has no token embedding to freeze or load")


def multi_hot(tokens: torch.Tensor, vocab_size: int, pad_id: int | None) -> torch.Tensor:
    """(B, T) token ids → (B, V) with 1.0 where a word occurs (PAD never counts)."""
    out = torch.zeros(tokens.shape[0], vocab_size, device=tokens.device)
    out.scatter_(1, tokens, 1.0)
    if pad_id is not None:
        out[:, pad_id] = 0.0
    return out


@register_encoder("bow", config=BowConfig, whole_model=True)
class BagOfWordsMLP(nn.Module):
    """multi-hot(V) → Linear(V, hidden) → ReLU → dropout → … → head (the lecture's IMDB MLP)."""

    def __init__(self, cfg: BowConfig, vocab_size: int, num_classes: int, pad_id):
        super().__init__()
        self.vocab_size = vocab_size
        self.pad_id = pad_id
        layers: list[nn.Module] = []
        width = vocab_size
        for _ in range(cfg.depth):
            layers += [nn.Linear(width, cfg.width), nn.ReLU(), nn.Dropout(cfg.dropout)]
            width = cfg.width
        self.mlp = nn.Sequential(*layers)
        self.head = nn.Linear(width, objective.logits_for(num_classes))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = multi_hot(tokens, self.vocab_size, self.pad_id)  # (B, V)
        return self.head(self.mlp(x)).squeeze(-1)


@register_variant("bow_mlp")
def bow_mlp(**overrides) -> ModelConfig:
    """Multi-hot bag of words → one hidden layer of 16 with dropout 0.5 (the lecture's IMDB MLP with one hidden layer; lecture_bow_mlp has its two)."""
    return parse({"encoder": "bow", "hidden": 16, "dropout": 0.5}, **overrides)


@register_variant("lecture_bow_mlp")
def lecture_bow_mlp(**overrides) -> ModelConfig:
    """The lecture's IMDB bag-of-words MLP exactly: multi-hot 10,000 → 16 → ReLU → dropout 0.5 → 16 → ReLU → dropout 0.5 → 1."""
    return parse({"encoder": "bow", "hidden": 16, "depth": 2, "dropout": 0.5}, **overrides)
