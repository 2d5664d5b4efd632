"""The composable classifier: token embedding → positional encoding → encoder → pooling → head."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from suite import objective
from suite.models import register_variant
from suite.models.attention import PlainSelfAttention, SelfAttention, TransformerBlock
from suite.models.blocks import ResidualBlock, masked_max, masked_mean
from suite.models.config import ConfigError, ModelConfig, Rate, encoder, parse, register_encoder
from suite.models.positional import LearnedPositions, SinusoidalPositions
from suite.models.recurrent import last_valid


class MlpConfig(ModelConfig):
    """The per-position MLP: residual MLP blocks."""

    encoder: Literal["mlp"] = "mlp"
    residual: bool = True  # skip connections around attention and MLP blocks
    mlp_residual: bool | None = None  # the skip in the MLP / feed-forward alone; None → residual

    @property
    def skips(self) -> tuple[bool, bool]:
        """(skip around attention, skip in the MLP), each falling back to `residual`."""
        mlp = self.residual if self.mlp_residual is None else self.mlp_residual
        return self.residual, mlp


class AttentionConfig(MlpConfig):
    """Self-attention blocks with a skip, then a residual MLP (the course's attention classifier)."""

    encoder: Literal["attention"] = "attention"
    heads: int = Field(1, ge=1)
    attn_residual: bool | None = None  # the skip around attention alone; None → residual
    norm: bool = False  # LayerNorm after each residual (post-norm, as the Neuromatch block)
    kernel: str = "sdpa"  # attention kernel, see suite.kernels
    head_dim: int | None = Field(None, ge=1)  # width of each attention head; None → dim / heads
    qkv_bias: bool = True  # bias on the query, key and value projections
    attn_dropout: Rate = 0.0  # dropout on the attention weights (Neuromatch DotProductAttention)
    scale: Literal["sqrt_d", "none"] = "sqrt_d"  # scores divided by √head_dim, or not scaled ("none")
    causal: bool = False  # each position attends only to itself and earlier positions

    rope: ClassVar[bool] = True

    @property
    def skips(self) -> tuple[bool, bool]:
        attn = self.residual if self.attn_residual is None else self.attn_residual
        return attn, super().skips[1]

    @property
    def head_width(self) -> int:
        return self.head_dim if self.head_dim is not None else self.dim // self.heads

    def validate_knobs(self) -> None:
        super().validate_knobs()
        if self.head_dim is None and self.dim % self.heads:
            raise ConfigError(f"heads={self.heads} must divide dim={self.dim} (or set head_dim)")
        if self.positional == "rope" and self.head_width % 2:
            raise ConfigError(f"positional='rope' needs an even head width, got {self.head_width}")
        _check_kernel(self.kernel, self.attn_dropout)


class TransformerConfig(AttentionConfig):
    """Transformer blocks: attention and a feed-forward layer, each with a skip."""

    encoder: Literal["transformer"] = "transformer"
    ffn_mult: int = Field(2, ge=1)  # feed-forward width = ffn_mult · dim
    norm_position: Literal["post", "pre"] = "post"  # LayerNorm after each residual or before each sublayer

    def validate_knobs(self) -> None:
        super().validate_knobs()
        if self.norm_position == "pre" and not self.norm:
            raise ConfigError("norm_position='pre' needs norm=true (there is no LayerNorm to move)")


class PlainAttentionConfig(ModelConfig):
    """softmax(XXᵀ)·X with no weights: only how the scores are formed."""

    encoder: Literal["plain_attention"] = "plain_attention"
    kernel: str = "sdpa"  # attention kernel (sdpa means naive here: there are no projections to fuse)
    scale: Literal["sqrt_d", "none"] = "sqrt_d"
    causal: bool = False


def _check_kernel(name: str, attn_dropout: float = 0.0) -> None:
    from suite import kernels

    if name not in kernels.REGISTRY:
        raise ConfigError(f"kernel: {kernels.REGISTRY.unknown_message(name)}")
    if attn_dropout and name == "chunked":
        raise ConfigError("attn_dropout needs a kernel that forms the weights (not chunked): naive, sdpa, …")


def attention_options(cfg: AttentionConfig) -> dict:
    """SelfAttention's keyword arguments beyond its defaults (the course-replica knobs)."""
    return {
        "head_dim": cfg.head_dim,
        "bias": cfg.qkv_bias,
        "dropout": cfg.attn_dropout,
        "scale": cfg.scale,
        "causal": cfg.causal,
    }


@register_encoder("mlp", config=MlpConfig)
class MlpEncoder(nn.Module):
    """`depth` residual MLP blocks applied to each position on its own."""

    def __init__(self, cfg: MlpConfig):
        super().__init__()
        self.blocks = nn.ModuleList(
            ResidualBlock(cfg.dim, cfg.skips[1], cfg.dropout) for _ in range(cfg.depth)
        )

    def forward(self, x, keep):
        for block in self.blocks:
            x = block(x)
        return x, keep


@register_encoder("attention", config=AttentionConfig, family="attention")
class AttentionEncoder(nn.Module):
    """The course's `ClassifierWithMHAPositionEncoding` body, `depth` times:
    x = x + attention(x); x = ResidualBlock(x)."""

    def __init__(self, cfg: AttentionConfig):
        super().__init__()
        rope = cfg.positional == "rope"
        self.attention = nn.ModuleList(
            SelfAttention(cfg.dim, cfg.heads, kernel=cfg.kernel, rope=rope, **attention_options(cfg))
            for _ in range(cfg.depth)
        )
        self.norms = nn.ModuleList(
            nn.LayerNorm(cfg.dim) if cfg.norm else nn.Identity() for _ in range(cfg.depth)
        )
        self.mlps = nn.ModuleList(ResidualBlock(cfg.dim, cfg.skips[1], cfg.dropout) for _ in range(cfg.depth))
        self.dropout = nn.Dropout(cfg.dropout)
        self.residual = cfg.skips[0]

    def forward(self, x, keep):
        for attention, norm, mlp in zip(self.attention, self.norms, self.mlps, strict=True):
            a = self.dropout(attention(x, keep))
            x = norm(x + a if self.residual else a)
            x = mlp(x)
        return x, keep


@register_encoder("transformer", config=TransformerConfig, family="attention")
class TransformerEncoder(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.blocks = nn.ModuleList(
            TransformerBlock(
                cfg.dim,
                cfg.heads,
                ffn_mult=cfg.ffn_mult,
                dropout=cfg.dropout,
                residual=cfg.skips[0],
                ffn_residual=cfg.skips[1],
                norm=cfg.norm,
                kernel=cfg.kernel,
                rope=cfg.positional == "rope",
                prenorm=cfg.norm_position == "pre",
                attention_options=attention_options(cfg),
            )
            for _ in range(cfg.depth)
        )
        # Pre-norm leaves the residual stream unnormalised: one LayerNorm at the end (as GPT-2).
        self.final_norm = nn.LayerNorm(cfg.dim) if cfg.norm_position == "pre" else nn.Identity()

    def forward(self, x, keep):
        for block in self.blocks:
            x = block(x, keep)
        return self.final_norm(x), keep


class IdentityConfig(ModelConfig):
    """No encoder: only the shared knobs."""

    encoder: Literal["identity"] = "identity"


@register_encoder("identity", config=IdentityConfig)
class IdentityEncoder(nn.Module):
    """No encoder: the embeddings go straight to pooling (the lecture's embedding → average → linear)."""

    def __init__(self, cfg: IdentityConfig):
        super().__init__()

    def forward(self, x, keep):
        return x, keep


@register_encoder("plain_attention", config=PlainAttentionConfig)
class PlainAttentionEncoder(nn.Module):
    """`depth` × softmax(XXᵀ)·X with no weights: what the embeddings alone make of each other."""

    def __init__(self, cfg: PlainAttentionConfig):
        super().__init__()
        kernel = cfg.kernel if cfg.kernel != "sdpa" else "naive"
        self.layers = nn.ModuleList(
            PlainSelfAttention(cfg.dim, kernel=kernel, scale=cfg.scale, causal=cfg.causal)
            for _ in range(cfg.depth)
        )

    def forward(self, x, keep):
        for layer in self.layers:
            x = layer(x, keep)
        return x, keep


class SequenceClassifier(nn.Module):
    """Token ids (B, T) → logits: (B,) for two classes (one logit, as the course), else (B, C)."""

    def __init__(self, cfg: ModelConfig, vocab_size: int, seq_len: int, num_classes: int, pad_id):
        super().__init__()
        self.cfg = cfg
        # Without masking, padding is an ordinary token with a trainable vector, as in the course's
        # unmasked models; with it, PAD's vector is zero and every layer ignores PAD positions.
        self.pad_id = pad_id if cfg.mask_padding else None
        self.embedding = nn.Embedding(vocab_size, cfg.dim, padding_idx=self.pad_id)
        if cfg.freeze_embedding:
            self.embedding.weight.requires_grad_(False)
        if cfg.positional == "learned":
            self.positional = LearnedPositions(cfg.max_len or cfg.input_len or seq_len, cfg.dim)
        elif cfg.positional == "sinusoidal":
            self.positional = SinusoidalPositions(cfg.dim)
        else:  # none, or rope (applied inside attention)
            self.positional = nn.Identity()
        self.dropout = nn.Dropout(cfg.input_dropout)
        chosen = encoder(cfg.encoder)
        self.encoder = chosen.module(cfg)
        width = chosen.width(cfg) if chosen.width else cfg.dim
        self.head = nn.Linear(width, objective.logits_for(num_classes))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.cfg.input_len is not None:
            tokens = tokens[:, -self.cfg.input_len :]  # the last input_len tokens (Keras' maxlen)
        keep = None if self.pad_id is None else tokens != self.pad_id  # (B, T)
        x = self.embedding(tokens)  # (B, T, D)
        if self.cfg.scale_embedding:
            x = x * math.sqrt(self.cfg.dim)  # as the Neuromatch Transformer (and Vaswani et al.)
        x = self.dropout(self.positional(x))
        h, keep = self.encoder(x, keep)  # (B, T', D')
        if self.cfg.pooling == "mean":
            pooled = masked_mean(h, keep)
        elif self.cfg.pooling == "max":
            pooled = masked_max(h, keep)
        else:
            pooled = last_valid(h, keep, self.cfg.bidirectional)
        return self.head(pooled).squeeze(-1)  # (B,) or (B, C)


def build(cfg: ModelConfig, *, vocab_size: int, seq_len: int, num_classes: int, pad_id=None) -> nn.Module:
    chosen = encoder(cfg.encoder)
    if chosen.whole_model:
        return chosen.module(cfg, vocab_size, num_classes, pad_id)
    return SequenceClassifier(cfg, vocab_size, seq_len, num_classes, pad_id)


@register_variant("mean")
def mean(**overrides) -> ModelConfig:
    """The self-attention page's MeanClassifier: embedding → residual MLP block → mean over time → linear."""
    return parse({"encoder": "mlp", "positional": "none"}, **overrides)


@register_variant("positional")
def positional(**overrides) -> ModelConfig:
    """The self-attention page's ClassifierWithPositionEncoding: `mean` with learned positions added to the embeddings."""
    return parse({"encoder": "mlp", "positional": "learned"}, **overrides)


@register_variant("attention")
def attention(**overrides) -> ModelConfig:
    """The self-attention page's ClassifierWithMHAPositionEncoding: learned positions → one-head self-attention with a skip → residual MLP → mean."""
    return parse({"encoder": "attention", "positional": "learned", "heads": 1}, **overrides)


@register_variant("multihead")
def multihead(**overrides) -> ModelConfig:
    """The self-attention page's practice question: `attention` with several heads (default 2)."""
    return parse({"encoder": "attention", "positional": "learned", "heads": 2}, **overrides)


@register_variant("transformer")
def transformer(**overrides) -> ModelConfig:
    """Post-norm transformer blocks with FFN 2·dim and sinusoidal positions, after the Neuromatch TransformerBlock (see neuromatch_transformer for the exact model)."""
    return parse(
        {"encoder": "transformer", "positional": "sinusoidal", "heads": 2, "norm": True, "dropout": 0.1},
        **overrides,
    )


@register_variant("fasttext")
def fasttext(**overrides) -> ModelConfig:
    """The lecture's fastText-like IMDB model: Embedding(dim 20) → average over all positions, padding included → linear."""
    return parse({"encoder": "identity", "dim": 20, "pooling": "mean", "mask_padding": False}, **overrides)


@register_variant("embedding_mean")
def embedding_mean(**overrides) -> ModelConfig:
    """Embedding → average over the real tokens (padding masked out) → linear, with no MLP in between."""
    return parse({"encoder": "identity", "pooling": "mean"}, **overrides)


@register_variant("glove_frozen")
def glove_frozen(**overrides) -> ModelConfig:
    """The lecture's frozen GloVe model: Embedding.from_pretrained(glove.6B.300d, freeze=True) → average → linear."""
    return parse(
        {
            "encoder": "identity",
            "dim": 300,
            "pooling": "mean",
            "mask_padding": False,
            "pretrained": "glove.6B.300d",
            "freeze_embedding": True,
        },
        **overrides,
    )


@register_variant("plain_self_attention")
def plain_self_attention(**overrides) -> ModelConfig:
    """Parameter-free self-attention softmax(XXᵀ)·X on the embeddings → average → linear (the lecture's and slides' simple self-attention)."""
    return parse({"encoder": "plain_attention", "scale": "none", "pooling": "mean"}, **overrides)


@register_variant("causal_attention")
def causal_attention(**overrides) -> ModelConfig:
    """`attention` with a causal mask: each token attends only to itself and earlier tokens (the lecture's masked self-attention)."""
    return parse({"encoder": "attention", "positional": "learned", "heads": 1, "causal": True}, **overrides)


@register_variant("prenorm_transformer")
def prenorm_transformer(**overrides) -> ModelConfig:
    """`transformer` with pre-norm blocks, x + attention(LayerNorm(x)), and a final LayerNorm (GPT-2's order)."""
    return parse(
        {
            "encoder": "transformer",
            "positional": "sinusoidal",
            "heads": 2,
            "norm": True,
            "dropout": 0.1,
            "norm_position": "pre",
        },
        **overrides,
    )


@register_variant("neuromatch_transformer")
def neuromatch_transformer(**overrides) -> ModelConfig:
    """The Neuromatch W2D5 Transformer exactly: √k-scaled embeddings, sinusoidal positions + dropout 0.1, 3 post-norm blocks of 8 full-width bias-free heads (k = 128) with dropout 0.1 on the attention weights, mean → linear, log-softmax + NLL."""
    return parse(
        {
            "encoder": "transformer",
            "dim": 128,
            "heads": 8,
            "depth": 3,
            "head_dim": 128,
            "qkv_bias": False,
            "positional": "sinusoidal",
            "scale_embedding": True,
            "norm": True,
            "ffn_mult": 2,
            "dropout": 0.0,
            "embedding_dropout": 0.1,
            "attn_dropout": 0.1,
            "mask_padding": False,
            "pooling": "mean",
            "kernel": "folded_heads",
        },
        **overrides,
    )
