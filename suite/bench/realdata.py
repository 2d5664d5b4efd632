"""The suite's training step against a plain hand-written PyTorch loop, on text_encoders-sized models.

    python -m suite.bench.realdata [--steps 10] [--repeats 3] [--threads 1] [--compile]

Data: synthetic tokens of an IMDB-like shape (batches of 256 reviews of 256 tokens, a 10,000-word
vocabulary, padding id 0, two classes); not IMDB itself, so that it runs anywhere without the
corpus. Models: text_encoders' neural variants at dim 32 as they were when this was measured (the
study has since moved to 20,000 words of 200 tokens), built by the suite.

- suite: `suite.train.train` (mini-batches of 256, Adam) run for `steps` and for 2 × `steps` steps
  on fresh copies of the model; the difference of the two CPU times, over `steps`, is the cost of
  a step (set-up and the evaluations at the first and last history points cancel out).
- plain: the loop a user writes (shuffle with randperm, zero_grad, forward, the same loss,
  backward, Adam step) on an identical copy, measured the same way.

Times are CPU time (`time.process_time`) on one thread by default: on a shared machine the wall
clock measures the neighbours, while one thread's CPU time is what the wall clock would be on an
idle machine. They take turns, `repeats` times; each prints the median ms per step and
suite/plain. With `--compile`, the transformer and the Conv1d are also trained compiled
(`torch.compile`, inductor on CPU) in the plain loop: the first step (compilation, wall clock:
inductor compiles in worker processes) apart from the steady-state CPU ms per step.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from tabulate import tabulate

from suite import models
from suite.arguments import positive_int
from suite.study import TrainingSpec
from suite.train import train

VARIANTS = {  # text_encoders' neural variants (model.dim 32) when this was measured
    "bow_mlp": {"hidden": 32},
    "mean": {"dropout": 0.3},
    "conv1d": {"depth": 1, "pooling": "max", "hidden": 64},
    "transformer": {"positional": "learned"},
}
VOCAB, T, BATCH, LR = 10_000, 256, 256, 0.005


def imdb_shaped(rows: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (rows, T) with a padded tail of random length per review, and binary labels."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(1, VOCAB, (rows, T), generator=gen)
    lengths = torch.randint(T // 4, T + 1, (rows, 1), generator=gen)
    x[torch.arange(T).unsqueeze(0) >= lengths] = 0
    return x, torch.randint(0, 2, (rows,), generator=gen)


def build(variant: str) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = models.resolve(variant, dim=32, **VARIANTS[variant])
    return models.build(cfg, vocab_size=VOCAB, seq_len=T, num_classes=2, pad_id=0)


def suite_cpu(model, x, y, steps: int) -> float:
    """CPU seconds of `suite.train.train` for `steps` steps, one history point at the end."""
    training = TrainingSpec().model_dump(exclude={"vectorize"})
    training.update(optimizer="adam", lr=LR, batch_size=BATCH, steps=steps, history_every=steps)
    started = time.process_time()
    train(model, {"train": (x, y)}, training, torch.device("cpu"), seed=0)
    return time.process_time() - started


def plain_cpu(model, x, y, steps: int) -> tuple[float, float]:
    """(wall seconds of the first step, CPU seconds of all `steps`) of a hand-written loop."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))

    def step(i: int) -> None:
        idx = order[(i * BATCH) % len(x) :][:BATCH]
        optimizer.zero_grad(set_to_none=True)
        logits = model(x[idx])
        if logits.dim() == 1:  # one logit: binary cross-entropy, as the suite's two-class heads
            loss = F.binary_cross_entropy_with_logits(logits, y[idx].float())
        else:
            loss = F.cross_entropy(logits, y[idx])
        loss.backward()
        optimizer.step()

    model.train()
    started, cpu = time.perf_counter(), time.process_time()
    step(0)
    first = time.perf_counter() - started
    for i in range(1, steps):
        step(i)
    return first, time.process_time() - cpu


def per_step_ms(run, base, x, y, steps: int) -> float:
    """CPU ms of one step: (cost of 2·steps − cost of steps) / steps, on fresh copies."""
    return (run(copy.deepcopy(base), x, y, 2 * steps) - run(copy.deepcopy(base), x, y, steps)) / steps * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m suite.bench.realdata", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--steps", type=positive_int, default=10, help="steps per measurement (and twice as many)"
    )
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument(
        "--threads", type=positive_int, default=1, help="torch threads (default 1: see above)"
    )
    parser.add_argument(
        "--compile", action="store_true", help="also time torch.compile (transformer, conv1d)"
    )
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    x, y = imdb_shaped(2 * args.steps * BATCH)
    plain_run = lambda m, x, y, n: plain_cpu(m, x, y, n)[1]  # noqa: E731 - CPU seconds only
    rows = []
    for variant in args.variants:
        base = build(variant)
        suite, plain = [], []
        per_step_ms(suite_cpu, base, x, y, 1)  # warm-up: first calls import and allocate once per process
        per_step_ms(plain_run, base, x, y, 1)
        for _ in range(args.repeats):  # turns: both see the same load
            suite.append(per_step_ms(suite_cpu, base, x, y, args.steps))
            plain.append(per_step_ms(plain_run, base, x, y, args.steps))
        s, p = statistics.median(suite), statistics.median(plain)
        rows.append([variant, "eager", f"{p:.1f}", f"{s:.1f}", f"{s / p:.3f}", "–", ""])
        print(tabulate([rows[-1]], tablefmt="plain"), flush=True)
        if args.compile and variant in ("transformer", "conv1d"):
            compiled = torch.compile(copy.deepcopy(base))
            first, _ = plain_cpu(compiled, x, y, 1)  # compiles
            steady = (
                plain_run(compiled, x, y, 2 * args.steps) - plain_run(compiled, x, y, args.steps)
            ) / args.steps
            compiled_ms = steady * 1e3
            rows.append(
                [
                    variant,
                    "compiled (plain loop)",
                    f"{compiled_ms:.1f}",
                    "–",
                    "–",
                    f"{first:.1f} s",
                    f"{p / compiled_ms:.2f}× eager's speed",
                ]
            )
            print(tabulate([rows[-1]], tablefmt="plain"), flush=True)
    headers = ["variant", "mode", "plain CPU ms/step", "suite CPU ms/step", "suite / plain", "first step", ""]
    print()
    print(tabulate(rows, headers=headers, tablefmt="github"))
    print(
        f"synthetic tokens of IMDB's shape: batch {BATCH} × {T} tokens, vocabulary {VOCAB:,}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
