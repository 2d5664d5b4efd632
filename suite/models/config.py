"""Every knob of the composable classifier, with its default, in one place.

A variant preset is a name for a handful of these values; a study may override
any of them. `check` refuses impossible combinations before anything runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from suite import identity
from suite.registry import Registry

POSITIONAL = ("none", "learned", "sinusoidal", "rope")
POOLING = ("mean", "last", "max")
SCALES = ("sqrt_d", "none")
NORM_POSITIONS = ("post", "pre")
CONV_PADDINGS = ("same", "valid")

# The knobs a model has keyed since its first committed results; a later knob enters a trial's key
# only away from its default (suite.identity), so adding one never changes an existing key.
KEY_BASELINE = (
    "encoder",
    "dim",
    "positional",
    "max_len",
    "heads",
    "depth",
    "residual",
    "norm",
    "dropout",
    "ffn_mult",
    "hidden",
    "pooling",
    "bidirectional",
    "kernel_size",
    "pool_size",
    "kernel",
)


class ConfigError(ValueError):
    """A model configuration that cannot be built; the message names the key."""


@dataclass(frozen=True)
class Encoder:
    """What the classifier needs to know about an encoder, registered beside its module."""

    name: str
    module: type  # built as module(cfg), called as (x (B, T, D), keep) → (h (B, T', D'), keep)
    family: str = "other"  # "attention" and "recurrent" encoders share their knobs' rules
    width: Callable[[ModelConfig], int] | None = None  # D' of its output; None: cfg.dim
    # A whole classifier of its own, built as module(cfg, vocab_size, num_classes, pad_id) (bag of words).
    whole_model: bool = False


ENCODERS = Registry("encoder")  # the one list of encoders: name → Encoder


def register_encoder(name: str, **traits: Any) -> Callable[[type], type]:
    """`@register_encoder("lstm", family="recurrent")` on an encoder's nn.Module class."""

    def decorator(module: type) -> type:
        encoder = Encoder(name, module, **traits)
        ENCODERS.register(name)(lambda: encoder)
        return module

    return decorator


def encoder(name: str) -> Encoder:
    import suite.models  # noqa: F401 - its modules register the built-in encoders

    return ENCODERS.create(name)


def family(name: str) -> str | None:
    return encoder(name).family if name in encoder_names() else None


def encoder_names() -> list[str]:
    import suite.models  # noqa: F401

    return list(ENCODERS._entries)


@dataclass(frozen=True)
class ModelConfig:
    encoder: str = "mlp"  # a registered encoder (`ablate list variants` names them)
    dim: int = 32  # token embedding width
    positional: str = "none"  # one of POSITIONAL
    max_len: int | None = None  # size of the learned position table; None → dataset length
    heads: int = 1  # attention heads (attention encoders only)
    depth: int = 1  # number of encoder blocks / LSTM layers / conv layers
    residual: bool = True  # skip connections around attention and MLP blocks
    attn_residual: bool | None = None  # the skip around attention alone; None → residual
    mlp_residual: bool | None = None  # the skip in the MLP / feed-forward alone; None → residual
    norm: bool = False  # LayerNorm after each residual (post-norm, as the Neuromatch block)
    dropout: float = 0.0
    ffn_mult: int = 2  # transformer feed-forward width = ffn_mult · dim
    hidden: int | None = None  # LSTM hidden size, conv channels, bag-of-words MLP width; None → dim
    pooling: str = "mean"  # one of POOLING
    bidirectional: bool = False  # LSTM only
    kernel_size: int = 3  # conv1d only
    pool_size: int = 2  # conv1d max-pool between layers
    kernel: str = "sdpa"  # attention kernel, see suite.kernels
    # False: padding is an ordinary token (trainable embedding, attended to, averaged over), as in
    # models without masks (the lecture's GlobalAveragePooling1D, the Neuromatch transformer)
    mask_padding: bool = True
    embedding_dropout: float | None = None  # dropout after embedding + positions; None → dropout
    freeze_embedding: bool = False  # the token embedding is not trained (pretrained vectors)
    scale_embedding: bool = False  # multiply the token embeddings by √dim (Neuromatch Transformer)
    pretrained: str | None = None  # token vectors to start from, see suite.data.glove (e.g. glove.6B.300d)
    attn_dropout: float = 0.0  # dropout on the attention weights (Neuromatch DotProductAttention)
    scale: str = "sqrt_d"  # attention scores divided by √head_dim, or not scaled ("none")
    causal: bool = False  # each position attends only to itself and earlier positions
    head_dim: int | None = None  # width of each attention head; None → dim / heads
    qkv_bias: bool = True  # bias on the query, key and value projections
    norm_position: str = "post"  # LayerNorm after each residual (post) or before each sublayer (pre)
    conv_padding: str = "same"  # conv1d: "same" keeps the length, "valid" (Keras' default) shrinks it
    proj_size: int = 0  # LSTM only: project the hidden state to this width (0: no projection)
    # Read only the last input_len tokens of each row: on pre-padded rows, Keras'
    # pad_sequences(maxlen=input_len) (truncating="pre"), so models of one study can read one dataset
    input_len: int | None = None
    ngram_buckets: int = 2**18  # ngram only: hash slots for the bigrams (suite.models.ngram)

    def replace(self, **overrides: Any) -> ModelConfig:
        unknown = sorted(set(overrides) - set(field_names()))
        if unknown:
            raise ConfigError(f"unknown model parameter {unknown[0]!r}; allowed: {', '.join(field_names())}")
        return dataclasses.replace(self, **overrides)

    def as_dict(self) -> dict[str, Any]:
        """Every knob, defaults included: what a trial carries (all scalars: a shallow copy)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_dict(self) -> dict[str, Any]:
        """The knobs as a trial's key sees them (suite.identity): later knobs only when set."""
        return identity.section(self.as_dict(), defaults(), KEY_BASELINE)

    @property
    def skips(self) -> tuple[bool, bool]:
        """(skip around attention, skip in the MLP), each falling back to `residual`."""
        attn = self.residual if self.attn_residual is None else self.attn_residual
        mlp = self.residual if self.mlp_residual is None else self.mlp_residual
        return attn, mlp

    @property
    def width(self) -> int:
        return self.hidden if self.hidden is not None else self.dim

    @property
    def head_width(self) -> int:
        return self.head_dim if self.head_dim is not None else self.dim // self.heads

    @property
    def input_dropout(self) -> float:
        return self.dropout if self.embedding_dropout is None else self.embedding_dropout

    def _check_new_knobs(self, seq_len: int) -> None:
        """The knobs that reproduce the course's models: each applies to some encoders only."""
        attention = family(self.encoder) == "attention"
        any_attention = attention or self.encoder == "plain_attention"
        for name in ("attn_dropout", "scale", "causal"):
            if getattr(self, name) != defaults()[name] and not any_attention:
                raise ConfigError(f"{name} applies only to attention encoders, not encoder={self.encoder!r}")
        for name in ("head_dim", "qkv_bias"):
            if getattr(self, name) != defaults()[name] and not attention:
                raise ConfigError(f"{name} applies only to attention encoders, not encoder={self.encoder!r}")
        if self.head_dim is not None and self.head_dim < 1:
            raise ConfigError(f"head_dim must be ≥ 1 or null, got {self.head_dim}")
        if self.norm_position == "pre" and self.encoder != "transformer":
            raise ConfigError(
                f"norm_position='pre' applies only to encoder='transformer', not {self.encoder!r}"
            )
        if self.norm_position == "pre" and not self.norm:
            raise ConfigError("norm_position='pre' needs norm=true (there is no LayerNorm to move)")
        if self.conv_padding != "same" and self.encoder != "conv1d":
            raise ConfigError(f"conv_padding applies only to encoder='conv1d', not {self.encoder!r}")
        if self.proj_size:
            if self.encoder != "lstm":
                raise ConfigError(f"proj_size applies only to encoder='lstm', not {self.encoder!r}")
            if not 0 < self.proj_size < self.width:
                raise ConfigError(
                    f"proj_size must be between 1 and hidden-1 ({self.width - 1}), got {self.proj_size}"
                )
        if self.input_len is not None:
            if self.encoder == "bow":
                raise ConfigError("input_len: a bag of words reads every token; set the dataset's max_len")
            if not 1 <= self.input_len <= seq_len:
                raise ConfigError(
                    f"input_len must be between 1 and the dataset's length {seq_len}, got {self.input_len}"
                )
        if self.encoder == "bow" and (self.freeze_embedding or self.pretrained):
            raise ConfigError("a bag of words has no token embedding to freeze or load")
        if self.pretrained is not None:
            from suite.data import glove

            try:
                width = glove.dimension(self.pretrained)
            except ValueError as err:
                raise ConfigError(str(err)) from None
            if width != self.dim:
                raise ConfigError(f"pretrained={self.pretrained!r} vectors are {width} wide; set dim={width}")
        if self.attn_dropout and self.kernel == "chunked":
            raise ConfigError(
                "attn_dropout needs a kernel that forms the weights (not chunked): naive, sdpa, …"
            )
        if self.encoder == "plain_attention" and self.positional == "rope":
            raise ConfigError("positional='rope' needs query and key projections; plain_attention has none")

    def check(self, *, vocab_size: int, seq_len: int) -> None:
        """Refuse what cannot be built or would silently mean nothing."""
        _check_types(self)
        _one_of("encoder", self.encoder, tuple(encoder_names()))
        _one_of("positional", self.positional, POSITIONAL)
        _one_of("pooling", self.pooling, POOLING)
        for name in ("dim", "depth", "heads", "ffn_mult", "kernel_size", "pool_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.hidden is not None and self.hidden < 1:
            raise ConfigError(f"hidden must be ≥ 1 or null, got {self.hidden}")
        for name in ("dropout", "embedding_dropout", "attn_dropout"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {value}")
        _one_of("scale", self.scale, SCALES)
        _one_of("norm_position", self.norm_position, NORM_POSITIONS)
        _one_of("conv_padding", self.conv_padding, CONV_PADDINGS)
        self._check_new_knobs(seq_len)
        attention = family(self.encoder) == "attention"
        if self.attn_residual is not None and not attention:
            raise ConfigError(
                f"attn_residual applies only to attention encoders, not encoder={self.encoder!r}"
            )
        if self.mlp_residual is not None and self.encoder != "mlp" and family(self.encoder) != "attention":
            raise ConfigError(f"mlp_residual has no MLP skip to act on in encoder={self.encoder!r}")
        if self.heads != 1 and not attention:
            raise ConfigError(
                f"heads={self.heads} applies only to attention encoders "
                f"({', '.join(n for n in encoder_names() if family(n) == 'attention')}), "
                f"not encoder={self.encoder!r}"
            )
        if attention and self.head_dim is None and self.dim % self.heads:
            raise ConfigError(f"heads={self.heads} must divide dim={self.dim}")
        if self.positional == "rope":
            if not attention:
                raise ConfigError(
                    f"positional='rope' rotates attention queries and keys; "
                    f"encoder={self.encoder!r} has no attention (use none, learned or sinusoidal)"
                )
            if self.head_width % 2:
                raise ConfigError(f"positional='rope' needs an even head width, got {self.head_width}")
        if self.encoder in ("bow", "ngram") and self.positional != "none":
            raise ConfigError(f"a bag of words has no positions: {self.encoder} needs positional='none'")
        if self.ngram_buckets < 1:
            raise ConfigError(f"ngram_buckets must be ≥ 1, got {self.ngram_buckets}")
        if self.bidirectional and family(self.encoder) != "recurrent":
            raise ConfigError(
                f"bidirectional applies only to recurrent encoders (lstm, gru, rnn), not {self.encoder!r}"
            )
        if self.pooling == "last" and family(self.encoder) != "recurrent":
            raise ConfigError(
                f"pooling='last' applies only to recurrent encoders (lstm, gru, rnn), not {self.encoder!r}"
            )
        if (
            self.positional == "learned"
            and self.max_len is not None
            and self.max_len < min(seq_len, self.input_len or seq_len)
        ):
            raise ConfigError(
                f"max_len={self.max_len} is shorter than the dataset's sequence length {seq_len}"
            )
        if self.encoder == "conv1d":
            remaining = min(seq_len, self.input_len or seq_len)
            shrink = self.kernel_size - 1 if self.conv_padding == "valid" else 0
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
        if attention:
            from suite import kernels

            if self.kernel not in kernels.REGISTRY:
                raise ConfigError(f"kernel: {kernels.REGISTRY.unknown_message(self.kernel)}")


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(ModelConfig)]


def defaults() -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(ModelConfig)}


def _one_of(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(allowed)}")


_TYPES = {"int": int, "float": (int, float), "bool": bool, "str": str}


def _check_types(cfg: ModelConfig) -> None:
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        base, _, optional = str(f.type).partition(" | ")
        if value is None and optional == "None":
            continue
        expected = _TYPES[base]
        wrong_bool = isinstance(value, bool) and base in ("int", "float")
        if wrong_bool or not isinstance(value, expected):
            allowed = f"{base} or null" if optional else base
            raise ConfigError(f"{f.name} must be {allowed}, got {value!r}")
