"""`make bench`: pytest-benchmark timings of every CPU kernel at the gate's cases, one thread.

Not collected by `make test` (the file is not named test_*); the regression gate
itself is `make bench-check` (suite/bench/gate.py)."""

import pytest
import torch

from suite.bench.gate import CASES, gate_kernels
from suite.kernels.cases import attention_call, attention_flops


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("case", CASES, ids=[c.name.replace("·", "-").replace(" ", "-") for c in CASES])
@pytest.mark.parametrize("kernel", gate_kernels())
def test_kernel(benchmark, kernel, case):
    call = attention_call(kernel, case.shape, case.mode, torch.device("cpu"), torch.float32)
    benchmark.group = case.name
    benchmark.extra_info["tier"] = case.tier
    benchmark.pedantic(call, warmup_rounds=1, rounds=5 if case.tier == "compute" else 200, iterations=1)
    benchmark.extra_info["gflops"] = attention_flops(case.shape, case.mode) / benchmark.stats["median"] / 1e9
