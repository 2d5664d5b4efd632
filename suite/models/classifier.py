"""The composable classifier: token embedding → positional encoding → encoder → pooling → head."""

from __future__ import annotations

import torch
from torch import nn

from suite.models import register_variant
from suite.models.attention import SelfAttention, TransformerBlock
from suite.models.blocks import ResidualBlock, masked_max, masked_mean
from suite.models.config import ModelConfig
from suite.models.conv import ConvEncoder
from suite.models.positional import LearnedPositions, SinusoidalPositions
from suite.models.recurrent import LstmEncoder, last_valid


class MlpEncoder(nn.Module):
    """`depth` residual MLP blocks applied to each position on its own."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.blocks = nn.ModuleList(
            ResidualBlock(cfg.dim, cfg.skips[1], cfg.dropout) for _ in range(cfg.depth)
        )

    def forward(self, x, keep):
        for block in self.blocks:
            x = block(x)
        return x, keep


class AttentionEncoder(nn.Module):
    """The course's `ClassifierWithMHAPositionEncoding` body, `depth` times:
    x = x + attention(x); x = ResidualBlock(x)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        rope = cfg.positional == "rope"
        self.attention = nn.ModuleList(
            SelfAttention(cfg.dim, cfg.heads, kernel=cfg.kernel, rope=rope) for _ in range(cfg.depth)
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


class TransformerEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
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
            )
            for _ in range(cfg.depth)
        )

    def forward(self, x, keep):
        for block in self.blocks:
            x = block(x, keep)
        return x, keep


ENCODERS = {
    "mlp": MlpEncoder,
    "attention": AttentionEncoder,
    "transformer": TransformerEncoder,
    "lstm": LstmEncoder,
    "conv1d": ConvEncoder,
}


class SequenceClassifier(nn.Module):
    """Token ids (B, T) → logits: (B,) for two classes (one logit, as the course), else (B, C)."""

    def __init__(self, cfg: ModelConfig, vocab_size: int, seq_len: int, num_classes: int, pad_id):
        super().__init__()
        self.cfg = cfg
        self.pad_id = pad_id
        self.embedding = nn.Embedding(vocab_size, cfg.dim, padding_idx=pad_id)
        if cfg.positional == "learned":
            self.positional = LearnedPositions(cfg.max_len or seq_len, cfg.dim)
        elif cfg.positional == "sinusoidal":
            self.positional = SinusoidalPositions(cfg.dim)
        else:  # none, or rope (applied inside attention)
            self.positional = nn.Identity()
        self.dropout = nn.Dropout(cfg.dropout)
        self.encoder = ENCODERS[cfg.encoder](cfg)
        self.head = nn.Linear(self.encoder_width(cfg), 1 if num_classes == 2 else num_classes)

    @staticmethod
    def encoder_width(cfg: ModelConfig) -> int:
        if cfg.encoder == "lstm":
            return cfg.width * (2 if cfg.bidirectional else 1)
        if cfg.encoder == "conv1d":
            return cfg.width
        return cfg.dim

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        keep = None if self.pad_id is None else tokens != self.pad_id  # (B, T)
        x = self.dropout(self.positional(self.embedding(tokens)))  # (B, T, D)
        h, keep = self.encoder(x, keep)  # (B, T', D')
        if self.cfg.pooling == "mean":
            pooled = masked_mean(h, keep)
        elif self.cfg.pooling == "max":
            pooled = masked_max(h, keep)
        else:
            pooled = last_valid(h, keep, self.cfg.bidirectional)
        return self.head(pooled).squeeze(-1)  # (B,) or (B, C)


def build(cfg: ModelConfig, *, vocab_size: int, seq_len: int, num_classes: int, pad_id=None) -> nn.Module:
    if cfg.encoder == "bow":
        from suite.models.bow import BagOfWordsMLP

        return BagOfWordsMLP(cfg, vocab_size, num_classes, pad_id)
    return SequenceClassifier(cfg, vocab_size, seq_len, num_classes, pad_id)


@register_variant("mean")
def mean(**overrides) -> ModelConfig:
    """Embedding → residual MLP → mean over time → linear (the course's MeanClassifier)."""
    return ModelConfig(encoder="mlp", positional="none").replace(**overrides)


@register_variant("positional")
def positional(**overrides) -> ModelConfig:
    """`mean` plus learned positions added to the embeddings (ClassifierWithPositionEncoding)."""
    return ModelConfig(encoder="mlp", positional="learned").replace(**overrides)


@register_variant("attention")
def attention(**overrides) -> ModelConfig:
    """Learned positions → single-head self-attention with a skip → residual MLP → mean
    (ClassifierWithMHAPositionEncoding)."""
    return ModelConfig(encoder="attention", positional="learned", heads=1).replace(**overrides)


@register_variant("multihead")
def multihead(**overrides) -> ModelConfig:
    """`attention` with several heads (default 2), the course's practice question."""
    return ModelConfig(encoder="attention", positional="learned", heads=2).replace(**overrides)


@register_variant("transformer")
def transformer(**overrides) -> ModelConfig:
    """Post-norm encoder blocks with FFN 2·dim and sinusoidal positions (Neuromatch Transformer)."""
    return ModelConfig(
        encoder="transformer", positional="sinusoidal", heads=2, norm=True, dropout=0.1
    ).replace(**overrides)
