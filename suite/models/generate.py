"""Text from a next-token model, one token at a time (nanoGPT's `generate`).

Each step reads at most the model's `block_size` last tokens (all of them when it has none, as a
recurrence), divides the last position's logits by the temperature, keeps the `top_k` largest,
and draws from the softmax with the caller's torch.Generator, so a sample is reproducible from its
seed. Temperature 0 or top_k = 1 is greedy decoding: the most likely token every step.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def generate(
    model: nn.Module,
    idx: torch.Tensor,
    tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """idx (B, T) int64 → (B, T + tokens): idx followed by `tokens` drawn tokens. The generator
    must live on idx's device; the model is run in eval mode and put back as it was."""
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise ValueError(f"tokens must be an integer ≥ 0, got {tokens!r}")
    if not temperature >= 0:
        raise ValueError(f"temperature must be ≥ 0, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be an integer ≥ 1 or None, got {top_k!r}")
    if idx.dim() != 2 or idx.shape[1] < 1:
        raise ValueError(f"idx must be (batch, length ≥ 1) token ids, got shape {tuple(idx.shape)}")
    block = getattr(model, "block_size", None)
    was_training = model.training
    model.eval()
    try:
        for _ in range(tokens):
            context = idx if block is None else idx[:, -block:]  # (B, ≤ block)
            logits = model(context)[:, -1, :]  # (B, V): the next token's
            idx = torch.cat((idx, next_token(logits, temperature, top_k, generator)), dim=1)
    finally:
        model.train(was_training)
    return idx


def next_token(
    logits: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None
) -> torch.Tensor:
    """(B, V) logits → (B, 1) ids: greedy at temperature 0 or top_k 1, else a softmax draw."""
    if temperature == 0 or top_k == 1:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1): the k-th largest
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)


def sample_text(model: nn.Module, codec, prompt: str, tokens: int, **options) -> str:
    """`prompt` continued by `tokens` characters; `codec` has encode(str) → ids and decode(ids) → str
    (a character dataset such as tinyshakespeare)."""
    device = next(model.parameters()).device
    idx = codec.encode(prompt).to(device)[None, :]
    return codec.decode(generate(model, idx, tokens, **options)[0].tolist())
