"""The kernel study kind (`kind: kernels`): kernels × T × shapes × modes × devices.

A trial times one attention kernel (median, IQR), measures its peak memory, and sets it
against the machine's GEMM timed right after it at the same dtype and thread count. Like
every kind's, `run_kernel_trial` never raises: a failure is a row that says why.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from suite import identity, kernels
from suite.kernels.cases import MODES, Shape, attention_call, attention_flops, square_gemm
from suite.kinds import TrialResult, register_kind
from suite.lazy import lazy_import
from suite.measure import device_available, peak_memory, provenance, time_fn
from suite.spec import Devices, StudyError, format_validation

torch = lazy_import("torch")  # imported on first use: loading a kernel study needs no torch

MAX_REPEATS = 2000  # cap on the extra repeats of a very short call


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
    devices: Devices = ["cpu"]
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


SECTIONS = {(): KernelStudySpec, ("measure",): KernelMeasureSpec, ("shapes",): ShapeSpec}


@dataclass(frozen=True)
class KernelTrial:
    """One kernel × shape × T × mode × device: what `run_kernel_trial` needs, nothing more."""

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

    @property
    def label(self) -> str:
        return f"{self.kernel} · {self.shape.label} {self.mode} · {self.device}"

    def config(self) -> dict[str, Any]:
        """Its identity: everything but the study's name (threads included: a kernel's speed
        depends on them)."""
        return {"kind": self.kind} | {
            f.name: getattr(self, f.name) for f in fields(self) if f.name != "study"
        }

    @property
    def key(self) -> str:
        return identity.key(self.config())

    def base_row(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "study": self.study,
            "kernel": self.kernel,
            "variant": self.kernel,  # the columns every kind's rows have, for generic tables
            "dataset": f"{self.shape.label} {self.mode}",
            "batch": self.batch,
            "heads": self.heads,
            "seq_len": self.seq_len,
            "head_dim": self.head_dim,
            "mode": self.mode,
            "device": self.device,
            "dtype": self.dtype,
            "causal": self.causal,
            "seed": self.seed,
            "status": "ok",
            "error": None,
            "config": json.dumps(self.config(), sort_keys=True),
        }


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

    serial_threads = None  # the study's own `threads` decide, trial by trial

    @property
    def shape(self) -> str:
        return ""

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
        raise StudyError(format_validation(path, err, SECTIONS)) from None
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


@contextmanager
def torch_threads(threads: int | None):
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def gemm_rate(n: int, device: torch.device, dtype: str, repeats: int) -> float:
    """GFLOP/s of an n³ GEMM here and now (same dtype, same threads), median of `repeats`.
    Measured beside every trial: on a shared machine the rate of a minute ago is not now's."""
    gemm, flops = square_gemm(n, device, getattr(torch, dtype))
    return flops / statistics.median(time_fn(gemm, device, warmup=1, repeats=repeats)) / 1e9


def run_kernel_trial(trial: KernelTrial) -> TrialResult:
    started = time.perf_counter()
    row = trial.base_row()
    reason = device_available(trial.device) or kernels.unavailable(trial.kernel, trial.device)
    if reason:
        row.update(status="skipped", error=reason)
        row.update(provenance(torch.device("cpu")) | {"device_name": None})
        return TrialResult(row, [])
    device = torch.device(trial.device)
    with torch_threads(trial.threads):
        row.update(provenance(device))
        try:
            row.update(_measure(trial, device))
        except kernels.KernelUnavailable as err:
            row.update(status="skipped", error=str(err))
        except Exception:  # a failing trial (out of memory, …) is a result, not the end of the study
            row.update(status="failed", error=traceback.format_exc())
    row["wall_seconds"] = time.perf_counter() - started
    return TrialResult(row, [])


def _measure(trial: KernelTrial, device: torch.device) -> dict:
    m = trial.measure
    call = attention_call(
        trial.kernel, trial.shape, trial.mode, device, getattr(torch, trial.dtype), trial.seed, trial.causal
    )
    times = time_fn(call, device, warmup=m["warmup"], repeats=m["repeats"])
    if sum(times) < m["min_seconds"]:  # short calls: more repeats, so the median means something
        more = math.ceil((m["min_seconds"] - sum(times)) / max(statistics.median(times), 1e-7))
        times += time_fn(call, device, warmup=0, repeats=min(more, MAX_REPEATS))
    times = np.array(times)
    q25, median, q75 = np.percentile(times, [25, 50, 75])
    flops = attention_flops(trial.shape, trial.mode)
    gemm = gemm_rate(m["gemm_size"], device, trial.dtype, m["repeats"])
    out = {
        "time_median_s": float(median),
        "time_q25_s": float(q25),
        "time_q75_s": float(q75),
        "time_iqr_s": float(q75 - q25),
        "repeats": len(times),
        "flops": flops,
        "gflops": flops / median / 1e9,
        "gemm_size": m["gemm_size"],
        "gemm_gflops": gemm,
        "pct_gemm": 100.0 * flops / median / 1e9 / gemm,
    }
    if m["memory"] and device.type in ("cpu", "cuda"):
        out["peak_mem_bytes"] = peak_memory(call, device)
    return out


@register_kind("kernels")
class KernelKind:
    sections = SECTIONS

    def load(self, raw: dict[str, Any], path: Path, name: str, **options: Any) -> KernelStudy:
        return load_kernel_study(path, raw, name)

    def plan(self, trials: list[KernelTrial]) -> list[list[KernelTrial]]:
        return [[trial] for trial in trials]

    def run_unit(self, unit: list[KernelTrial]) -> list[TrialResult]:
        return [run_kernel_trial(trial) for trial in unit]
