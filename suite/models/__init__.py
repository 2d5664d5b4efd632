"""The variant registry: named presets of one composable classifier (`suite.models.variants`).

@register_variant("attention")
def attention(**overrides) -> ModelConfig: return parse({"encoder": "attention", ...}, **overrides)

create("attention", vocab_size=5, seq_len=3, positional="none")  # an nn.Module
resolve("attention", heads=2)                                    # its AttentionConfig

Presets and configurations need no torch; the nn.Module code is imported when a model is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from suite.models.config import ConfigError, ModelConfig, parse
from suite.registry import Registry

if TYPE_CHECKING:
    from torch import nn

REGISTRY = Registry("variant")
register_variant = REGISTRY.register


def resolve(name: str, **overrides: Any) -> ModelConfig:
    """The preset's configuration with overrides applied (checked against the dataset by `create`)."""
    return REGISTRY.create(name, **overrides)


def create(
    name: str,
    *,
    vocab_size: int,
    seq_len: int,
    num_classes: int = 2,
    pad_id: int | None = None,
    **overrides: Any,
) -> nn.Module:
    cfg = resolve(name, **overrides)
    cfg.check(vocab_size=vocab_size, seq_len=seq_len)
    return build(cfg, vocab_size=vocab_size, seq_len=seq_len, num_classes=num_classes, pad_id=pad_id)


def build(
    cfg: ModelConfig, *, vocab_size: int, seq_len: int, num_classes: int, pad_id=None, task: str = "classify"
) -> nn.Module:
    """The model a checked configuration describes (imports torch and the model code); its head
    follows the dataset's task (suite.data.registry.TASKS)."""
    from suite.models.classifier import build as build_model

    return build_model(
        cfg, vocab_size=vocab_size, seq_len=seq_len, num_classes=num_classes, pad_id=pad_id, task=task
    )


def list() -> list[str]:  # noqa: A001 - the registry API reads best as models.list()
    return REGISTRY.list()


from suite.models import encoders, variants  # noqa: E402,F401  (register the built-ins)

__all__ = [
    "REGISTRY",
    "ConfigError",
    "ModelConfig",
    "build",
    "create",
    "list",
    "parse",
    "register_variant",
    "resolve",
]
