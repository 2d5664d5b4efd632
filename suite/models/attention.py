"""Multi-head self-attention and the transformer encoder block."""

from __future__ import annotations

import math

import torch
from torch import nn

from suite import kernels
from suite.models.positional import apply_rope, rope_angles


class SelfAttention(nn.Module):
    """softmax(QKᵀ/√d)·V over `heads` heads of width dim/heads, then an output projection.

    Initialised as `nn.MultiheadAttention` (the course's model): Xavier-uniform
    input projection with zero bias, zero output bias. The product itself is
    done by a kernel from `suite.kernels`, so a study can ablate it.
    """

    def __init__(self, dim: int, heads: int = 1, kernel: str = "sdpa", rope: bool = False):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.kernel_name = kernel
        self.kernel = kernels.get(kernel)
        self.rope = rope
        nn.init.xavier_uniform_(self.qkv.weight)
        nn.init.zeros_(self.qkv.bias)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)  # each (B, T, D)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        if self.rope:  # q, k: (B, H, T, d)
            cos, sin = rope_angles(t, d // self.heads, device=x.device)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        mask = None if keep is None else keep[:, None, None, :]  # (B, 1, 1, T): padding keys
        y = self.kernel(q, k, v, mask=mask)  # (B, H, T, d)
        return self.out(y.transpose(1, 2).reshape(b, t, d))

    @torch.no_grad()
    def attention_weights(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """softmax(QKᵀ/√d) per head, (B, H, T, T), formed explicitly: for recording only,
        since `forward`'s kernel need never form it."""
        b, t, d = x.shape
        q, k, _ = self.qkv(x).split(d, dim=-1)
        q, k = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k))
        if self.rope:
            cos, sin = rope_angles(t, d // self.heads, device=x.device)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)  # (B, H, T, T)
        if keep is not None:
            scores = scores.masked_fill(~keep[:, None, None, :], float("-inf"))
        return torch.softmax(scores, dim=-1).nan_to_num(0.0)


class TransformerBlock(nn.Module):
    """Post-norm encoder block (the Neuromatch `TransformerBlock`).

    x = norm1(x + attention(x)); x = norm2(x + ffn(x)), with dropout after each,
    and a feed-forward of width ffn_mult · dim.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        ffn_mult: int = 2,
        dropout: float = 0.0,
        residual: bool = True,
        ffn_residual: bool | None = None,
        norm: bool = True,
        kernel: str = "sdpa",
        rope: bool = False,
    ):
        super().__init__()
        self.attention = SelfAttention(dim, heads, kernel=kernel, rope=rope)
        self.norm1 = nn.LayerNorm(dim) if norm else nn.Identity()
        self.norm2 = nn.LayerNorm(dim) if norm else nn.Identity()
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_mult * dim), nn.ReLU(), nn.Linear(ffn_mult * dim, dim))
        self.dropout = nn.Dropout(dropout)
        self.residual = residual
        self.ffn_residual = residual if ffn_residual is None else ffn_residual

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        a = self.attention(x, keep)
        x = self.dropout(self.norm1(x + a if self.residual else a))
        f = self.ffn(x)
        return self.dropout(self.norm2(x + f if self.ffn_residual else f))
