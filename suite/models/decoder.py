"""A decoder-only causal language model in nanoGPT's shape, with the token mixer and the positions ablatable.

    h⁰ = E[x] (+ P)                                   token embedding, plus positions if added
    hˡ = hˡ⁻¹ + mix(LN(hˡ⁻¹));  hˡ = hˡ + MLP(LN(hˡ))   pre-norm blocks, l = 1 … depth
    logits = LN(hᴸ) · Wᵀ                               W = E when the embeddings are tied

`mix` is causal self-attention (position t reads positions ≤ t) or a causal convolution (position
t reads t − (k−1)·d … t), a cheap mixer without attention. Positions: `learned` (a table of
block_size rows, so it cannot run longer), `sinusoidal` (added, any length), `rotary` (queries and
keys rotated inside attention), `alibi` (a per-head linear penalty on distance added to the
attention scores), `none` (causal attention alone still tells positions apart a little).
Weights start as nanoGPT's: N(0, 0.02), the projections back into the residual stream
N(0, 0.02/√(2·depth)), biases 0.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from suite.models.attention import SelfAttention
from suite.models.encoders import DECODER_ALIASES as ALIASES
from suite.models.encoders import DECODER_MIXERS as MIXERS  # noqa: F401 - the decoder's names
from suite.models.encoders import DECODER_POSITIONALS as POSITIONALS  # noqa: F401
from suite.models.encoders import DecoderConfig
from suite.models.encoders import check_decoder as check
from suite.models.positional import LearnedPositions, SinusoidalPositions

Positional = Literal["learned", "sinusoidal", "rotary", "rope", "alibi", "none"]


def alibi_slopes(heads: int) -> torch.Tensor:
    """Press et al.'s per-head slopes: the geometric sequence 2^(−8/n), 2^(−16/n), … for n a power of
    two; otherwise those of the power of two below, then every other slope of the one above."""

    def powers(n: int) -> list[float]:
        start = 2 ** (-8 / n)
        return [start ** (i + 1) for i in range(n)]

    if math.log2(heads).is_integer():
        return torch.tensor(powers(heads))
    below = 2 ** math.floor(math.log2(heads))
    return torch.tensor(powers(below) + powers(2 * below)[0::2][: heads - below])


def alibi_bias(slopes: torch.Tensor, length: int) -> torch.Tensor:
    """(H, T, T) additive scores: −m_h·(i − j) for keys j ≤ query i, −∞ for j > i (the causal mask)."""
    i = torch.arange(length, device=slopes.device)
    distance = (i[:, None] - i[None, :]).float()  # (T, T): i − j
    bias = -slopes[:, None, None] * distance  # (H, T, T)
    return bias.masked_fill(distance < 0, float("-inf"))


class AlibiSelfAttention(SelfAttention):
    """Causal self-attention with ALiBi's distance penalty on the scores.

    The bias is a float added to QKᵀ/√d; the kernel registry takes only boolean masks (True = may
    attend), so this calls torch's scaled_dot_product_attention with the float mask directly."""

    def __init__(self, dim: int, heads: int, **options):
        super().__init__(dim, heads, causal=True, **options)
        self.register_buffer("slopes", alibi_slopes(heads), persistent=False)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v, _ = self._heads(x, None)  # each (B, H, T, d)
        bias = alibi_bias(self.slopes, t).to(q.dtype)  # (H, T, T), broadcast over the batch
        dropout = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout)  # (B, H, T, d)
        return self.out(y.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


class CausalConv(nn.Module):
    """y_t = Σ_j W_j · x_{t − j·dilation}, j = 0 … k−1: a Conv1d padded on the left only, so no
    output reads a later position; then a linear back into the residual stream."""

    def __init__(self, dim: int, kernel_size: int, dilation: int = 1, bias: bool = False):
        super().__init__()
        self.left = (kernel_size - 1) * dilation
        self.conv = nn.Conv1d(dim, dim, kernel_size, dilation=dilation, bias=bias)
        self.out = nn.Linear(dim, dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, D)
        h = F.pad(x.transpose(1, 2), (self.left, 0))  # (B, D, left + T): zeros before the start
        return self.out(F.gelu(self.conv(h)).transpose(1, 2))  # (B, T, D)


class Mlp(nn.Module):
    """Linear(D → m·D) → GELU → Linear(m·D → D), applied to each position alone."""

    def __init__(self, dim: int, mult: int, bias: bool, dropout: float):
        super().__init__()
        self.up = nn.Linear(dim, mult * dim, bias=bias)
        self.out = nn.Linear(mult * dim, dim, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.out(F.gelu(self.up(x))))


class Block(nn.Module):
    """x = x + mix(LN(x)); x = x + MLP(LN(x))."""

    def __init__(self, mix: nn.Module, dim: int, ffn_mult: int, bias: bool, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, bias=bias)
        self.mix = mix
        self.norm2 = nn.LayerNorm(dim, bias=bias)
        self.mlp = Mlp(dim, ffn_mult, bias, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, D) → (B, T, D)
        x = x + self.dropout(self.mix(self.norm1(x)))
        return x + self.mlp(self.norm2(x))


class DecoderLM(nn.Module):
    """Token ids (B, T) → next-token logits (B, T, V); T may exceed block_size unless positions are learned."""

    def __init__(
        self,
        vocab_size: int,
        block_size: int,
        *,
        dim: int = 128,
        depth: int = 4,
        heads: int = 4,
        positional: Positional = "learned",
        mixer: Literal["attention", "conv"] = "attention",
        ffn_mult: int = 4,
        dropout: float = 0.0,
        tie_weights: bool = True,
        bias: bool = False,
        kernel: str = "sdpa",
        kernel_size: int = 4,
        dilate: bool = False,
    ):
        super().__init__()
        positional = ALIASES.get(positional, positional)
        check(positional=positional, mixer=mixer, dim=dim, heads=heads, kernel=kernel)
        self.vocab_size, self.block_size, self.positional_kind = vocab_size, block_size, positional
        self.embedding = nn.Embedding(vocab_size, dim)
        if positional == "learned":
            self.positional = LearnedPositions(block_size, dim)
        elif positional == "sinusoidal":
            self.positional = SinusoidalPositions(dim)
        else:  # none; rotary and alibi act inside attention
            self.positional = nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            Block(
                self._mixer(
                    mixer, dim, heads, positional, dropout, bias, kernel, kernel_size, 2**i if dilate else 1
                ),
                dim,
                ffn_mult,
                bias,
                dropout,
            )
            for i in range(depth)
        )
        self.final_norm = nn.LayerNorm(dim, bias=bias)
        self.head = nn.Linear(dim, vocab_size, bias=False)
        self.apply(_init)
        for name, p in self.named_parameters():  # projections into the residual stream (GPT-2)
            if name.endswith(("mix.out.weight", "mlp.out.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * depth))
        if tie_weights:
            self.head.weight = self.embedding.weight  # one (V, D) tensor: logits = h · Eᵀ

    @classmethod
    def from_config(cls, cfg: DecoderConfig, *, vocab_size: int, seq_len: int) -> DecoderLM:
        """The registry's variant (suite.models.encoders.DecoderConfig) for a dataset's vocabulary and context."""
        return cls(
            vocab_size,
            seq_len,
            dim=cfg.dim,
            depth=cfg.depth,
            heads=cfg.heads,
            positional=cfg.positional,
            mixer=cfg.mixer,
            ffn_mult=cfg.ffn_mult,
            dropout=cfg.dropout,
            tie_weights=cfg.tie_embeddings,
            bias=cfg.bias,
            kernel=cfg.kernel,
            kernel_size=cfg.kernel_size,
            dilate=cfg.dilate,
        )

    @staticmethod
    def _mixer(mixer, dim, heads, positional, dropout, bias, kernel, kernel_size, dilation) -> nn.Module:
        if mixer == "conv":
            return CausalConv(dim, kernel_size, dilation, bias)
        options = {"bias": bias, "dropout": dropout}
        if positional == "alibi":
            attention = AlibiSelfAttention(dim, heads, kernel=kernel, **options)
        else:
            # causal=True goes to the registry's kernel (sdpa: F.scaled_dot_product_attention(is_causal=True))
            attention = SelfAttention(
                dim, heads, kernel=kernel, rope=positional == "rotary", causal=True, **options
            )
        if not bias:
            attention.out.bias = None  # nanoGPT's bias=False: no bias in any linear or LayerNorm
        return attention

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t = tokens.shape[1]
        if self.positional_kind == "learned" and t > self.block_size:
            raise ValueError(
                f"positional='learned' has a table of {self.block_size} positions and cannot read {t} tokens; "
                f"a longer context needs sinusoidal, rotary, alibi or none"
            )
        x = self.dropout(self.positional(self.embedding(tokens)))  # (B, T, D)
        for block in self.blocks:
            x = block(x)  # (B, T, D)
        return self.head(self.final_norm(x))  # (B, T, V)


def _init(module: nn.Module) -> None:
    if isinstance(module, nn.Linear | nn.Conv1d | nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear | nn.Conv1d) and module.bias is not None:
        nn.init.zeros_(module.bias)


def optimizer_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """nanoGPT's `configure_optimizers` split: weight decay on matrices and embeddings (dim ≥ 2),
    none on biases and LayerNorm gains; a tied tensor is listed once."""
    params = {id(p): p for p in model.parameters() if p.requires_grad}.values()
    return [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
