"""The built-in encoders' own knobs, each registered with the module that builds it.

Kept apart from the nn.Module code, which needs torch: loading, listing and checking studies
read these configurations only, and a model's module is imported when a model is first built.
Registration order is the order of `ablate list`'s knobs and of messages: keep new ones last.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from suite.models.config import MAX_WIDTH, ConfigError, ModelConfig, Rate, register_encoder


def refuse_sequence_knobs(cfg: ModelConfig, what: str) -> None:
    """The shared knobs a model that reads its tokens as an unordered bag, with no token embedding,
    cannot honour (bow, ngram)."""
    if cfg.positional != "none":
        raise ConfigError(f"{what} has no positions: {cfg.encoder} needs positional='none'")
    if cfg.input_len is not None:
        raise ConfigError(f"input_len: {what} reads every token; set the dataset's max_len")
    if cfg.freeze_embedding or cfg.pretrained:
        raise ConfigError(f"{what} has no token embedding to freeze or load")


@register_encoder("bow", module="suite.models.bow:BagOfWordsMLP", whole_model=True)
class BowConfig(ModelConfig):
    """A multi-hot bag of words through an MLP: no token embedding, no positions."""

    encoder: Literal["bow"] = "bow"
    units: int | None = Field(
        None, alias="hidden", ge=1, le=MAX_WIDTH
    )  # width of each hidden layer; None → dim

    # no positions to pool over; PAD is never counted, with or without masking; no token embedding
    ignores: ClassVar[tuple[str, ...]] = (
        "pooling",
        "mask_padding",
        "embedding_dropout",
        "scale_embedding",
        "head_dropout",
        "head_max_norm",
        "embedding_uniform",
    )
    tasks: ClassVar[tuple[str, ...]] = ("classify",)  # one bag per sequence: no positions to predict at

    @property
    def width(self) -> int:
        return self.units if self.units is not None else self.dim

    def validate_knobs(self) -> None:
        super().validate_knobs()
        refuse_sequence_knobs(self, "a bag of words")


@register_encoder("mlp", module="suite.models.classifier:MlpEncoder")
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

    def reads_padding(self) -> bool:
        return False  # each position on its own


def _check_kernel(name: str, attn_dropout: float = 0.0) -> None:
    from suite import kernels

    if name not in kernels.REGISTRY:
        raise ConfigError(f"kernel: {kernels.REGISTRY.unknown_message(name)}")
    if attn_dropout and name == "chunked":
        raise ConfigError("attn_dropout needs a kernel that forms the weights (not chunked): naive, sdpa, …")


@register_encoder("attention", module="suite.models.classifier:AttentionEncoder", family="attention")
class AttentionConfig(MlpConfig):
    """Self-attention blocks with a skip, then a residual MLP (the course's attention classifier)."""

    encoder: Literal["attention"] = "attention"
    heads: int = Field(1, ge=1, le=MAX_WIDTH)  # attention heads; each head_dim wide (dim / heads by default)
    attn_residual: bool | None = None  # the skip around attention alone; None → residual
    norm: bool = False  # LayerNorm after each residual (post-norm, as the Neuromatch block)
    kernel: str = "sdpa"  # attention kernel, see suite.kernels
    head_dim: int | None = Field(None, ge=1, le=MAX_WIDTH)  # width of each attention head; None → dim / heads
    qkv_bias: bool = True  # bias on the query, key and value projections
    attn_dropout: Rate = 0.0  # dropout on the attention weights (Neuromatch DotProductAttention)
    scale: Literal["sqrt_d", "none"] = "sqrt_d"  # scores divided by √head_dim, or not scaled ("none")
    causal: bool = False  # each position attends only to itself and earlier positions

    rope: ClassVar[bool] = True

    def reads_padding(self) -> bool:
        # masked keys are never read, but the recorded attention maps are as wide as the batch seen:
        # cut only under training.bucket_pool (suite.models.classifier.cuts_after_positions)
        return True

    def reads_ahead(self) -> str | None:
        return (
            None if self.causal else f"encoder={self.encoder!r} attends to later positions unless causal=true"
        )

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


@register_encoder("transformer", module="suite.models.classifier:TransformerEncoder", family="attention")
class TransformerConfig(AttentionConfig):
    """Transformer blocks: attention and a feed-forward layer, each with a skip."""

    encoder: Literal["transformer"] = "transformer"
    ffn_mult: int = Field(2, ge=1, le=64)  # feed-forward width = ffn_mult · dim
    norm_position: Literal["post", "pre"] = "post"  # LayerNorm after each residual or before each sublayer

    def validate_knobs(self) -> None:
        super().validate_knobs()
        if self.norm_position == "pre" and not self.norm:
            raise ConfigError("norm_position='pre' needs norm=true (there is no LayerNorm to move)")


@register_encoder("identity", module="suite.models.classifier:IdentityEncoder")
class IdentityConfig(ModelConfig):
    """No encoder: only the shared knobs."""

    encoder: Literal["identity"] = "identity"

    ignores: ClassVar[tuple[str, ...]] = ("depth",)  # no layers

    def reads_padding(self) -> bool:
        return False


@register_encoder("plain_attention", module="suite.models.classifier:PlainAttentionEncoder")
class PlainAttentionConfig(ModelConfig):
    """softmax(XXᵀ)·X with no weights: only how the scores are formed."""

    encoder: Literal["plain_attention"] = "plain_attention"
    kernel: str = "sdpa"  # attention kernel (sdpa means naive here: there are no projections to fuse)
    scale: Literal["sqrt_d", "none"] = "sqrt_d"
    causal: bool = False

    def reads_ahead(self) -> str | None:
        return None if self.causal else "plain_attention attends to later positions unless causal=true"

    def validate_knobs(self) -> None:
        super().validate_knobs()
        _check_kernel(self.kernel)


@register_encoder("conv1d", module="suite.models.conv:ConvEncoder", width=lambda cfg: cfg.width)
class ConvConfig(ModelConfig):
    """`depth` Conv1d layers over time with max-pooling between them."""

    encoder: Literal["conv1d"] = "conv1d"
    channels: int | None = Field(
        None, alias="hidden", ge=1, le=MAX_WIDTH
    )  # output channels of each layer; None → dim
    kernel_size: int = Field(3, ge=1)  # positions each filter spans
    pool_size: int = Field(2, ge=1)  # max-pool window (and stride) between layers
    conv_padding: Literal["same", "valid"] = "same"  # "same" keeps the length, "valid" (Keras') shrinks it
    # Filters of several widths side by side in one layer (Kim 2014: [3, 4, 5], `hidden` each),
    # their outputs concatenated; null: one width, kernel_size
    kernel_sizes: list[Annotated[int, Field(ge=1)]] | None = Field(None, min_length=1)

    @property
    def widths(self) -> list[int]:
        return list(self.kernel_sizes) if self.kernel_sizes is not None else [self.kernel_size]

    tasks: ClassVar[tuple[str, ...]] = ("classify",)  # pooling between layers shrinks the positions

    @property
    def width(self) -> int:
        return (self.channels if self.channels is not None else self.dim) * len(self.widths)

    def reads_padding(self) -> bool:
        # one layer of "same" convolutions: a window reads a padded position only at an output the
        # masked pooling drops; a "valid" window or a pooling window between layers straddles the cut
        return not (self.depth == 1 and self.conv_padding == "same")

    def validate_knobs(self) -> None:
        super().validate_knobs()
        if self.kernel_sizes is not None and self.depth != 1:
            raise ConfigError(f"kernel_sizes (several filter widths) needs depth=1, got depth={self.depth}")
        if self.kernel_sizes is not None and self.kernel_size != 3:
            raise ConfigError("set kernel_size or kernel_sizes, not both")
        if self.kernel_sizes is not None and len(set(self.kernel_sizes)) > 1 and self.conv_padding == "valid":
            raise ConfigError(
                "kernel_sizes of several widths need conv_padding='same' (valid ones give outputs of "
                "different lengths)"
            )

    def check(self, *, vocab_size: int, seq_len: int) -> None:
        super().check(vocab_size=vocab_size, seq_len=seq_len)
        remaining = self.length(seq_len)
        shrink = max(self.widths) - 1 if self.conv_padding == "valid" else 0
        for i in range(self.depth):
            if i > 0:
                remaining //= self.pool_size
            remaining -= shrink
        if remaining < 1:
            raise ConfigError(
                f"conv1d with depth={self.depth}, pool_size={self.pool_size} and "
                f"conv_padding={self.conv_padding!r} shrinks a length-{seq_len} sequence away; "
                f"lower depth, pool_size or kernel_size"
            )


@register_encoder("ngram", module="suite.models.ngram:NgramLinear", whole_model=True)
class NgramConfig(ModelConfig):
    """A linear model over unigrams and hashed bigrams (or fastText's averaged n-gram embeddings,
    `ngram_dim`): no positions."""

    encoder: Literal["ngram"] = "ngram"
    ngram_buckets: int = Field(2**18, ge=1, le=2**26)  # hash slots for the bigrams
    # Scale each n-gram by its naive Bayes log-count ratio on the training rows (Wang & Manning
    # 2012's NBSVM features), computed before training from the train split alone; two classes only
    nb_weight: bool = False
    # fastText (Joulin et al. 2017): n-gram embeddings this wide, averaged over the row's distinct
    # n-grams, then a linear layer to the logits; null: one weight per n-gram and class (linear)
    ngram_dim: int | None = Field(None, ge=1, le=MAX_WIDTH)
    bigrams: bool = True  # false: unigrams alone (no hashed pairs; ngram_buckets unused)
    # Each row's n-gram weights averaged over its distinct n-grams (true), or 0/1 features summed
    # (false: Wang & Manning's binarized f̂, whose logit scale does not shrink with a row's length)
    ngram_average: bool = True

    ignores: ClassVar[tuple[str, ...]] = (*BowConfig.ignores, "dim", "depth")  # one linear layer, no width
    tasks: ClassVar[tuple[str, ...]] = ("classify",)

    def validate_knobs(self) -> None:
        super().validate_knobs()
        refuse_sequence_knobs(self, "a bag of n-grams")


def _recurrent_width(cfg: RecurrentConfig) -> int:
    """Per direction, the hidden state (or its projection); both directions side by side."""
    return (cfg.proj_size or cfg.width) * (2 if cfg.bidirectional else 1)


_RECURRENT = {"module": "suite.models.recurrent:RecurrentEncoder", "family": "recurrent"}


@register_encoder("rnn", **_RECURRENT, width=_recurrent_width)
@register_encoder("gru", **_RECURRENT, width=_recurrent_width)
@register_encoder("lstm", **_RECURRENT, width=_recurrent_width)  # bottom-up: lstm first
class RecurrentConfig(ModelConfig):
    """`depth` layers of an LSTM, GRU or tanh RNN cell, read out at the last (or every) position."""

    encoder: Literal["lstm", "gru", "rnn"] = "lstm"
    hidden_size: int | None = Field(
        None, alias="hidden", ge=1, le=MAX_WIDTH
    )  # the cell's hidden state; None → dim
    bidirectional: bool = False  # a second cell reads right to left; outputs side by side
    proj_size: int = Field(0, ge=0)  # LSTM only: project the hidden state to this width (0: no projection)

    reads_last: ClassVar[bool] = True

    def reads_ahead(self) -> str | None:
        return "bidirectional=true reads right to left too" if self.bidirectional else None

    @property
    def width(self) -> int:
        return self.hidden_size if self.hidden_size is not None else self.dim

    def validate_knobs(self) -> None:
        super().validate_knobs()
        if self.proj_size and self.encoder != "lstm":
            raise ConfigError(f"proj_size applies only to encoder='lstm', not {self.encoder!r}")
        if self.proj_size and not self.proj_size < self.width:
            raise ConfigError(
                f"proj_size must be between 1 and hidden-1 ({self.width - 1}), got {self.proj_size}"
            )


DECODER_POSITIONALS = ("learned", "sinusoidal", "rotary", "alibi", "none")
DECODER_ALIASES = {"rope": "rotary"}  # the classifiers' `positional` knob calls rotary positions "rope"
DECODER_MIXERS = ("attention", "conv")


def check_decoder(*, positional: str, mixer: str, dim: int, heads: int, kernel: str = "sdpa") -> None:
    """Refuse a decoder (suite.models.decoder) that cannot be built, in one line naming the knob;
    here, torch-free, so a study is checked before any model is built."""
    positional = DECODER_ALIASES.get(positional, positional)
    if positional == "alibi" and mixer == "attention" and kernel != "sdpa":
        raise ValueError(
            f"positional='alibi' adds a float bias to the scores, which the kernel registry's boolean masks "
            f"cannot carry; it runs on torch's scaled_dot_product_attention (kernel='sdpa'), not kernel={kernel!r}"
        )
    if positional not in DECODER_POSITIONALS:
        raise ValueError(f"positional={positional!r} is not one of {', '.join(DECODER_POSITIONALS)}")
    if mixer not in DECODER_MIXERS:
        raise ValueError(f"mixer={mixer!r} is not one of {', '.join(DECODER_MIXERS)}")
    if mixer == "conv" and positional in ("rotary", "alibi"):
        raise ValueError(
            f"positional={positional!r} acts inside attention; mixer='conv' has none (use learned, sinusoidal or none)"
        )
    if mixer == "attention" and dim % heads:
        raise ValueError(f"heads={heads} must divide dim={dim}")
    if positional == "rotary" and mixer == "attention" and (dim // heads) % 2:
        raise ValueError(
            f"positional='rotary' needs an even head width; dim={dim} / heads={heads} = {dim // heads}"
        )


# ── next-token models: a prediction at every position, never a pooled one ─────────────────────

# Shared knobs a whole next-token model has no use for (it reads every position, pools nothing).
_LM_IGNORES = (
    "pooling",
    "mask_padding",
    "embedding_dropout",
    "scale_embedding",
    "freeze_embedding",
    "pretrained",
    "input_len",
    "max_len",
)


@register_encoder(
    "decoder",
    module="suite.models.decoder:DecoderLM",
    family="attention",
    whole_model=True,
    per_position=True,
)
class DecoderConfig(ModelConfig):
    """nanoGPT's decoder-only causal model (suite.models.decoder): pre-norm blocks whose token mixer is
    causal attention through the kernel registry or a causal convolution, a final LayerNorm, and a
    linear to the vocabulary at every position (tied to the embedding with tie_embeddings)."""

    encoder: Literal["decoder"] = "decoder"
    # rope = rotary (the classifiers' name); alibi: a per-head distance penalty on the scores
    positional: Literal["none", "learned", "sinusoidal", "rope", "alibi"] = "none"
    heads: int = Field(1, ge=1)
    ffn_mult: int = Field(2, ge=1)  # MLP width = ffn_mult · dim (nanoGPT: 4)
    kernel: str = "sdpa"  # attention kernel, see suite.kernels (alibi needs sdpa)
    mixer: Literal["attention", "conv"] = "attention"  # what mixes positions in each block
    kernel_size: int = Field(3, ge=1)  # mixer=conv: positions each causal filter spans
    dilate: bool = False  # mixer=conv: block i dilates its filter by 2^i (a receptive field of 2^depth·k)
    bias: bool = False  # biases in every linear and LayerNorm (nanoGPT: none)

    ignores: ClassVar[tuple[str, ...]] = _LM_IGNORES
    rope: ClassVar[bool] = True
    tasks: ClassVar[tuple[str, ...]] = ("tokens", "lm")

    def validate_knobs(self) -> None:
        super().validate_knobs()
        try:
            check_decoder(
                positional=self.positional,
                mixer=self.mixer,
                dim=self.dim,
                heads=self.heads,
                kernel=self.kernel,
            )
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if self.mixer == "attention":
            _check_kernel(self.kernel)


@register_encoder(
    "char_rnn",
    module="suite.models.char_rnn:CharRNN",
    family="recurrent",
    whole_model=True,
    per_position=True,
)
class CharRnnConfig(ModelConfig):
    """The course's character model (suite.models.char_rnn): embedding → LSTM/GRU/RNN → a linear to the
    vocabulary at every step, trained with teacher forcing."""

    encoder: Literal["char_rnn"] = "char_rnn"
    cell: Literal["lstm", "gru", "rnn"] = "lstm"
    hidden_size: int | None = Field(None, alias="hidden", ge=1)  # the cell's hidden state; None → dim

    ignores: ClassVar[tuple[str, ...]] = (*_LM_IGNORES, "positional")
    tasks: ClassVar[tuple[str, ...]] = ("tokens", "lm")

    @property
    def width(self) -> int:
        return self.hidden_size if self.hidden_size is not None else self.dim

    def validate_knobs(self) -> None:
        super().validate_knobs()
        if self.positional != "none":
            raise ConfigError(
                f"positional={self.positional!r}: a recurrence has no position table (use none)"
            )
        if self.tie_embeddings and self.width != self.dim:
            raise ConfigError(
                f"tie_embeddings reads logits with the embedding: hidden={self.width} must equal dim={self.dim}"
            )
