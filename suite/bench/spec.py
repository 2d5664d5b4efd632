"""Kernel studies (`kind: kernels`): kernels × T × shapes × modes × devices, no variants or datasets.

`load_study` hands a file with `kind: kernels` here; the result behaves like a
training study for the CLI and the runner (name, description, trials()), and its
trials carry `kind = "kernels"` so the runner sends them to `suite.bench.run`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from suite import kernels
from suite.bench.cases import MODES, Shape
from suite.study import StudyError, _key_path, check_devices, config_key


class ShapeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch: int = Field(ge=1)
    heads: int = Field(ge=1)
    head_dim: int = Field(ge=1)


class KernelMeasureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    warmup: int = Field(1, ge=0)  # untimed calls before timing
    repeats: int = Field(5, ge=3)  # timed calls at least; median and IQR are reported
    min_seconds: float = Field(0.2, ge=0)  # short calls are repeated until they add up to this
    memory: bool = True  # measured peak memory of one call
    gemm_size: int = Field(2048, ge=16)  # the n of the n³ GEMM kernels are reported against


class KernelStudySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["kernels"]
    description: str = Field(min_length=1)
    kernels: list[str] = Field(min_length=1)
    seq_lens: list[int] = Field(min_length=1)
    shapes: list[ShapeSpec] = Field(min_length=1)
    modes: list[Literal["forward", "forward_backward"]] = list(MODES)
    devices: list[str] = ["cpu"]
    dtype: Literal["float32", "float64", "float16", "bfloat16"] = "float32"
    causal: bool = False
    threads: int | None = Field(None, ge=1)  # torch threads on CPU; None: torch's default
    seed: int = 0  # of the random inputs
    measure: KernelMeasureSpec = KernelMeasureSpec()

    @field_validator("kernels")
    @classmethod
    def _kernels(cls, v):
        for name in v:
            if name not in kernels.REGISTRY:
                raise ValueError(kernels.REGISTRY.unknown_message(name))
        if len(set(v)) != len(v):
            raise ValueError("list each kernel once")
        return v

    @field_validator("seq_lens")
    @classmethod
    def _seq_lens(cls, v):
        if any(t < 1 for t in v) or len(set(v)) != len(v):
            raise ValueError("sequence lengths must be ≥ 1 and listed once")
        return v

    @field_validator("devices")
    @classmethod
    def _devices(cls, v):
        return check_devices(v)


SECTIONS = {(): KernelStudySpec, ("measure",): KernelMeasureSpec, ("shapes",): ShapeSpec}


@dataclass(frozen=True)
class KernelTrial:
    """One kernel × shape × T × mode × device: what `suite.bench.run` needs, nothing more."""

    kind: ClassVar[str] = "kernels"

    study: str
    kernel: str
    batch: int
    heads: int
    seq_len: int
    head_dim: int
    mode: str
    device: str
    dtype: str
    causal: bool
    threads: int | None
    seed: int
    measure: dict[str, Any]

    @property
    def shape(self) -> Shape:
        return Shape(self.batch, self.heads, self.seq_len, self.head_dim)

    # The names a training trial shows in progress bars and generic tables.
    @property
    def variant(self) -> str:
        return self.kernel

    @property
    def dataset(self) -> str:
        return f"{self.shape.label} {self.mode}"

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind} | {k: v for k, v in self.__dict__.items() if k != "study"}

    @property
    def key(self) -> str:
        return config_key(self.config())


@dataclass
class KernelStudy:
    name: str
    path: Path
    spec: KernelStudySpec
    kind: ClassVar[str] = "kernels"
    _trials: list[KernelTrial] = field(default_factory=list, repr=False)

    @property
    def description(self) -> str:
        return self.spec.description.strip()

    def trials(self) -> list[KernelTrial]:
        return list(self._trials)

    def meta(self) -> dict[str, Any]:
        """What the store keeps beside the rows, for the report (which never reads the YAML)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "keys": [t.key for t in self._trials],
            "kernels": self.spec.kernels,
            "spec": self.spec.model_dump(),
        }


def load_kernel_study(path: Path, raw: dict, name: str | None = None) -> KernelStudy:
    try:
        spec = KernelStudySpec.model_validate(raw)
    except ValidationError as err:
        raise StudyError(_format(path, err)) from None
    study = KernelStudy(name=name or path.stem, path=path, spec=spec)
    m = spec.measure.model_dump()
    study._trials = [
        KernelTrial(
            study=study.name,
            kernel=kernel,
            batch=s.batch,
            heads=s.heads,
            seq_len=t,
            head_dim=s.head_dim,
            mode=mode,
            device=device,
            dtype=spec.dtype,
            causal=spec.causal,
            threads=spec.threads,
            seed=spec.seed,
            measure=m,
        )
        for device, s, mode, kernel, t in itertools.product(
            spec.devices, spec.shapes, spec.modes, spec.kernels, spec.seq_lens
        )
    ]
    return study


def _format(path: Path, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = _key_path(e["loc"])
        if e["type"] == "extra_forbidden":
            section = SECTIONS.get(tuple(p for p in e["loc"][:-1] if isinstance(p, str)))
            allowed = f"; allowed keys: {', '.join(section.model_fields)}" if section else ""
            lines.append(f"{path}: {where}: unknown key{allowed}")
        else:
            lines.append(f"{path}: {where}: {e['msg']} (got {e.get('input')!r})")
    return "\n".join(dict.fromkeys(lines))
