"""Running one kernel trial: time it (median, IQR), measure its peak memory, and
set it against the machine's GEMM timed right after it at the same dtype and
thread count. Like `suite.runner.run_trial`, it never raises."""

from __future__ import annotations

import json
import math
import statistics
import time
import traceback
from contextlib import contextmanager

import numpy as np
import torch

from suite import kernels
from suite.bench.cases import DTYPES, attention_call, attention_flops, square_gemm
from suite.bench.spec import KernelTrial
from suite.measure import device_available, peak_memory, provenance, time_fn
from suite.runner import TrialResult

MAX_REPEATS = 2000  # cap on the extra repeats of a very short call


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
    gemm, flops = square_gemm(n, device, DTYPES[dtype])
    return flops / statistics.median(time_fn(gemm, device, warmup=1, repeats=repeats)) / 1e9


def base_row(trial: KernelTrial) -> dict:
    return {
        "key": trial.key,
        "study": trial.study,
        "kernel": trial.kernel,
        "variant": trial.variant,
        "dataset": trial.dataset,
        "batch": trial.batch,
        "heads": trial.heads,
        "seq_len": trial.seq_len,
        "head_dim": trial.head_dim,
        "mode": trial.mode,
        "device": trial.device,
        "dtype": trial.dtype,
        "causal": trial.causal,
        "seed": trial.seed,
        "status": "ok",
        "error": None,
        "config": json.dumps(trial.config(), sort_keys=True),
    }


def run_kernel_trial(trial: KernelTrial) -> TrialResult:
    started = time.perf_counter()
    row = base_row(trial)
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
        trial.kernel, trial.shape, trial.mode, device, DTYPES[trial.dtype], trial.seed, trial.causal
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
