"""Training one model: the optimizer loop, its history and its measured speed.

The loop stays lean: losses and accuracies stay on the device as tensors and
are copied to the host once, at the end; the only synchronisation inside the
loop is at history points (to time the segment and to stop a diverged run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from suite.measure import Stopwatch


def loss_and_correct(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and number of correct predictions. One logit per row means two
    classes trained with binary cross-entropy, as the course; else cross-entropy."""
    if logits.dim() == 1:
        loss = F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype))
        correct = ((logits > 0).long() == y).sum()
    else:
        loss = F.cross_entropy(logits, y)
        correct = (logits.argmax(dim=-1) == y).sum()
    return loss, correct


def make_optimizer(params, training: dict) -> torch.optim.Optimizer:
    name, lr, wd = training["optimizer"], training["lr"], training["weight_decay"]
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd, momentum=training["momentum"])
    if name == "rmsprop":  # torch's defaults (alpha 0.99, eps 1e-8), as the lecture's RMSprop()
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd, momentum=training["momentum"])
    raise ValueError(f"unknown optimizer {name!r}")


@dataclass
class Schedule:
    """How many steps to take and when to record history, from the training spec."""

    n_train: int
    batch_size: int
    steps_per_epoch: int
    total_steps: int
    every: int  # steps between history points

    @classmethod
    def from_spec(cls, training: dict, n_train: int) -> Schedule:
        batch_size = min(training["batch_size"] or n_train, n_train)
        steps_per_epoch = math.ceil(n_train / batch_size)
        if training["steps"]:
            total, every = training["steps"], training["history_every"]
        else:
            total = training["epochs"] * steps_per_epoch
            every = training["history_every"] * steps_per_epoch
        return cls(n_train, batch_size, steps_per_epoch, total, min(every, total))

    def history_points(self) -> list[int]:
        points = list(range(0, self.total_steps + 1, self.every))
        if points[-1] != self.total_steps:
            points.append(self.total_steps)
        return points


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)  # step, epoch, split, loss, accuracy
    steps: int = 0
    diverged: bool = False
    timed_seconds: float = 0.0  # training time after the warm-up segment
    timed_samples: int = 0


def batches(x, y, schedule: Schedule, generator: torch.Generator):
    """Endless (x, y) batches: the whole set each step when it fits in one batch
    (the course's full-batch loop), else a fresh seeded shuffle every epoch."""
    n, bs = schedule.n_train, schedule.batch_size
    while True:
        if bs >= n:
            yield x, y
            continue
        order = torch.randperm(n, generator=generator).to(x.device)
        for start in range(0, n, bs):
            idx = order[start : start + bs]
            yield x[idx], y[idx]


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int):
    """(loss, accuracy) as device tensors, over the whole split, in eval mode."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        loss, c = loss_and_correct(model(xb), yb)
        loss_sum += loss * len(xb)
        correct += c
    model.train(was_training)
    return loss_sum / len(x), correct.double() / len(x)


def train(
    model: nn.Module,
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
    training: dict,
    device: torch.device,
    seed: int,
    eval_batch: int = 4096,
) -> TrainResult:
    """Train on the first split; evaluate every split at each history point."""
    names = list(splits)
    x, y = splits[names[0]]
    schedule = Schedule.from_spec(training, len(x))
    optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], training)
    generator = torch.Generator().manual_seed(seed)
    stream = batches(x, y, schedule, generator)
    result = TrainResult()
    recorded = []  # (step, split, loss tensor, accuracy tensor)

    def record(step: int) -> bool:
        """Evaluate every split at this step; False if the run diverged."""
        for name in names:
            loss, acc = evaluate(model, *splits[name], eval_batch)
            recorded.append((step, name, loss, acc))
        return bool(torch.isfinite(recorded[-len(names)][2]))

    model.train()
    step = 0
    points = schedule.history_points()
    if not record(0):
        result.diverged = True
    for segment, target in enumerate(points[1:]):
        if result.diverged:
            break
        samples = 0
        with Stopwatch(device) as sw:
            while step < target:
                xb, yb = next(stream)
                optimizer.zero_grad(set_to_none=True)
                loss, _ = loss_and_correct(model(xb), yb)
                loss.backward()
                if training["grad_clip"]:
                    nn.utils.clip_grad_norm_(model.parameters(), training["grad_clip"])
                optimizer.step()
                samples += len(xb)
                step += 1
        # The first segment pays for warm-up (allocations, lazy init); time the rest,
        # unless there is no rest.
        if segment > 0 or len(points) == 2:
            result.timed_seconds += sw.seconds
            result.timed_samples += samples
        if not record(step):
            result.diverged = True
    result.steps = step

    values = torch.stack([torch.stack((loss, acc.to(loss.dtype))) for _, _, loss, acc in recorded])
    for (s, name, _, _), (loss, acc) in zip(recorded, values.tolist(), strict=True):
        result.history.append(
            {"step": s, "epoch": s / schedule.steps_per_epoch, "split": name, "loss": loss, "accuracy": acc}
        )
    return result
