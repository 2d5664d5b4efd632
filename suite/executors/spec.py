"""The `executor:` section of a study: how its units of work are run.

Every default lives here. The executor never enters a trial's key: serial, a
process pool and a Ray cluster fill the same rows.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

KINDS = ("serial", "processes", "ray")
DAY = 24 * 3600.0
# The executors look at running units every 0.5 s (executors.base.POLL_S): a shorter timeout could
# not stop a unit in time, and would let one that runs past it finish "ok".
MIN_TIMEOUT_S = 1.0


class ExecutorError(RuntimeError):
    """An executor that cannot start (Ray missing, cluster unreachable, too few CPUs)."""


class ExecutorSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["serial", "processes", "ray"] = "serial"
    # processes: pool size (default: CPU cores); ray: most units in flight (default: what the cluster's CPUs hold)
    workers: int | None = Field(None, ge=1)
    # torch threads per worker (default: 1 serially, see suite.execution; cores ÷ workers on processes; cpus_per_unit on ray)
    threads: int | None = Field(None, ge=1)
    # processes: how workers start; fork is not offered (a forked child can hang in its first matmul)
    start_method: Literal["spawn", "forkserver"] = "spawn"
    # ray: None starts a local cluster; "auto" or "HOST:6379" joins a running one
    address: str | None = None
    cpus_per_unit: float = Field(1.0, gt=0)  # ray: CPUs each unit reserves
    gpus_per_unit: float = Field(1.0, gt=0)  # ray: GPUs each CUDA unit reserves; a fraction shares a GPU
    runtime_env: dict[str, Any] = {}  # ray: merged into every task's runtime_env (pip, env_vars, …)
    # a unit still running this long after it was handed to a worker is stopped and recorded failed
    timeout_s: float = Field(DAY, gt=0)

    @field_validator("timeout_s")
    @classmethod
    def _enforceable(cls, value: float) -> float:
        if value < MIN_TIMEOUT_S:
            raise ValueError(
                f"at least {MIN_TIMEOUT_S:g} s: the executors look at running units every 0.5 s, so a "
                "shorter timeout could not stop one"
            )
        return value


def with_overrides(
    spec: ExecutorSpec, *, kind: str | None = None, workers: int | None = None, address: str | None = None
) -> ExecutorSpec:
    """The study's executor with the command line's choices on top."""
    update: dict[str, Any] = {
        k: v for k, v in (("kind", kind), ("workers", workers), ("address", address)) if v is not None
    }
    try:
        merged = ExecutorSpec.model_validate({**spec.model_dump(), **update})
    except ValidationError as err:
        problem = err.errors()[0]
        raise ExecutorError(f"--{problem['loc'][0]}: {problem['msg']} (got {problem['input']!r})") from None
    if workers is not None and merged.kind == "serial":
        raise ExecutorError("--workers needs a parallel executor: add --executor processes or --executor ray")
    if address and merged.kind != "ray":
        raise ExecutorError("--address names a Ray cluster: add --executor ray")
    return merged
