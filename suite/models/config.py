"""A model's configuration: the knobs every encoder shares, plus its encoder's own.

`ModelConfig` holds the shared knobs. Each encoder declares its own knobs in a subclass and
registers it with its module: the built-ins in `suite.models.encoders`, naming the module that
builds each, which is imported only when a model is built (so loading, listing and checking
studies need no torch); a plugin on its own nn.Module class (`@register_encoder("gated",
config=GatedConfig)`). A configuration is one of these classes, picked by `encoder` (a pydantic
discriminated union), so types, defaults and messages come from pydantic. `validate_knobs` refuses
impossible combinations as soon as a configuration is made; `check` what only the dataset can tell.

Trials carry, and keys are made from, one flat dict of knobs (`as_dict`), as before the split.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal, Union, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticUndefined

from suite import identity
from suite.registry import Registry

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


def _keep_int(value: Any, handler: Callable[[Any], Any]) -> Any:
    checked = handler(value)
    return value if type(value) is int else checked  # `dropout: 0` stays 0: keys tell 0 from 0.0


MAX_WIDTH = 2**16  # any width (dim, hidden, head_dim): one layer of 2**17 is 64 GiB of float32 weights
MAX_DEPTH = 1024


def _probability(value: float) -> float:
    if not 0.0 <= value < 1.0:
        raise ValueError("must be in [0, 1)")
    return value


Rate = Annotated[float, AfterValidator(_probability), WrapValidator(_keep_int)]  # a dropout probability


class ModelConfig(BaseModel):
    """The knobs of the classifier around the encoder, which every encoder shares."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, validate_by_name=True)

    encoder: str = "mlp"  # a registered encoder (`ablate list variants` names them)
    dim: int = Field(32, ge=1, le=MAX_WIDTH)  # token embedding width
    positional: Literal["none", "learned", "sinusoidal", "rope"] = "none"  # rope: attention encoders only
    max_len: int | None = None  # size of the learned position table; None → dataset length
    depth: int = Field(1, ge=1, le=MAX_DEPTH)  # number of encoder blocks / layers
    dropout: Rate = 0.0  # dropout probability in the encoder (and after the embedding, see below)
    pooling: Literal["mean", "last", "max"] = "mean"  # the outputs → one vector; last: recurrent only
    # False: padding is an ordinary token (trainable embedding, attended to, averaged over), as in
    # models without masks (the lecture's GlobalAveragePooling1D, the Neuromatch transformer)
    mask_padding: bool = True
    embedding_dropout: Rate | None = None  # dropout after embedding + positions; None → dropout
    freeze_embedding: bool = False  # the token embedding is not trained (pretrained vectors)
    scale_embedding: bool = False  # multiply the token embeddings by √dim (Neuromatch Transformer)
    pretrained: str | None = None  # token vectors to start from, see suite.data.glove (e.g. glove.6B.300d)
    # Read only the last input_len tokens of each row: on pre-padded rows, Keras'
    # pad_sequences(maxlen=input_len) (truncating="pre"), so models of one study can read one dataset
    input_len: int | None = None
    # A per-position head (task tokens or lm) that reuses the token embedding's weights (press & wolf)
    tie_embeddings: bool = False
    # Dropout on the pooled vector, just before the head (Kim 2014's "dropout on the penultimate
    # layer"); `dropout` acts inside the encoder, where before max-over-time pooling it rarely bites
    head_dropout: Rate = 0.0
    # Kim 2014's constraint: after each optimizer step, every output unit's weight vector in the head
    # is rescaled to l2 norm ≤ head_max_norm (his s = 3); None: unconstrained
    head_max_norm: float | None = Field(None, gt=0)
    # Draw the token embedding from U[−a, a] (Kim 2014's random vectors: a = 0.25) instead of
    # torch's N(0, 1); PAD's row stays zero where padding is masked
    embedding_uniform: float | None = Field(None, gt=0)

    # Shared knobs this encoder's model never reads. A study refuses them on such a variant's own
    # entry (set there, they would silently mean nothing); from its `model:` section, which applies
    # to every variant, they reach only the variants that read them (suite.study).
    ignores: ClassVar[tuple[str, ...]] = ()
    rope: ClassVar[bool] = False  # the encoder has attention queries and keys to rotate
    reads_last: ClassVar[bool] = False  # its output may be read at the last position (pooling="last")
    # The dataset tasks (suite.data.registry.TASKS) its model can be trained on: a whole next-token
    # model only per position, a bag of words only per sequence (`check_task`).
    tasks: ClassVar[tuple[str, ...]] = ("classify", "tokens", "lm")

    @model_validator(mode="after")
    def _combinations(self) -> ModelConfig:
        if type(self) is ModelConfig:
            raise TypeError("ModelConfig holds the shared knobs only; use models.config.parse({...})")
        self.validate_knobs()
        return self

    def validate_knobs(self) -> None:
        """Refuse what cannot be built or would silently mean nothing (an encoder's class extends it)."""
        if self.positional == "rope" and not self.rope:
            raise ConfigError(
                f"positional='rope' rotates attention queries and keys; encoder={self.encoder!r} "
                f"has none (use none, learned or sinusoidal)"
            )
        if self.pooling == "last" and not self.reads_last:
            readers = [n for n in encoder_names() if encoder(n).config.reads_last]
            raise ConfigError(
                f"pooling='last' applies only to recurrent encoders ({', '.join(readers)}), "
                f"not {self.encoder!r}"
            )

    def check(self, *, vocab_size: int, seq_len: int) -> None:
        """Refuse what the dataset makes impossible (an encoder's class may extend it)."""
        if self.input_len is not None and not 1 <= self.input_len <= seq_len:
            raise ConfigError(
                f"input_len must be between 1 and the dataset's length {seq_len}, got {self.input_len}"
            )
        if self.positional == "learned" and self.max_len is not None and self.max_len < self.length(seq_len):
            raise ConfigError(
                f"max_len={self.max_len} is shorter than the dataset's sequence length {seq_len}"
            )
        if self.pretrained is not None:
            from suite.data import glove

            try:
                width = glove.dimension(self.pretrained)
            except ValueError as err:
                raise ConfigError(str(err)) from None
            if width != self.dim:
                raise ConfigError(f"pretrained={self.pretrained!r} vectors are {width} wide; set dim={width}")

    def check_task(self, task: str) -> None:
        """Refuse a model whose head does not fit the dataset's task: a classifier of whole
        sequences on per-position targets or a next-token model on one label per sequence, and a
        model that reads later positions on next-token prediction (it would read the answer)."""
        if task not in self.tasks:
            what = "one label per sequence" if task == "classify" else "a target at every position"
            can = (
                "a prediction at every position" if "classify" not in self.tasks else "one label per sequence"
            )
            raise ConfigError(
                f"encoder={self.encoder!r} gives {can} (tasks {', '.join(self.tasks)}); the dataset's task "
                f"{task!r} asks for {what}"
            )
        if task == "lm" and (why := self.reads_ahead()):
            raise ConfigError(f"task 'lm' predicts the next token, but {why}: it would read the answer")

    def reads_ahead(self) -> str | None:
        """Why this model's output at position t reads positions after t (None: it does not)."""
        return None

    def reads_padding(self) -> bool:
        """Whether this encoder's output at a kept position can read a padded one when padding is
        masked (the classifier cuts a batch's all-padding columns only where it cannot: True, the
        safe answer, unless an encoder says otherwise)."""
        return True

    def length(self, seq_len: int) -> int:
        """How many tokens of a dataset row the encoder reads."""
        return min(seq_len, self.input_len or seq_len)

    @property
    def input_dropout(self) -> float:
        return self.dropout if self.embedding_dropout is None else self.embedding_dropout

    @classmethod
    def knobs(cls) -> dict[str, str]:
        """This class's knobs as studies spell them (a field's alias: `hidden`) → field name."""
        return {field.alias or name: name for name, field in cls.model_fields.items()}

    @classmethod
    def knob_defaults(cls) -> dict[str, Any]:
        """This class's knobs as studies spell them → their defaults (None for a knob without one)."""
        fields = cls.model_fields
        defaults = {
            name: fields[name].get_default(call_default_factory=True) for name in cls.knobs().values()
        }
        return {
            key: None if defaults[name] is PydanticUndefined else defaults[name]
            for key, name in cls.knobs().items()
        }

    def as_dict(self) -> dict[str, Any]:
        """The flat dict a trial carries and its key is made from (suite.identity): this encoder's
        knobs by their study spelling (`hidden`, not `hidden_size`), plus each KEY_BASELINE knob it
        lacks at the default the flat ModelConfig of the committed results gave it (`heads=1` on
        an LSTM), so their keys stay. Other encoders' knobs are left out: a worker that never
        imported a plugin encoder can still rebuild every other trial's configuration."""
        own = {key: getattr(self, name) for key, name in self.knobs().items()}
        baseline = {key: value for key, value in defaults().items() if key in KEY_BASELINE}
        return {**baseline, **own}

    def to_dict(self) -> dict[str, Any]:
        """The knobs as a trial's key sees them (suite.identity): later knobs only when set."""
        return identity.section(self.as_dict(), defaults(), KEY_BASELINE)


@dataclass(frozen=True)
class Encoder:
    """What the classifier needs to know about an encoder."""

    name: str
    # Its nn.Module class, or where it is ("suite.models.conv:ConvEncoder"), imported when first built.
    # Built as module(cfg), called as (x (B, T, D), keep) → (h (B, T', D'), keep).
    location: type | str
    config: type[ModelConfig]  # its knobs: ModelConfig's plus its own
    family: str = "other"  # "attention", "recurrent", …: how messages group encoders
    width: Callable[[Any], int] | None = None  # D' of its output; None: cfg.dim
    # A whole classifier of its own, built as module(cfg, vocab_size, num_classes, pad_id) (bag of words);
    # with per_position, a whole next-token model built as module.from_config(cfg, vocab_size=, seq_len=).
    whole_model: bool = False
    per_position: bool = False

    @property
    def module(self) -> type:
        if isinstance(self.location, str):
            path, _, name = self.location.partition(":")
            return getattr(importlib.import_module(path), name)
        return self.location


ENCODERS = Registry("encoder")  # the one list of encoders: name → Encoder


def register_encoder(
    name: str, config: type[ModelConfig] | None = None, *, module: str | None = None, **traits: Any
) -> Callable[[type], type]:
    """Register an encoder from either side:

    - `@register_encoder("gated", config=GatedConfig, family="other")` on its nn.Module class;
    - `@register_encoder("lstm", module="suite.models.recurrent:RecurrentEncoder")` on its config
      class, naming the module that builds it, imported only when a model is built (the built-ins).

    The config declares the encoder's own knobs: a ModelConfig subclass whose `encoder` field is a
    Literal naming it; without one the encoder takes the shared knobs only."""

    if module is not None and config is not None:
        raise TypeError(
            f"register_encoder({name!r}): give config= (on the nn.Module) or module= (on the config), not both"
        )

    def decorator(target: type) -> type:
        cls, location = (target, module) if module is not None else (config, target)
        if cls is None:
            from pydantic import create_model

            cls = create_model(f"{name.title()}Config", __base__=ModelConfig, encoder=(Literal[name], name))
        if name not in get_args(cls.model_fields["encoder"].annotation):
            raise TypeError(f"{cls.__name__}.encoder must be a Literal that includes {name!r}")
        if unknown := set(cls.ignores) - set(ModelConfig.model_fields):
            raise TypeError(
                f"{cls.__name__}.ignores names {sorted(unknown)}: it lists shared ModelConfig knobs only"
            )
        known = defaults()
        for key, field in cls.knobs().items():
            default = cls.model_fields[field].default
            if key != "encoder" and key in known and not identity.at_default(default, known[key]):
                raise TypeError(f"{cls.__name__}.{field}: default {default!r}, elsewhere {known[key]!r}")
        entry = Encoder(name, location, cls, **traits)
        ENCODERS.register(name)(lambda: entry)
        _union.cache_clear()
        _defaults.cache_clear()
        return target

    return decorator


def encoder(name: str) -> Encoder:
    import suite.models  # noqa: F401 - its modules register the built-in encoders

    return ENCODERS.create(name)


def family(name: str) -> str | None:
    return encoder(name).family if name in encoder_names() else None


def encoder_names() -> list[str]:
    import suite.models  # noqa: F401

    return list(ENCODERS._entries)


def _configs() -> list[type[ModelConfig]]:
    classes = [ENCODERS._entries[n]().config for n in ENCODERS._entries]
    return list(dict.fromkeys(classes))  # lstm, gru and rnn share one


def defaults() -> dict[str, Any]:
    """Every knob of every registered encoder with its default, in one flat dict (the key's schema)."""
    return dict(_defaults())


@lru_cache(maxsize=1)  # cleared when an encoder registers: every trial's key reads it
def _defaults() -> dict[str, Any]:
    out = {"encoder": ModelConfig.model_fields["encoder"].default}
    for cls in [ModelConfig, *_configs()]:
        for key, default in cls.knob_defaults().items():
            out.setdefault(key, default)
    return out


def field_names() -> list[str]:
    return list(defaults())


def owners(key: str) -> str:
    """Which encoders have a knob, for a message: "attention encoders (attention, transformer)"."""
    names = [n for n in encoder_names() if key in encoder(n).config.knobs()]
    families = {family(n) for n in names}
    if len(families) == 1 and families != {"other"} and len(names) > 1:
        return f"{families.pop()} encoders ({', '.join(names)})"
    return f"encoder={names[0]!r}" if len(names) == 1 else f"encoders {', '.join(names)}"


@lru_cache(maxsize=1)
def _union() -> TypeAdapter:
    return TypeAdapter(Annotated[Union[tuple(_configs())], Field(discriminator="encoder")])  # noqa: UP007


def parse(values: Mapping[str, Any] | None = None, /, **overrides: Any) -> ModelConfig:
    """The configuration a flat dict of knobs describes (a study's keys, a preset's, a trial's
    `model`): validated by the encoder's class. A knob the encoder lacks is refused, unless it is
    at its default (a trial's flat dict carries the key baseline: `heads=1` on an LSTM)."""
    values = {"encoder": defaults()["encoder"], **(values or {}), **overrides}
    name = values["encoder"]
    if name not in encoder_names():
        raise ConfigError(f"encoder: {ENCODERS.unknown_message(name)}")
    cls, known = encoder(name).config, defaults()
    own, fields = cls.knobs(), {}
    for key, value in values.items():
        if key in own:
            fields[own[key]] = value
        elif key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown model parameter {key!r}{hint}; allowed: {', '.join(known)}")
        elif not identity.at_default(value, known[key]):
            raise ConfigError(f"{key}={value!r} applies only to {owners(key)}, not encoder={name!r}")
    try:
        return _union().validate_python(fields)
    except ValidationError as err:
        raise ConfigError(_one_line(err, cls)) from None


_EXPECTED = {
    "int_type": "int",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
}


_BOUNDS = {"greater_than_equal": ("ge", "≥"), "greater_than": ("gt", ">"), "less_than": ("lt", "<")}


def _one_line(err: ValidationError, cls: type[ModelConfig]) -> str:
    """pydantic's first complaint as one line naming the key and what would be valid."""
    first = err.errors(include_url=False)[0]
    error = first.get("ctx", {}).get("error")
    if first["type"] == "value_error" and isinstance(error, ConfigError):
        return str(error)
    loc = [part for part in first["loc"][1:] if isinstance(part, str)]  # [0] is the union's tag
    field = loc[0] if loc else "model"
    key = cls.model_fields[field].alias or field if field in cls.model_fields else field
    value = first.get("input")
    if first["type"] in _EXPECTED:
        optional = field in cls.model_fields and cls.model_fields[field].default is None
        return f"{key} must be {_EXPECTED[first['type']]}{' or null' if optional else ''}, got {value!r}"
    if first["type"] == "value_error":
        return f"{key} {error}, got {value!r}"
    if first["type"] in _BOUNDS:
        bound, sign = _BOUNDS[first["type"]]
        return f"{key} must be {sign} {first['ctx'][bound]}, got {value!r}"
    if first["type"] == "literal_error":
        return f"{key}={value!r} is not one of {first['ctx']['expected']}"
    return f"{key}={value!r}: {first['msg'][0].lower()}{first['msg'][1:]}"
