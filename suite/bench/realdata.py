"""The suite's training step against a plain hand-written PyTorch loop, on text_encoders-sized models.

    python -m suite.bench.realdata [--steps 20] [--repeats 3] [--threads N] [--compile]

Data: synthetic tokens of IMDB's shape as text_encoders reads it (batches of 256 reviews of 256
tokens, a 10,000-word vocabulary, padding id 0, two classes); not IMDB itself, so that it runs
anywhere without the corpus. Models: text_encoders' variants (dim 32), built by the suite.

- suite: `suite.train.train` with `training.steps` = 2 × steps and a history point half-way; its
  own timing (the second half: the first pays for warm-up) gives seconds per step. Evaluation at
  the history points is outside that timing.
- plain: the loop a user writes (shuffle with randperm, zero_grad, forward, the same loss,
  backward, Adam step) on an identical copy of the model: `steps` warm-up steps, then `steps` timed.

They take turns, `repeats` times; each prints the median ms per step and suite/plain. With
`--compile`, the transformer and the Conv1d are also trained compiled (`torch.compile`, inductor
on CPU) in the plain loop: the first step's time (compilation) is printed apart from steady-state
ms per step. Numbers are this machine's under its load at the time, printed beside them.
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
from suite.study import TrainingSpec
from suite.train import train

VARIANTS = {  # text_encoders.yaml, model.dim 32
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


def suite_ms(model, x, y, steps: int) -> float:
    training = TrainingSpec().model_dump(exclude={"vectorize"})
    training.update(optimizer="adam", lr=LR, batch_size=BATCH, steps=2 * steps, history_every=steps)
    result = train(model, {"train": (x, y)}, training, torch.device("cpu"), seed=0)
    return result.timed_seconds / (result.timed_samples / BATCH) * 1e3


def plain_ms(model, x, y, steps: int) -> tuple[float, float]:
    """(first step's ms, steady-state ms per step) of a hand-written loop."""
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
    started = time.perf_counter()
    step(0)
    first = time.perf_counter() - started
    for i in range(1, steps):
        step(i)
    started = time.perf_counter()
    for i in range(steps):
        step(i)
    return first * 1e3, (time.perf_counter() - started) / steps * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m suite.bench.realdata", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--steps", type=int, default=20, help="timed steps per measurement (and as many warm-up)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument(
        "--compile", action="store_true", help="also time torch.compile (transformer, conv1d)"
    )
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    x, y = imdb_shaped(2 * args.steps * BATCH)
    rows = []
    for variant in args.variants:
        base = build(variant)
        suite, plain = [], []
        for _ in range(args.repeats):  # turns: both see the same load
            suite.append(suite_ms(copy.deepcopy(base), x, y, args.steps))
            plain.append(plain_ms(copy.deepcopy(base), x, y, args.steps)[1])
        s, p = statistics.median(suite), statistics.median(plain)
        rows.append([variant, "eager", f"{p:.1f}", f"{s:.1f}", f"{s / p:.3f}", "–"])
        if args.compile and variant in ("transformer", "conv1d"):
            first, steady = plain_ms(torch.compile(copy.deepcopy(base)), x, y, args.steps)
            rows.append([variant, "compiled (plain loop)", f"{steady:.1f}", "–", "–", f"{first / 1e3:.1f} s"])
            rows[-1].append(f"{p / steady:.2f}× eager")
        print(tabulate([rows[-1]], tablefmt="plain"), flush=True)
    headers = [
        "variant",
        "mode",
        "plain ms/step",
        "suite ms/step",
        "suite / plain",
        "first step (compile)",
        "",
    ]
    print()
    print(tabulate(rows, headers=headers[: max(len(r) for r in rows)], tablefmt="github"))
    print(
        f"synthetic tokens of IMDB's shape: batch {BATCH} × {T} tokens, vocabulary {VOCAB:,}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
