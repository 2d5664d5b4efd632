"""Multi-head self-attention and the transformer encoder block."""

from __future__ import annotations

import math

import torch
from torch import nn

from suite import kernels
from suite.kernels.masking import combine_masks, masked_softmax
from suite.models.positional import apply_rope, rope_angles


class SelfAttention(nn.Module):
    """softmax(QKᵀ/√d)·V over `heads` heads of width `head_dim` (default dim/heads), then an
    output projection back to dim.

    Initialised as `nn.MultiheadAttention` (the course's model): Xavier-uniform
    input projection with zero bias, zero output bias. The product itself is
    done by a kernel from `suite.kernels`, so a study can ablate it. The
    Neuromatch `SelfAttention` is heads of full width (head_dim = dim), bias-free
    projections and `unify_heads` (here `out`) from dim·heads back to dim.
    """

    def __init__(
        self,
        dim: int,
        heads: int = 1,
        kernel: str = "sdpa",
        rope: bool = False,
        *,
        head_dim: int | None = None,
        bias: bool = True,
        dropout: float = 0.0,
        scale: str = "sqrt_d",
        causal: bool = False,
    ):
        super().__init__()
        self.heads = heads
        self.head_dim = head_dim or dim // heads
        inner = heads * self.head_dim
        self.qkv = nn.Linear(dim, 3 * inner, bias=bias)
        self.out = nn.Linear(inner, dim)
        self.kernel_name = kernel
        self.kernel = kernels.get(kernel)
        self.rope = rope
        self.dropout = dropout
        self.scale = scale
        self.causal = causal
        nn.init.xavier_uniform_(self.qkv.weight)
        if bias:
            nn.init.zeros_(self.qkv.bias)
        nn.init.zeros_(self.out.bias)

    def _heads(self, x: torch.Tensor, keep: torch.Tensor | None):
        b, t, _ = x.shape
        inner = self.heads * self.head_dim
        q, k, v = self.qkv(x).split(inner, dim=-1)  # each (B, T, H·d)
        q, k, v = (z.view(b, t, self.heads, self.head_dim).transpose(1, 2) for z in (q, k, v))
        if self.rope:  # q, k: (B, H, T, d)
            cos, sin = rope_angles(t, self.head_dim, device=x.device)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        mask = None if keep is None else keep[:, None, None, :]  # (B, 1, 1, T): padding keys
        return q, k, v, mask

    def kernel_options(self) -> dict:
        """Keyword arguments beyond the kernels' defaults, so the default call stays as it was."""
        options = {}
        if self.causal:
            options["causal"] = True
        if self.scale != "sqrt_d":
            options["scale"] = 1.0
        if self.dropout and self.training:  # dropout on the weights only while training
            options["dropout_p"] = self.dropout
        return options

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v, mask = self._heads(x, keep)
        if self.causal or self.dropout or self.scale != "sqrt_d":
            y = self.kernel(q, k, v, mask=mask, **self.kernel_options())  # (B, H, T, d)
        else:
            y = self.kernel(q, k, v, mask=mask)
        return self.out(y.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))

    @torch.no_grad()
    def attention_weights(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """softmax(QKᵀ/√d) per head, (B, H, T, T), formed explicitly: for recording only,
        since `forward`'s kernel need never form it."""
        q, k, _, mask = self._heads(x, keep)
        scores = q @ k.transpose(-2, -1)  # (B, H, T, T)
        if self.scale == "sqrt_d":
            scores = scores / math.sqrt(self.head_dim)
        mask = combine_masks(mask, self.causal, x.shape[1], x.shape[1], x.device)
        return masked_softmax(scores, mask)


class PlainSelfAttention(nn.Module):
    """softmax(XXᵀ)·X: self-attention without a single weight (the self-attention page's worked
    example, the lecture's "simple self-attention" and the slides); `scale` divides by √dim."""

    def __init__(self, dim: int, kernel: str = "naive", scale: str = "none", causal: bool = False):
        super().__init__()
        self.kernel = kernels.get(kernel)
        self.scale = scale
        self.causal = causal

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        h = x.unsqueeze(1)  # (B, 1, T, D): one head, queries = keys = values = X
        mask = None if keep is None else keep[:, None, None, :]
        options = {"scale": 1.0} if self.scale == "none" else {}
        return self.kernel(h, h, h, mask=mask, causal=self.causal, **options).squeeze(1)


class TransformerBlock(nn.Module):
    """Post-norm encoder block (the Neuromatch `TransformerBlock`), or pre-norm.

    post: x = norm1(x + attention(x)); x = norm2(x + ffn(x)), with dropout after each;
    pre:  x = x + attention(norm1(x)); x = x + ffn(norm2(x)), dropout on each branch
    (GPT-2's order). The feed-forward is ffn_mult · dim wide.
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
        prenorm: bool = False,
        attention_options: dict | None = None,
    ):
        super().__init__()
        self.attention = SelfAttention(dim, heads, kernel=kernel, rope=rope, **(attention_options or {}))
        self.prenorm = prenorm
        self.norm1 = nn.LayerNorm(dim) if norm else nn.Identity()
        self.norm2 = nn.LayerNorm(dim) if norm else nn.Identity()
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_mult * dim), nn.ReLU(), nn.Linear(ffn_mult * dim, dim))
        self.dropout = nn.Dropout(dropout)
        self.residual = residual
        self.ffn_residual = residual if ffn_residual is None else ffn_residual

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        if self.prenorm:
            a = self.dropout(self.attention(self.norm1(x), keep))
            x = x + a if self.residual else a
            f = self.dropout(self.ffn(self.norm2(x)))
            return x + f if self.ffn_residual else f
        a = self.attention(x, keep)
        x = self.dropout(self.norm1(x + a if self.residual else a))
        f = self.ffn(x)
        return self.dropout(self.norm2(x + f if self.ffn_residual else f))
