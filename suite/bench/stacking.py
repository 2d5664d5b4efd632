"""Why `suite.vectorized` stacks the way it does: µs per training step of G members trained together.

    python -m suite.bench.stacking [--steps 100] [--repeats 5] [--threads 1]

Forward and backward: the stacked twin modules (`suite.vectorized.Stacked`, members' rows folded
into the batch axis) against torch.func (`stack_module_state` + `functional_call` + `vmap`).
Optimizer: torch.optim over one flat tensor (`suite.vectorized.FlatParameters`) against torch.optim
over the stacked tensors, single-tensor, foreach and fused. Cases: two of ablation_positional's
models (10 seeds, full batch of 8 rows) and text_encoders' Conv1d on synthetic tokens of IMDB's
shape (3 seeds, batches of 256 reviews of 256 tokens, 10,000-word vocabulary). Every step is the
same full step (zero grads, forward, loss, backward, update); the configurations take turns, and
each prints the median over repeats of µs per step, under the machine's load at the time.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time

import torch
from tabulate import tabulate
from torch.func import functional_call, stack_module_state, vmap

from suite import models
from suite.arguments import positive_int
from suite.train import stepper
from suite.vectorized import FlatParameters, Stacked, member_losses

TRAINING = {"optimizer": "adam", "lr": 0.01, "weight_decay": 0.0, "momentum": 0.0}


def toy_case(variant: str, size: int = 10):
    """An ablation_positional model (dim 2) on 8 rows of 5 tokens, vocabulary 6, full batch."""
    cfg = models.resolve(variant, dim=2)
    members = []
    for seed in range(size):
        torch.manual_seed(seed)
        members.append(models.build(cfg, vocab_size=6, seq_len=5, num_classes=2))
    x = torch.randint(0, 6, (8, 5), generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 2, (8,), generator=torch.Generator().manual_seed(1))
    return f"{variant} (ablation_positional, G={size})", members, x, y


def imdb_conv_case(size: int = 3):
    """text_encoders' conv1d on synthetic tokens of IMDB's shape (one batch of 256 × 256)."""
    cfg = models.resolve("conv1d", dim=32, depth=1, pooling="max", hidden=64)
    members = []
    for seed in range(size):
        torch.manual_seed(seed)
        members.append(models.build(cfg, vocab_size=10_000, seq_len=256, num_classes=2, pad_id=0))
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(1, 10_000, (256, 256), generator=gen)
    y = torch.randint(0, 2, (256,), generator=gen)
    return f"conv1d (text_encoders, IMDB-shaped synthetic tokens, G={size})", members, x, y


def twins_forward(members, x):
    stacked = Stacked(copy.deepcopy(members))
    rows = x.repeat(len(members), 1)  # (G·B, T)
    return stacked.module, list(stacked.module.parameters()), lambda: stacked.module(rows)


def func_forward(members, x):
    params, buffers = stack_module_state(copy.deepcopy(members))
    base = copy.deepcopy(members[0]).to("meta")
    batched = vmap(lambda p, b, rows: functional_call(base, (p, b), (rows,)))
    xs = x.unsqueeze(0).expand(len(members), *x.shape)  # (G, B, T)
    return base, list(params.values()), lambda: batched(params, buffers, xs).flatten(0, 1)


def optimizer(kind: str, params):
    """(zero_grad, step) for one of the optimizer layouts."""
    if kind == "flat":
        flat = FlatParameters(params, TRAINING)
        return flat.zero_grad, flat.step
    opt = torch.optim.Adam(
        params, lr=TRAINING["lr"], **{kind: True} if kind != "single" else {"foreach": False}
    )
    return (lambda: opt.zero_grad(set_to_none=True)), stepper(opt)  # as FlatParameters steps


CONFIGS = [  # (forward, optimizer)
    ("twins", "flat"),
    ("torch.func", "flat"),
    ("twins", "single"),
    ("twins", "foreach"),
    ("twins", "fused"),
]


def measure(case, steps: int, repeats: int) -> dict[tuple[str, str], float]:
    _, members, x, y = case
    labels = y.unsqueeze(0).expand(len(members), -1).contiguous()  # (G, B)
    runners = {}
    for forward, kind in CONFIGS:
        build = twins_forward if forward == "twins" else func_forward
        _, params, run_forward = build(members, x)
        zero_grad, step = optimizer(kind, params)

        def one(run_forward=run_forward, zero_grad=zero_grad, step=step):
            zero_grad()
            member_losses(run_forward(), labels).sum().backward()
            step()

        runners[forward, kind] = one
    for one in runners.values():  # warm-up
        for _ in range(5):
            one()
    times: dict[tuple[str, str], list[float]] = {k: [] for k in runners}
    for _ in range(repeats):
        for k, one in runners.items():
            started = time.perf_counter()
            for _ in range(steps):
                one()
            times[k].append((time.perf_counter() - started) / steps * 1e6)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m suite.bench.stacking", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--steps", type=positive_int, default=100)
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--threads", type=positive_int, default=1)
    parser.add_argument(
        "--cases", nargs="+", default=["mean", "attention", "conv1d"], choices=["mean", "attention", "conv1d"]
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cases = [imdb_conv_case() if name == "conv1d" else toy_case(name) for name in args.cases]
    rows = []
    for case in cases:
        steps = args.steps if "ablation" in case[0] else max(3, args.steps // 20)
        result = measure(case, steps, args.repeats)
        base = result["twins", "flat"]
        for (forward, kind), us in result.items():
            rows.append([case[0], forward, kind, f"{us:,.0f}", f"{us / base:.2f}×"])
    headers = ["case", "forward/backward", "optimizer", "µs per step (median)", "vs twins + flat"]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
