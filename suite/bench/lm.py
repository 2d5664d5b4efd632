"""ms per training iteration of nanoGPT's CPU Shakespeare model through ablate's engine, against a
plain PyTorch loop, and of several seeds trained together against one at a time.

    python -m suite.bench.lm [--iters 60] [--warmup 10] [--seeds 3] [--rounds 3] [--threads 1] [--data FILE]

The model is `suite.models.decoder.DecoderLM` in lm_positional's configuration (4 layers, 4 heads,
128 wide, context 64, batches of 12, dropout 0, no biases, learned positions, tied head) trained as
lm_positional trains it: AdamW (lr 1e-3, β₂ 0.99, weight decay 0.1 on matrices only), warm-up over
the first 5% of the iterations then cosine decay to 1e-4, gradient clip 1. The data stream as the
study's do: step s of seed k is nanoGPT's get_batch drawn from its own generator
(`tinyshakespeare.random_windows`, seeded as `TinyShakespeare.batch`), over a tinyshakespeare-format
file given with --data, else synthetic text of 65 characters.

1. engine, one seed: `suite.train.fit` over `One` with the stream (the loop every study trains with);
2. plain loop: nanoGPT's loop by hand (set the rate, draw, forward, cross-entropy, zero_grad,
   backward, clip_grad_norm_, step) on the very same batches and parameter groups;
3. stacked seeds: `fit` over `vectorized.Group`, each member drawing its own stream, ms per seed,
   against (1) on the same model alone. A tied head cannot be stacked and the flat optimizer has one
   parameter group (`vectorized.unstackable`), so (3) and its baseline untie the head and decay
   every parameter.

An iteration is the gap between consecutive optimizer steps (batch, forward, loss, backward, clip,
step), measured as this process's CPU time (`time.process_time`) on one thread by default: on a
shared machine the wall clock measures the neighbours, while one thread's CPU time is what the wall
clock would be on an idle machine. Each configuration prints the median over `--rounds` turns (the
configurations take turns) of its median after `--warmup` iterations. On CUDA the same runs in bf16
autocast, timed with CUDA events; elsewhere that part says why it is skipped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tabulate import tabulate
from torch import nn

from suite.arguments import positive_int
from suite.data.sequence import generator
from suite.data.tinyshakespeare import STREAM_TRAIN, random_windows
from suite.models.decoder import DecoderLM, optimizer_groups
from suite.study import TrainingSpec
from suite.train import One, fit, lr_factor
from suite.vectorized import Group

CONFIG = {"dim": 128, "depth": 4, "heads": 4, "dropout": 0.0, "bias": False, "positional": "learned"}
BLOCK, BATCH, LR, MIN_LR, BETA2, WEIGHT_DECAY, WARMUP, CLIP = 64, 12, 1e-3, 1e-4, 0.99, 0.1, 0.05, 1.0
CHARS = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # tinyshakespeare's 65


def corpus(path: Path | None, length: int = 200_000) -> tuple[torch.Tensor, int]:
    """Character ids of the file (sorted distinct characters, as nanoGPT), or of synthetic text."""
    if path is not None:
        text = path.read_text("utf-8")
        chars = sorted(set(text))
        index = {c: i for i, c in enumerate(chars)}
        return torch.tensor([index[c] for c in text], dtype=torch.long), len(chars)
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, len(CHARS), (length,), generator=gen), len(CHARS)


def stream(ids: torch.Tensor, seed: int, device: torch.device):
    """`draw(step, batch_size)`: seed `seed`'s training batch number `step`, as tinyshakespeare's
    `batch` draws it, on the device."""

    def draw(step: int, batch_size: int):
        x, y = random_windows(ids, BLOCK, batch_size, generator(seed, STREAM_TRAIN, step))
        return x.to(device), y.to(device)

    return draw


def evaluated(ids: torch.Tensor, device: torch.device, rows: int = 24) -> dict:
    """The few fixed windows the engine evaluates at its first and last history points (untimed)."""
    x, y = random_windows(ids, BLOCK, rows, torch.Generator().manual_seed(0))
    return {"train": (x.to(device), y.to(device))}


def training(iters: int, matrices: bool = True) -> dict:
    """lm_positional's training for `iters` iterations; `matrices=False`: decay on every parameter."""
    spec = TrainingSpec(
        optimizer="adamw",
        lr=LR,
        beta2=BETA2,
        weight_decay=WEIGHT_DECAY,
        weight_decay_on="matrices" if matrices else "all",
        lr_schedule="cosine",
        warmup=WARMUP,
        min_lr=MIN_LR,
        batch_size=BATCH,
        steps=iters,
        history_every=iters,  # history at the start and the end only: nothing between the timed steps
        grad_clip=CLIP,
        select="final",
    )
    return spec.model_dump(exclude={"vectorize"})


def model(vocab: int, seed: int, tied: bool, device: torch.device) -> nn.Module:
    torch.manual_seed(seed)
    return DecoderLM(vocab, BLOCK, tie_weights=tied, **CONFIG).to(device)


class Autocast(nn.Module):
    """The model's forward under bf16 autocast (CUDA), logits back in float32 for the loss."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return self.inner(x).float()


class Clock:
    """A stamp after every optimizer step; an iteration is the gap between two stamps: CUDA events
    on CUDA, else this process's CPU time."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.stamps: list = []

    def stamp(self) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.stamps.append(event)
        else:
            self.stamps.append(time.process_time())

    def wrap(self, step):
        def timed():
            step()
            self.stamp()

        return timed

    def ms(self, warmup: int) -> float:
        """Median ms of the iterations after the first `warmup`."""
        if self.cuda:
            torch.cuda.synchronize()
            gaps = [a.elapsed_time(b) for a, b in zip(self.stamps, self.stamps[1:], strict=False)]
        else:
            gaps = [(b - a) * 1e3 for a, b in zip(self.stamps, self.stamps[1:], strict=False)]
        return statistics.median(gaps[warmup:])


def engine(members, train: dict, device: torch.device, warmup: int) -> float:
    clock = Clock(device)
    members.step = clock.wrap(members.step)
    fit(members, train, device, eval_batch=256)
    return clock.ms(warmup)


def one_seed(vocab, ids, iters, warmup, device, tied=True, bf16=False, net=None) -> float:
    net = net if net is not None else model(vocab, 0, tied, device)
    train = training(iters, matrices=tied)
    members = One(
        Autocast(net) if bf16 else net, evaluated(ids, device), train, 0, "lm", stream(ids, 0, device)
    )
    return engine(members, train, device, warmup)


def plain(vocab, ids, iters, warmup, device, bf16=False, net=None) -> float:
    """nanoGPT's loop by hand, on the engine's batches of the same seed."""
    net = net if net is not None else model(vocab, 0, True, device)
    draw = stream(ids, 0, device)
    optimizer = torch.optim.AdamW(
        optimizer_groups(net, WEIGHT_DECAY), lr=LR, betas=(0.9, BETA2)
    )  # decay on matrices only, a tied tensor once
    clock = Clock(device)
    net.train()
    for it in range(iters):
        for group in optimizer.param_groups:  # warm-up, then cosine to MIN_LR
            group["lr"] = LR * lr_factor(it, iters, "cosine", WARMUP, MIN_LR / LR)
        xb, yb = draw(it, BATCH)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = net(xb)
        loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), yb.view(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), CLIP)
        optimizer.step()
        clock.stamp()
    return clock.ms(warmup)


def stacked(vocab, ids, iters, warmup, device, seeds: int) -> float:
    """ms per seed per iteration, `seeds` untied models trained as one Group, each on its own stream."""
    members = [model(vocab, s, False, device) for s in range(seeds)]
    train = training(iters, matrices=False)
    data = evaluated(ids, device)
    draws = [stream(ids, s, device) for s in range(seeds)]
    group = Group(members, [data] * seeds, train, device, list(range(seeds)), 256, "lm", draws)
    return engine(group, train, device, warmup) / seeds


def run(args) -> list[list]:
    """Each configuration once per round, in turns (so a change in the machine's load falls on all
    of them); each row is the median over rounds of its median ms per iteration."""
    device = torch.device(args.device)
    ids, vocab = corpus(args.data)
    ids = ids.to(device)
    it, w = args.iters, args.warmup
    configurations = {
        "engine (train.fit, One), 1 seed": lambda: one_seed(vocab, ids, it, w, device),
        "plain PyTorch loop, 1 seed": lambda: plain(vocab, ids, it, w, device),
        "engine, 1 seed, untied head": lambda: one_seed(vocab, ids, it, w, device, tied=False),
        f"engine, {args.seeds} seeds stacked (Group), per seed": lambda: stacked(
            vocab, ids, it, w, device, args.seeds
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in configurations}
    for _ in range(args.rounds):
        for name, measure in configurations.items():
            times[name].append(measure())
    return [[name, statistics.median(t), min(t), max(t)] for name, t in times.items()]


def run_bf16(args) -> list[list] | str:
    """The same on CUDA in bf16 autocast, or why it is skipped."""
    if not torch.cuda.is_available():
        return "bf16 autocast on CUDA: skipped, no CUDA device here (torch.cuda.is_available() is False)"
    device = torch.device("cuda")
    ids, vocab = corpus(args.data)
    ids = ids.to(device)
    it, w = args.iters, args.warmup
    return [
        ["engine (train.fit, One), 1 seed, bf16", one_seed(vocab, ids, it, w, device, bf16=True)],
        ["plain PyTorch loop, 1 seed, bf16", plain(vocab, ids, it, w, device, bf16=True)],
    ]


def load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load unknown"
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m suite.bench.lm", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--iters", type=positive_int, default=60, help="training iterations per configuration"
    )
    parser.add_argument("--warmup", type=int, default=10, help="iterations left out of the median")
    parser.add_argument("--seeds", type=positive_int, default=3, help="seeds trained together in (3)")
    parser.add_argument("--rounds", type=positive_int, default=3, help="turns through the configurations")
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="torch threads (default 1: see the module's docstring)",
    )
    parser.add_argument("--device", default="cpu", help="where (1)-(3) run (default cpu)")
    parser.add_argument("--data", type=Path, default=None, help="a tinyshakespeare-format text file")
    args = parser.parse_args(argv)
    if args.warmup >= args.iters - 1:
        parser.error(f"--warmup {args.warmup} leaves no timed iteration of --iters {args.iters}")
    if args.data is not None and not args.data.is_file():
        parser.error(f"--data {args.data}: no such file")
    torch.set_num_threads(args.threads)
    print(
        f"DecoderLM {CONFIG['depth']} layers × {CONFIG['heads']} heads × {CONFIG['dim']} wide, context {BLOCK}, "
        f"batch {BATCH}; {args.iters} iterations, median after {args.warmup}, {args.rounds} round(s); "
        f"{'CUDA time' if args.device.startswith('cuda') else 'CPU time (process_time)'} on "
        f"{torch.get_num_threads()} torch thread(s) on {args.device}; {load()}; "
        f"data: {args.data or 'synthetic, 65 characters'}"
    )
    rows = run(args)
    headers = ["configuration", "ms / iteration (median of rounds)", "fastest round", "slowest round"]
    print(tabulate(rows, headers=headers, floatfmt=".2f"))
    one, tied_plain, untied, per_seed = (r[1] for r in rows)
    print(
        f"engine / plain loop: {one / tied_plain:.3f}×; stacked per seed / one at a time: {per_seed / untied:.3f}×"
    )
    extra = run_bf16(args)
    if isinstance(extra, str):
        print(extra)
    else:
        print(tabulate(extra, headers=["configuration (cuda)", "ms / iteration"], floatfmt=".2f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
