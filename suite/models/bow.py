"""The bag-of-words baseline: which words occur, and nothing about where."""

from __future__ import annotations

import torch
from torch import nn

from suite import objective
from suite.models.encoders import BowConfig


def multi_hot(tokens: torch.Tensor, vocab_size: int, pad_id: int | None) -> torch.Tensor:
    """(B, T) token ids → (B, V) with 1.0 where a word occurs (PAD never counts)."""
    out = torch.zeros(tokens.shape[0], vocab_size, device=tokens.device)
    out.scatter_(1, tokens, 1.0)
    if pad_id is not None:
        out[:, pad_id] = 0.0
    return out


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
