"""Every knob of the composable classifier, with its default, in one place.

A variant preset is a name for a handful of these values; a study may override
any of them. `check` refuses impossible combinations before anything runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

ENCODERS = ("mlp", "attention", "transformer", "lstm", "conv1d", "bow")
POSITIONAL = ("none", "learned", "sinusoidal", "rope")
POOLING = ("mean", "last", "max")
ATTENTION_ENCODERS = ("attention", "transformer")


KEYED_ONLY_WHEN_SET = ("attn_residual", "mlp_residual")


class ConfigError(ValueError):
    """A model configuration that cannot be built; the message names the key."""


@dataclass(frozen=True)
class ModelConfig:
    encoder: str = "mlp"  # one of ENCODERS
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

    def replace(self, **overrides: Any) -> ModelConfig:
        unknown = sorted(set(overrides) - set(field_names()))
        if unknown:
            raise ConfigError(f"unknown model parameter {unknown[0]!r}; allowed: {', '.join(field_names())}")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration; knobs added after results existed are left out
        while at their default, so the keys of those results stay valid."""
        out = dataclasses.asdict(self)
        for name in KEYED_ONLY_WHEN_SET:
            if out[name] is None:
                del out[name]
        return out

    @property
    def skips(self) -> tuple[bool, bool]:
        """(skip around attention, skip in the MLP), each falling back to `residual`."""
        attn = self.residual if self.attn_residual is None else self.attn_residual
        mlp = self.residual if self.mlp_residual is None else self.mlp_residual
        return attn, mlp

    @property
    def width(self) -> int:
        return self.hidden if self.hidden is not None else self.dim

    def check(self, *, vocab_size: int, seq_len: int) -> None:
        """Refuse what cannot be built or would silently mean nothing."""
        _check_types(self)
        _one_of("encoder", self.encoder, ENCODERS)
        _one_of("positional", self.positional, POSITIONAL)
        _one_of("pooling", self.pooling, POOLING)
        for name in ("dim", "depth", "heads", "ffn_mult", "kernel_size", "pool_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.hidden is not None and self.hidden < 1:
            raise ConfigError(f"hidden must be ≥ 1 or null, got {self.hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        attention = self.encoder in ATTENTION_ENCODERS
        if self.attn_residual is not None and not attention:
            raise ConfigError(
                f"attn_residual applies only to attention encoders, not encoder={self.encoder!r}"
            )
        if self.mlp_residual is not None and self.encoder not in ("mlp", *ATTENTION_ENCODERS):
            raise ConfigError(f"mlp_residual has no MLP skip to act on in encoder={self.encoder!r}")
        if self.heads != 1 and not attention:
            raise ConfigError(
                f"heads={self.heads} applies only to attention encoders "
                f"({', '.join(ATTENTION_ENCODERS)}), not encoder={self.encoder!r}"
            )
        if attention and self.dim % self.heads:
            raise ConfigError(f"heads={self.heads} must divide dim={self.dim}")
        if self.positional == "rope":
            if not attention:
                raise ConfigError(
                    f"positional='rope' rotates attention queries and keys; "
                    f"encoder={self.encoder!r} has no attention (use none, learned or sinusoidal)"
                )
            if (self.dim // self.heads) % 2:
                raise ConfigError(
                    f"positional='rope' needs an even head width; dim/heads = "
                    f"{self.dim}/{self.heads} = {self.dim // self.heads}"
                )
        if self.encoder == "bow" and self.positional != "none":
            raise ConfigError("a bag of words has no positions: bow needs positional='none'")
        if self.bidirectional and self.encoder != "lstm":
            raise ConfigError(f"bidirectional applies only to encoder='lstm', not {self.encoder!r}")
        if self.pooling == "last" and self.encoder not in ("lstm",):
            raise ConfigError(f"pooling='last' applies only to encoder='lstm', not {self.encoder!r}")
        if self.positional == "learned" and self.max_len is not None and self.max_len < seq_len:
            raise ConfigError(
                f"max_len={self.max_len} is shorter than the dataset's sequence length {seq_len}"
            )
        if self.encoder == "conv1d":
            remaining = seq_len
            for _ in range(self.depth - 1):
                remaining //= self.pool_size
            if remaining < 1:
                raise ConfigError(
                    f"conv1d with depth={self.depth} and pool_size={self.pool_size} pools a "
                    f"length-{seq_len} sequence away; lower depth or pool_size"
                )
        if attention:
            from suite import kernels

            if self.kernel not in kernels.REGISTRY:
                raise ConfigError(f"kernel: {kernels.REGISTRY.unknown_message(self.kernel)}")


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(ModelConfig)]


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
