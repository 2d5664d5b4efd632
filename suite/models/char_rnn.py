"""The course's character model: embedding → LSTM/GRU/RNN → linear to the vocabulary at every step.

Trained with teacher forcing: the input at step t is the true character t (not the model's own
previous guess), and the output at t is scored against character t + 1, so one forward pass over a
window gives every step's loss.

    e_t = E[x_t];  h_t = cell(e_t, h_{t−1});  logits_t = W·dropout(h_t) (+ b)

A recurrence reads only the past, so it is causal by construction and has no context limit
(`block_size` is None: generation feeds it the whole text so far).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class CharRNN(nn.Module):
    """Token ids (B, T) → next-token logits (B, T, V)."""

    block_size = None  # reads any length

    def __init__(
        self,
        vocab_size: int,
        *,
        dim: int = 64,
        hidden: int = 128,
        depth: int = 1,
        cell: Literal["lstm", "gru", "rnn"] = "lstm",
        dropout: float = 0.0,
        tie_weights: bool = False,
    ):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell={cell!r} is not one of {', '.join(CELLS)}")
        if tie_weights and hidden != dim:
            raise ValueError(
                f"tie_weights=True reads logits with the embedding, so hidden={hidden} must equal dim={dim}"
            )
        self.embedding = nn.Embedding(vocab_size, dim)
        self.rnn = CELLS[cell](
            dim, hidden, num_layers=depth, batch_first=True, dropout=dropout if depth > 1 else 0.0
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab_size)
        if tie_weights:
            self.head.weight = self.embedding.weight

    @classmethod
    def from_config(cls, cfg, *, vocab_size: int, seq_len: int) -> CharRNN:
        """The registry's variant (suite.models.encoders.CharRnnConfig); any length, so seq_len is unused."""
        return cls(
            vocab_size,
            dim=cfg.dim,
            hidden=cfg.width,
            depth=cfg.depth,
            cell=cfg.cell,
            dropout=cfg.dropout,
            tie_weights=cfg.tie_embeddings,
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.embedding(tokens))  # (B, T, hidden)
        return self.head(self.dropout(h))  # (B, T, V)
