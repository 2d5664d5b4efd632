"""Seconds per real-data epoch of text_encoders' variants: the suite's training step against a plain
hand-written PyTorch loop on the same model and batches, and against the variant's FLOP count at
this machine's measured GEMM rate.

    python -m suite.bench.realdata [--steps 2] [--repeats 3] [--length 200] [--variants ...] [--compile]
                                   [--profile N] [--bucket-pool N]
    make bench-realdata ARGS="..."

Data: synthetic tokens of IMDB's shape as text_encoders reads it, not IMDB itself, so that it runs
anywhere without the corpus: 20,000 training rows in batches of 256 (79 steps an epoch), a
20,000-word vocabulary, `--length` tokens a row (200: text_encoders' max_len), pre-padded as the
tokenizer pads (PAD = 0 in front), review lengths log-normal around IMDB's median of ~175 words and
cut to their last `--length` tokens, two classes. Models: the variants of studies/text_encoders.yaml
(model.dim 32, their knobs there), built by the suite.

- suite: `suite.train.train` (`train.fit` over `train.One`: mini-batches of 256, Adam) for `steps`
  and for 2 × `steps` steps on fresh copies of the model; the difference of the two CPU times, over
  `steps`, is the cost of one step (set-up and the evaluations at the first and last history points
  cancel out).
- plain: the loop a user writes (shuffle with randperm, zero_grad, forward, the same loss, backward,
  Adam step) on an identical copy, measured the same way.
- FLOP floor: the FLOPs one plain step performs (forward and backward, counted by
  torch.utils.flop_counter.FlopCounterMode: matrix products, convolutions and attention, so a
  backward that does fewer, as the Conv1d's max over time, lowers it; elementwise work, embedding
  look-ups and the optimizer count zero) at the GEMM rate measured at start-up (a 1024² fp32
  matmul, same threads). suite / floor says how far a step is from the arithmetic it must
  do; a variant whose work is mostly elementwise (a bag of words, an embedding average) has a floor
  near zero and a large ratio by construction.

Seconds per epoch = steps per epoch × ms per step: the training steps only (the evaluation passes at
each history point are apart). Times are CPU time (`time.process_time`) on one thread by default: on
a shared machine the wall clock measures the neighbours, while one thread's CPU time is what the wall
clock would be on an idle machine. suite and plain take turns, `repeats` times, and the medians are
printed. With `--compile`, the transformer and the Conv1d are also trained compiled (`torch.compile`,
inductor on CPU: needs a C++ compiler) in the plain loop: the first step (compilation, wall clock:
inductor compiles in worker processes, whose CPU time this process does not see) apart from the
steady-state CPU ms per step. With `--profile N`, each variant's row is followed by where one plain
step goes: the N operators with the most self CPU time (torch.profiler over two steps after a warm-up
step), each as a share of the step's operator time, so a speed-up can be aimed at what costs.
With `--bucket-pool N`, a second table times one whole epoch of 20,000 IMDB-shaped rows (CPU s, the
plain loop over `suite.train.batches`) unbucketed and bucketed as `training.bucket_pool: N`
trains (pools of N batches sorted by length, the model cutting its batches' padding in training):
not the same computation (other rows train together), so its ratio is a speed-up at results equal
in distribution only.
"""

from __future__ import annotations

import argparse
import copy
import math
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

# studies/text_encoders.yaml's variants (model.dim 32) and their own knobs there
VARIANTS = {
    "ngram_linear": {},
    "bow_mlp": {"hidden": 32},
    "mean": {"dropout": 0.3},
    "conv1d": {"depth": 1, "pooling": "max", "hidden": 64},
    "lstm": {},
    "transformer": {"positional": "learned"},
}
VOCAB, T, BATCH, LR = 20_000, 200, 256, 0.005
TRAIN_ROWS = 20_000  # IMDB's 25,000 training reviews less the 20% carved for validation
MEDIAN_WORDS, SPREAD = 175, 0.75  # log-normal review lengths: IMDB's median, and its spread in log space


def imdb_shaped(rows: int, length: int = T, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (rows, length), each review's last `length` tokens with PAD (0) in front of a short
    one, and binary labels."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(1, VOCAB, (rows, length), generator=gen)
    words = torch.exp(math.log(MEDIAN_WORDS) + SPREAD * torch.randn(rows, 1, generator=gen)).long()
    x[torch.arange(length).unsqueeze(0) < length - words.clamp(1, length)] = 0
    return x, torch.randint(0, 2, (rows,), generator=gen)


def steps_per_epoch(batch: int = BATCH) -> int:
    return math.ceil(TRAIN_ROWS / batch)


def build(variant: str, length: int = T) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = models.resolve(variant, dim=32, **VARIANTS[variant])
    return models.build(cfg, vocab_size=VOCAB, seq_len=length, num_classes=2, pad_id=0)


def gemm_gflops(size: int = 1024, repeats: int = 5) -> float:
    """fp32 GFLOP/s of a size² matmul, CPU time, best of `repeats` (the machine's rate, not its load)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = math.inf
    for _ in range(repeats):
        started = time.process_time()
        a @ b
        best = min(best, time.process_time() - started)
    return 2 * size**3 / best / 1e9


def loss_of(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if logits.dim() == 1:  # one logit: binary cross-entropy, as the suite's two-class heads
        return F.binary_cross_entropy_with_logits(logits, y.float())
    return F.cross_entropy(logits, y)


GATES = {torch.nn.LSTM: 4, torch.nn.GRU: 3, torch.nn.RNN: 1}


def recurrent_flops(model: torch.nn.Module, rows: int, length: int) -> int:
    """The recurrences' matrix products, which FlopCounterMode does not see inside torch's fused
    RNN kernels: per layer, direction and step 2 · gates · H · (input + H) per row; backward twice that."""
    total = 0
    for module in model.modules():
        if type(module) in GATES:
            for layer in range(module.num_layers):
                width_in = (
                    module.input_size if layer == 0 else module.hidden_size * (1 + module.bidirectional)
                )
                per_row = 2 * GATES[type(module)] * module.hidden_size * (width_in + module.hidden_size)
                total += 3 * per_row * rows * length * (1 + module.bidirectional)
    return total


def step_flops(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """FLOPs of one training step's forward and backward on the first batch."""
    from torch.utils.flop_counter import FlopCounterMode

    model = copy.deepcopy(model).train()
    with FlopCounterMode(display=False) as counter:
        loss_of(model(x[:BATCH]), y[:BATCH]).backward()
    return counter.get_total_flops() + recurrent_flops(model, BATCH, x.shape[1])


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
        loss_of(model(x[idx]), y[idx]).backward()
        optimizer.step()

    model.train()
    started, cpu = time.perf_counter(), time.process_time()
    step(0)
    first = time.perf_counter() - started
    for i in range(1, steps):
        step(i)
    return first, time.process_time() - cpu


def profile_step(model, x, y, top: int) -> list[tuple[str, float]]:
    """The `top` operators of a plain training step by self CPU time, each with its share of the step's
    operator time (two steps profiled after one unprofiled warm-up step)."""
    from torch.profiler import ProfilerActivity, profile

    model = copy.deepcopy(model).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_of(model(x[:BATCH]), y[:BATCH]).backward()
        optimizer.step()

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(2):
            step()
    ops = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
    total = sum(t for _, t in ops) or 1.0
    return [(name, t / total) for name, t in sorted(ops, key=lambda op: -op[1])[:top]]


def epoch_cpu(model, x, y, pool: int | None) -> float:
    """CPU seconds of one epoch of the plain loop over `suite.train.batches` of all of (x, y), bucketed
    by length within pools of `pool` batches or not, the model cutting padding as under
    training.bucket_pool (`suite.train.One`)."""
    from suite.train import Schedule, batches

    model = copy.deepcopy(model).train()
    model.trim_in_training = pool is not None
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    schedule = Schedule(len(x), BATCH, math.ceil(len(x) / BATCH), 0, 1)
    lengths = (x != 0).sum(dim=1) if pool else None
    stream = batches(x, y, schedule, torch.Generator().manual_seed(0), lengths, pool)
    started = time.process_time()
    for _ in range(schedule.steps_per_epoch):
        xb, yb = next(stream)
        optimizer.zero_grad(set_to_none=True)
        loss_of(model(xb), yb).backward()
        optimizer.step()
    return time.process_time() - started


def per_step_ms(run, base, x, y, steps: int) -> float:
    """CPU ms of one step: (cost of 2·steps − cost of steps) / steps, on fresh copies."""
    return (run(copy.deepcopy(base), x, y, 2 * steps) - run(copy.deepcopy(base), x, y, steps)) / steps * 1e3


def plain_run(model, x, y, steps: int) -> float:
    return plain_cpu(model, x, y, steps)[1]  # CPU seconds only


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m suite.bench.realdata", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--steps", type=positive_int, default=2, help="steps per measurement (and twice as many)"
    )
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--length", type=positive_int, default=T, help="tokens a row (text_encoders: 200)")
    parser.add_argument(
        "--threads", type=positive_int, default=1, help="torch threads (default 1: see above)"
    )
    parser.add_argument(
        "--compile", action="store_true", help="also time torch.compile (transformer, conv1d)"
    )
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument(
        "--profile",
        type=positive_int,
        metavar="N",
        help="also print the N operators with the most CPU time in a plain step, as shares of the step",
    )
    parser.add_argument(
        "--bucket-pool",
        type=positive_int,
        metavar="N",
        help="also time one epoch unbucketed and bucketed by length in pools of N batches",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rate = gemm_gflops()
    epoch = steps_per_epoch()
    x, y = imdb_shaped(2 * args.steps * BATCH, args.length)
    headers = [
        "variant",
        "mode",
        "plain s/epoch",
        "suite s/epoch",
        "suite / plain",
        "GFLOP/step",
        "floor s/epoch",
        "suite / floor",
        "first step",
    ]
    rows = []
    for variant in args.variants:
        base = build(variant, args.length)
        flops = step_flops(base, x, y)
        floor = flops / (rate * 1e9) * epoch
        suite, plain = [], []
        per_step_ms(suite_cpu, base, x, y, 1)  # warm-up: first calls import and allocate once per process
        per_step_ms(plain_run, base, x, y, 1)
        for _ in range(args.repeats):  # turns: both see the same load
            suite.append(per_step_ms(suite_cpu, base, x, y, args.steps))
            plain.append(per_step_ms(plain_run, base, x, y, args.steps))
        s, p = statistics.median(suite) * epoch / 1e3, statistics.median(plain) * epoch / 1e3
        rows.append(
            [variant, "eager", f"{p:.2f}", f"{s:.2f}", f"{s / p:.3f}", f"{flops / 1e9:.2f}", f"{floor:.2f}"]
            + [f"{s / floor:.1f}" if flops else "– (no products)", ""]
        )
        print(tabulate([rows[-1]], tablefmt="plain"), flush=True)
        if args.profile:
            shares = profile_step(base, x, y, args.profile)
            print(f"  {variant}: " + ", ".join(f"{name} {share:.0%}" for name, share in shares), flush=True)
        if args.compile and variant in ("transformer", "conv1d"):
            compiled = torch.compile(copy.deepcopy(base))
            first, _ = plain_cpu(compiled, x, y, 1)  # compiles
            steady = (
                plain_run(compiled, x, y, 2 * args.steps) - plain_run(compiled, x, y, args.steps)
            ) / args.steps
            c = steady * epoch
            rows.append(
                [variant, "compiled (plain loop)", f"{c:.2f}", "–", f"{c / p:.3f} of eager plain"]
                + [f"{flops / 1e9:.2f}", f"{floor:.2f}", "–", f"{first:.1f} s wall"]
            )
            print(tabulate([rows[-1]], tablefmt="plain"), flush=True)
    print()
    print(tabulate(rows, headers=headers, tablefmt="github"))
    print(
        f"synthetic tokens of IMDB's shape (not IMDB): {epoch} steps an epoch of {BATCH} × {args.length} "
        f"tokens, vocabulary {VOCAB:,}; CPU time, median of {args.repeats}; GEMM {rate:.0f} GFLOP/s; "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    if args.bucket_pool:
        bucketing(args)
    return 0


def bucketing(args) -> None:
    """One epoch of each variant unbucketed and bucketed (turns, `repeats` times, medians)."""
    x, y = imdb_shaped(TRAIN_ROWS, args.length, seed=1)
    rows = []
    for variant in args.variants:
        base = build(variant, args.length)
        plain, bucketed = [], []
        for _ in range(args.repeats):
            plain.append(epoch_cpu(base, x, y, None))
            bucketed.append(epoch_cpu(base, x, y, args.bucket_pool))
        p, b = statistics.median(plain), statistics.median(bucketed)
        rows.append([variant, f"{p:.2f}", f"{b:.2f}", f"{p / b:.2f}×"])
        print(tabulate([rows[-1]], tablefmt="plain"), flush=True)
    print()
    print(
        tabulate(
            rows,
            headers=["variant", "s/epoch", f"bucketed (pool {args.bucket_pool}) s/epoch", "speed-up"],
            tablefmt="github",
        )
    )
    print(
        f"one epoch of {TRAIN_ROWS:,} IMDB-shaped rows of {args.length} tokens, plain loop over suite.train."
        f"batches; CPU time, median of {args.repeats}; bucketed: results equal in distribution, not to the bit"
    )


if __name__ == "__main__":
    sys.exit(main())
