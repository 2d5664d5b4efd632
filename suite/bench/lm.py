"""ms per training iteration of nanoGPT's CPU Shakespeare model through ablate's engine, against a
plain PyTorch loop, and of several seeds trained together against one at a time.

    python -m suite.bench.lm [--iters 60] [--warmup 10] [--seeds 3] [--rounds 2] [--threads 1] [--data FILE]

The model is `suite.models.decoder.DecoderLM` in lm_positional's configuration (4 layers, 4 heads,
128 wide, context 64, batches of 12, dropout 0, no biases, learned positions) on a character corpus
(a tinyshakespeare-format file given with --data, else synthetic text of 65 characters). Its
batches are random windows, as nanoGPT's get_batch draws them: a pool of windows at uniformly random
offsets, reshuffled each pass by the engine's own batching (`suite.train.batches`), and the plain
loop reads the very same batches. AdamW (lr 1e-3, weight decay 0.1, torch's betas), gradient clip 1.

1. engine, one seed: `suite.train.fit` over `One` (the loop every study trains with; DecoderLM is
   not a registry variant in this branch, so it is driven as tests/test_train.py drives the engine);
2. plain loop: zero_grad, forward, cross-entropy, backward, clip_grad_norm_, step, by hand;
3. stacked seeds: `fit` over `vectorized.Group` (G seeds in one model), ms per seed, against (1)
   on the same untied model. A tied head (nanoGPT ties it to the embedding) cannot be stacked
   (`vectorized.unstackable` says why), so (3) and its baseline untie it.

Each iteration's time is the gap between consecutive optimizer steps (batch, forward, loss,
backward, clip, step); the median after `--warmup` iterations, over `--rounds` turns through the
configurations, is printed. On CUDA the same runs in
bf16 autocast, timed with CUDA events; elsewhere that part says why it is skipped. The numbers are
the machine's at the time: run it on an idle machine before comparing.
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
from suite.models.decoder import DecoderLM
from suite.study import TrainingSpec
from suite.train import One, Schedule, batches, fit
from suite.vectorized import Group

CONFIG = {"dim": 128, "depth": 4, "heads": 4, "dropout": 0.0, "bias": False, "positional": "learned"}
BLOCK, BATCH, LR, WEIGHT_DECAY, CLIP = 64, 12, 1e-3, 0.1, 1.0
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


def windows(ids: torch.Tensor, count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` windows of BLOCK characters at random offsets, and their next characters."""
    starts = torch.randint(len(ids) - BLOCK - 1, (count,), generator=torch.Generator().manual_seed(seed))
    offsets = torch.arange(BLOCK)
    return ids[starts[:, None] + offsets], ids[starts[:, None] + offsets + 1]


def training(iters: int) -> dict:
    spec = TrainingSpec(
        optimizer="adamw",
        lr=LR,
        weight_decay=WEIGHT_DECAY,
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
    """A stamp after every optimizer step; an iteration is the gap between two stamps."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.stamps: list = []

    def stamp(self) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.stamps.append(event)
        else:
            self.stamps.append(time.perf_counter())

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


def one_seed(vocab, data, iters, warmup, device, tied=True, bf16=False, net=None) -> float:
    net = net if net is not None else model(vocab, 0, tied, device)
    train = training(iters)
    return engine(One(Autocast(net) if bf16 else net, {"train": data}, train, seed=0), train, device, warmup)


def plain(vocab, data, iters, warmup, device, bf16=False, net=None) -> float:
    """The hand-written loop, on the engine's batches of the same seed."""
    net = net if net is not None else model(vocab, 0, True, device)
    x, y = data
    schedule = Schedule.from_spec(training(iters), len(x))
    stream = batches(x, y, schedule, torch.Generator().manual_seed(0))
    optimizer = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    clock = Clock(device)
    net.train()
    for _ in range(iters):
        xb, yb = next(stream)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = net(xb)
        loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), yb.view(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), CLIP)
        optimizer.step()
        clock.stamp()
    return clock.ms(warmup)


def stacked(vocab, data, iters, warmup, device, seeds: int) -> float:
    """ms per seed per iteration, `seeds` untied models trained as one Group."""
    members = [model(vocab, s, False, device) for s in range(seeds)]
    train = training(iters)
    group = Group(members, [{"train": data}] * seeds, train, device, list(range(seeds)), 256)
    return engine(group, train, device, warmup) / seeds


def run(args) -> list[list]:
    """Each configuration once per round, in turns (so a change in the machine's load falls on all
    of them); each row is the median over rounds of its median ms per iteration."""
    device = torch.device(args.device)
    ids, vocab = corpus(args.data)
    data = tuple(t.to(device) for t in windows(ids, args.pool))
    it, w = args.iters, args.warmup
    configurations = {
        "engine (train.fit, One), 1 seed": lambda: one_seed(vocab, data, it, w, device),
        "plain PyTorch loop, 1 seed": lambda: plain(vocab, data, it, w, device),
        "engine, 1 seed, untied head": lambda: one_seed(vocab, data, it, w, device, tied=False),
        f"engine, {args.seeds} seeds stacked (Group), per seed": lambda: stacked(
            vocab, data, it, w, device, args.seeds
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in configurations}
    for _ in range(args.rounds):
        for name, measure in configurations.items():
            times[name].append(measure())
    return [[name, statistics.median(t)] for name, t in times.items()]


def run_bf16(args) -> list[list] | str:
    """The same on CUDA in bf16 autocast, or why it is skipped."""
    if not torch.cuda.is_available():
        return "bf16 autocast on CUDA: skipped, no CUDA device here (torch.cuda.is_available() is False)"
    device = torch.device("cuda")
    ids, vocab = corpus(args.data)
    data = tuple(t.to(device) for t in windows(ids, args.pool))
    it, w = args.iters, args.warmup
    return [
        ["engine (train.fit, One), 1 seed, bf16", one_seed(vocab, data, it, w, device, bf16=True)],
        ["plain PyTorch loop, 1 seed, bf16", plain(vocab, data, it, w, device, bf16=True)],
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
    parser.add_argument("--rounds", type=positive_int, default=2, help="turns through the configurations")
    parser.add_argument(
        "--pool", type=positive_int, default=600, help="random windows the batches are drawn from"
    )
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="cpu", help="where (1)-(3) run (default cpu)")
    parser.add_argument("--data", type=Path, default=None, help="a tinyshakespeare-format text file")
    args = parser.parse_args(argv)
    if args.warmup >= args.iters - 1:
        parser.error(f"--warmup {args.warmup} leaves no timed iteration of --iters {args.iters}")
    if args.data is not None and not args.data.is_file():
        parser.error(f"--data {args.data}: no such file")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"DecoderLM {CONFIG['depth']} layers × {CONFIG['heads']} heads × {CONFIG['dim']} wide, context {BLOCK}, "
        f"batch {BATCH}; {args.iters} iterations, median after {args.warmup}, {args.rounds} round(s); "
        f"{torch.get_num_threads()} "
        f"torch thread(s) on {args.device}; {load()}; data: {args.data or 'synthetic, 65 characters'}"
    )
    rows = run(args)
    print(tabulate(rows, headers=["configuration", "ms / iteration"], floatfmt=".2f"))
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
