"""The composable classifier: token embedding → positional encoding → encoder → pooling → head."""

from __future__ import annotations

import math

import torch
from torch import nn

from suite import objective
from suite.models.attention import PlainSelfAttention, SelfAttention, TransformerBlock
from suite.models.blocks import ResidualBlock, embed, masked_max, masked_mean
from suite.models.config import ConfigError, ModelConfig, encoder
from suite.models.encoders import (
    AttentionConfig,
    IdentityConfig,
    MlpConfig,
    PlainAttentionConfig,
    TransformerConfig,
)
from suite.models.positional import LearnedPositions, SinusoidalPositions
from suite.models.recurrent import last_valid


def attention_options(cfg: AttentionConfig) -> dict:
    """SelfAttention's keyword arguments beyond its defaults (the course-replica knobs)."""
    return {
        "head_dim": cfg.head_dim,
        "bias": cfg.qkv_bias,
        "dropout": cfg.attn_dropout,
        "scale": cfg.scale,
        "causal": cfg.causal,
    }


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


class IdentityEncoder(nn.Module):
    """No encoder: the embeddings go straight to pooling (the lecture's embedding → average → linear)."""

    def __init__(self, cfg: IdentityConfig):
        super().__init__()

    def forward(self, x, keep):
        return x, keep


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


# Which encoders read no padded position is each config's `reads_padding()`. Attention with masked
# padding reads none either, yet keeps True there: its recorded attention maps (suite.artifacts) are as
# wide as the batch it saw, so it is cut only under training.bucket_pool (`cuts_after_positions`).


def trims_padding(cfg: ModelConfig, per_position: bool) -> tuple[bool, bool]:
    """(whether cutting a batch's all-padding columns leaves this model's output as it is, whether a
    training forward draws random numbers over positions, whose draws the cut would shift).

    It does when padding is masked, nothing tells the model where a token stands (positional
    "none": learned or sinusoidal positions would shift), the encoder reads no padded position and
    one output is pooled per sequence."""
    trims = cfg.mask_padding and cfg.positional == "none" and not per_position and not cfg.reads_padding()
    draws = bool(cfg.input_dropout or cfg.dropout or getattr(cfg, "attn_dropout", 0))
    return trims, draws


# Encoders that read no padded position once padding is masked, wherever each token stands: the
# positions are added before the cut (`kept_columns`), so a learned or sinusoidal table does not shift.
# Cut in training only under training.bucket_pool (`trim_in_training`): the cut moves dropout's draws.
CUTS_AFTER_POSITIONS = {"attention", "transformer"}


def cuts_after_positions(cfg: ModelConfig, per_position: bool) -> bool:
    """Whether a training batch may lose its all-padding columns after its positions are added:
    padding masked, one output pooled per sequence, an attention encoder, positions none or added
    (rope's angles start at the cut)."""
    return (
        cfg.mask_padding
        and not per_position
        and cfg.encoder in CUTS_AFTER_POSITIONS
        and cfg.positional in ("none", "learned", "sinusoidal")
    )


def kept_columns(keep: torch.Tensor) -> slice | None:
    """The columns from the first to the last that some row keeps (`keep`: (B, T), True at a token),
    or None where that is every column or none. On the CPU only: reading the bounds waits for the
    device, which on a GPU stalls every step; under vmap there are no data-dependent shapes."""
    if keep.device.type != "cpu" or torch._C._functorch.is_functorch_wrapped_tensor(keep):
        return None
    used = keep.any(dim=0)
    if used.all() or not used.any():
        return None
    first = int(used.int().argmax())
    return slice(first, len(used) - int(used.flip(0).int().argmax()))


def trim_padding(tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    """The batch without its leading and trailing columns that are padding in every row (pre- or
    post-padded rows of a batch as long as its longest row); a batch of padding alone as it is."""
    cut = kept_columns(tokens != pad_id)
    return tokens if cut is None else tokens[:, cut]


class SequenceClassifier(nn.Module):
    """Token ids (B, T) → logits: (B,) for two classes (one logit, as the course), else (B, C);
    for a per-position task (`tokens`, `lm`) the head reads every position instead of a pooled
    vector: (B, T) or (B, T, C), its weight optionally the token embedding's (`tie_embeddings`)."""

    def __init__(
        self,
        cfg: ModelConfig,
        vocab_size: int,
        seq_len: int,
        num_classes: int,
        pad_id,
        task: str = "classify",
    ):
        super().__init__()
        self.per_position = task != "classify"
        self.cfg = cfg
        # Without masking, padding is an ordinary token with a trainable vector, as in the course's
        # unmasked models; with it, PAD's vector is zero and every layer ignores PAD positions.
        self.pad_id = pad_id if cfg.mask_padding else None
        self.embedding = nn.Embedding(vocab_size, cfg.dim, padding_idx=self.pad_id)
        if cfg.embedding_uniform is not None:
            with torch.no_grad():
                self.embedding.weight.uniform_(-cfg.embedding_uniform, cfg.embedding_uniform)
                if self.pad_id is not None:
                    self.embedding.weight[self.pad_id].zero_()
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
        self.head_dropout = nn.Dropout(cfg.head_dropout)
        self.head_max_norm = cfg.head_max_norm  # applied by `constrain` after each optimizer step
        if cfg.tie_embeddings:
            if not self.per_position or (width, self.head.out_features) != (cfg.dim, vocab_size):
                raise ConfigError(
                    "tie_embeddings needs a per-position head as wide as the embedding with one logit "
                    f"per token (dim {cfg.dim}, vocabulary {vocab_size}); this one maps {width} → "
                    f"{self.head.out_features} for task {task!r}"
                )
            self.head.weight = self.embedding.weight
        self.trims, self.draws = trims_padding(cfg, self.per_position)
        self.trims = self.trims and self.pad_id is not None
        self.cuts_after_positions = cuts_after_positions(cfg, self.per_position) and self.pad_id is not None
        self.trim_in_training = False  # set under training.bucket_pool: cuts may move dropout's draws

    @torch.no_grad()
    def constrain(self) -> None:
        """head_max_norm: each output unit's weight vector (a row of the head) rescaled to l2 norm ≤
        the bound, as Kim's code does after every update (his columns: a Theano layer is x·W)."""
        if self.head_max_norm is not None:
            self.head.weight.renorm_(2, 0, self.head_max_norm)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.cfg.input_len is not None:
            tokens = tokens[:, -self.cfg.input_len :]  # the last input_len tokens (Keras' maxlen)
        if self.trims and not (self.training and self.draws and not self.trim_in_training):
            tokens = trim_padding(tokens, self.pad_id)
        keep = None if self.pad_id is None else tokens != self.pad_id  # (B, T)
        x = embed(self.embedding, tokens)  # (B, T, D)
        if self.cfg.scale_embedding:
            x = x * math.sqrt(self.cfg.dim)  # as the Neuromatch Transformer (and Vaswani et al.)
        x = self.positional(x)
        if self.cuts_after_positions and self.trim_in_training and self.training:
            cut = kept_columns(keep)
            if cut is not None:
                x, keep = x[:, cut], keep[:, cut]
        x = self.dropout(x)
        if self.cfg.pooling == "max" and not self.per_position and hasattr(self.encoder, "max_over_time"):
            # an encoder that max-pools itself (Conv1d: before its ReLU, with its own backward), equal
            # to masked_max of its output
            return self.head(self.head_dropout(self.encoder.max_over_time(x, keep))).squeeze(-1)
        h, keep = self.encoder(x, keep)  # (B, T', D')
        if self.per_position:
            return self.head(h).squeeze(-1)  # (B, T) or (B, T, C)
        if self.cfg.pooling == "mean":
            pooled = masked_mean(h, keep)
        elif self.cfg.pooling == "max":
            pooled = masked_max(h, keep)
        else:
            pooled = last_valid(h, keep, self.cfg.bidirectional)
        return self.head(self.head_dropout(pooled)).squeeze(-1)  # (B,) or (B, C)


def build(
    cfg: ModelConfig, *, vocab_size: int, seq_len: int, num_classes: int, pad_id=None, task: str = "classify"
) -> nn.Module:
    chosen = encoder(cfg.encoder)
    cfg.check_task(task)
    if chosen.per_position:  # a whole next-token model: a linear to the vocabulary at every position
        if num_classes != vocab_size:
            raise ConfigError(
                f"encoder={cfg.encoder!r} predicts a token at every position: the dataset's {num_classes} "
                f"classes must be its {vocab_size} tokens"
            )
        return chosen.module.from_config(cfg, vocab_size=vocab_size, seq_len=seq_len)
    if chosen.whole_model:  # a model that takes token ids itself decides its own outputs
        return chosen.module(cfg, vocab_size, num_classes, pad_id)
    return SequenceClassifier(cfg, vocab_size, seq_len, num_classes, pad_id, task)
