"""Training one model: the optimizer loop, its history and its measured speed.

The loop stays lean: losses and accuracies stay on the device as tensors and
are copied to the host once, at the end; the only synchronisation inside the
loop is at history points (to time the segment and to stop a diverged run).
In full-batch training, a history point's training-split values come from the next
step's forward, which reads the same weights and rows (`ForwardAhead`).
"""

from __future__ import annotations

import inspect
import math
import types
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from suite import objective
from suite.measure import Stopwatch
from suite.train_defaults import EVAL_BATCH_SIZE, ONE_AT_A_TIME_KNOBS, SELECT_DEFAULT


def loss_and_correct(
    logits: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and number of correct predictions (the objective: suite.objective)."""
    return objective.loss(logits, y, label_smoothing=label_smoothing), (
        objective.predicted(logits) == y
    ).sum()


def knob(training: dict, name: str):
    """A knob of ONE_AT_A_TIME_KNOBS, at its default where a caller's training dict omits it."""
    return training.get(name, ONE_AT_A_TIME_KNOBS[name])


def lr_factor(step: int, total: int, schedule: str, warmup: float) -> float:
    """The learning rate's multiplier for optimizer step `step` (0-based) of `total`: a linear
    warm-up over the first ⌈warmup · total⌉ steps, then constant, cosine or linear decay to 0."""
    warm = math.ceil(warmup * total)
    if step < warm:
        return (step + 1) / warm
    if schedule == "constant":
        return 1.0
    progress = (step - warm) / max(1, total - warm)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0 - progress


def make_schedule(
    optimizer: torch.optim.Optimizer, training: dict, total: int
) -> Callable[[int], None] | None:
    """What sets the learning rate before optimizer step `step`: each group's initial rate ×
    `lr_factor` (what torch's LambdaLR computes), or None for a constant rate without warm-up.
    Not LambdaLR itself: it patches `optimizer.step` to count calls, which `stepper` must then keep."""
    schedule, warmup = knob(training, "lr_schedule"), knob(training, "warmup")
    if schedule == "constant" and not warmup:
        return None
    initial = [group["lr"] for group in optimizer.param_groups]

    def set_rate(step: int) -> None:
        factor = lr_factor(step, total, schedule, warmup)
        for group, lr in zip(optimizer.param_groups, initial, strict=True):
            group["lr"] = lr * factor

    return set_rate


def make_optimizer(params, training: dict) -> torch.optim.Optimizer:
    name, lr, wd = training["optimizer"], training["lr"], training["weight_decay"]
    if name == "adam":
        return _build(torch.optim.Adam, params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return _build(torch.optim.AdamW, params, lr=lr, weight_decay=wd)
    if name == "sgd":
        return _build(torch.optim.SGD, params, lr=lr, weight_decay=wd, momentum=training["momentum"])
    if name == "rmsprop":  # torch's defaults (alpha 0.99, eps 1e-8), as the lecture's RMSprop()
        return _build(torch.optim.RMSprop, params, lr=lr, weight_decay=wd, momentum=training["momentum"])
    raise ValueError(f"unknown optimizer {name!r}")


def _build(cls: type[torch.optim.Optimizer], params, **options) -> torch.optim.Optimizer:
    """`cls(params, **options)`, without importing torch._dynamo: `Optimizer.__init__` adds its
    parameter groups through a method wrapped in `torch._disable_dynamo`, whose first call imports
    the compiler (~1.05 s a process, as long as importing torch itself). While this instance is
    built it calls the unwrapped method, the same code; nothing else about it changes."""
    optimizer = cls.__new__(cls)
    optimizer.add_param_group = types.MethodType(
        inspect.unwrap(torch.optim.Optimizer.add_param_group), optimizer
    )
    try:
        optimizer.__init__(params, **options)
    finally:
        del optimizer.add_param_group
    return optimizer


def stepper(optimizer: torch.optim.Optimizer) -> Callable[[], None]:
    """`optimizer.step`, or, where nothing observes the call, the optimizer's own update without the
    wrappers torch.optim puts around every call: a profiler record, the step hooks, and two
    `torch._dynamo.graph_break()`s, whose first call imports torch._dynamo (~1.1 s a process, for a
    compiler the suite never uses). The update is the same code on the same tensors, so the same
    numbers (tests/test_train.py). Measured on Adam over one 30,000-float tensor (1 thread): 86 → 67 µs
    a step. Build it after registering any hook: those (and a torch LR scheduler, which patches
    `step` to count its calls, or `differentiable=True`) keep `optimizer.step`."""
    from torch.optim import optimizer as base

    update = inspect.unwrap(type(optimizer).step)
    observed = (
        "step" in vars(optimizer)
        or optimizer.defaults.get("differentiable")
        or getattr(optimizer, "_optimizer_step_pre_hooks", None)
        or getattr(optimizer, "_optimizer_step_post_hooks", None)
        or getattr(base, "_global_optimizer_pre_hooks", None)
        or getattr(base, "_global_optimizer_post_hooks", None)
    )
    if observed or update is type(optimizer).step:
        return optimizer.step

    def step() -> None:
        with torch.no_grad():
            update(optimizer)

    return step


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


class Selector:
    """Model selection on the validation split: which history point is the reported one.

    `select` is `val_accuracy` (highest val accuracy, ties to the lower val loss, then the
    earlier point), `val_loss` (lowest val loss) or `final` (the last point). Without a `val`
    split the last point is reported, and `reason` says so. Never the test split.
    """

    def __init__(self, select: str, splits: list[str]):
        self.select = select
        self.active = select != "final" and "val" in splits
        if select == "final":
            self.reason = "final epoch (training.select: final)"
        elif not self.active:
            self.reason = "final epoch (no val split)"
        else:
            self.reason = f"best val {select.removeprefix('val_')}"
        self.best: tuple[float, float] | None = None  # (loss, accuracy) at the best point
        self.best_step = 0
        self.since = 0  # history points since the last improvement

    def offer(self, step: int, loss: float, accuracy: float) -> bool:
        """Tell it the val metrics at a history point; True if this point is the new best."""
        if not self.active:
            self.best_step = step
            return False
        if self.best is None or self._better(loss, accuracy, *self.best):
            self.best, self.best_step, self.since = (loss, accuracy), step, 0
            return True
        self.since += 1
        return False

    def _better(self, loss: float, accuracy: float, best_loss: float, best_accuracy: float) -> bool:
        if not math.isfinite(loss):
            return False
        if self.select == "val_loss":
            return loss < best_loss
        return accuracy > best_accuracy or (accuracy == best_accuracy and loss < best_loss)

    def describe(self, stopped_early: bool) -> str:
        """How the reported point was chosen, for the result row's `selection`."""
        return self.reason + (", stopped early" if stopped_early else "")

    def exhausted(self, patience: int | None) -> bool:
        """Early stopping: `patience` history points without improvement."""
        return self.active and patience is not None and self.since >= patience


class ForwardAhead:
    """In full-batch training, a history point's evaluation of the training split reads the same
    weights and rows as the next step's forward: take that forward at the point (`values`), give the
    point's training-split values from it, and hand it to the step (`take`).

    Only for a model that reads train mode nowhere (`same_in_train_mode`), and checked bit for bit
    against `evaluate()` at the first point, before the forward. Call it after the point's other
    splits are evaluated: its forward keeps a graph, and a plugin's module could update buffers.

    `forward()` → (what the step needs, what `values` needs), timed and charged to the step's
    segment; `values(part)` and `evaluate()` → (loss, accuracy). The last point is always evaluated
    (no step follows it)."""

    def __init__(self, enabled: bool, last_step: int, device: torch.device, forward, values, evaluate):
        self.enabled, self.last_step, self.device = enabled, last_step, device
        self.forward, self.to_values, self.evaluate = forward, values, evaluate
        self.pending: tuple[object, float] | None = None

    def values(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The training split's (loss, accuracy) at `step`: from the forward taken ahead, or evaluated."""
        if not self.enabled or step == self.last_step:
            return self.evaluate()
        evaluated = self.evaluate() if step == 0 else None
        with Stopwatch(self.device) as sw:
            out, part = self.forward()
        self.pending = (out, sw.seconds)
        with torch.no_grad():
            values = self.to_values(part)
        if evaluated is not None and not all(
            torch.equal(a, b) for a, b in zip(values, evaluated, strict=True)
        ):
            self.enabled = False
            return evaluated
        return values

    def take(self) -> tuple[object, float] | None:
        """The forward taken at the last point and its seconds, once; None if there is none."""
        pending, self.pending = self.pending, None
        return pending


def dropout_of(module: nn.Module) -> float:
    """The dropout rate `module` itself applies in train mode (0: none): a dropout layer's, or the
    `dropout` of a module that drops attention weights or between recurrent layers."""
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return module.p
    rate = getattr(module, "dropout", None)
    return rate if isinstance(rate, float) else 0.0


def same_in_train_mode(model: nn.Module) -> bool:
    """Whether `model` computes the same in train and eval mode as far as its modules say: no
    dropout, and no buffers (batch norm's running statistics). A module that reads `training`
    some other way is caught by `ForwardAhead`'s check."""
    return not any(dropout_of(m) or next(m.buffers(recurse=False), None) is not None for m in model.modules())


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)  # step, epoch, split, loss, accuracy
    steps: int = 0
    diverged: bool = False
    timed_seconds: float = 0.0  # training time after the warm-up segment
    timed_samples: int = 0
    selected_step: int = 0  # the reported history point (the model holds its weights)
    selection: str = "final epoch"  # how it was chosen, in words
    stopped_early: bool = False


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
    eval_batch: int = EVAL_BATCH_SIZE,
) -> TrainResult:
    """Train on the first split; evaluate every split at each history point (the training split
    in full batch: from the next step's forward); leave the model with the weights of the point the
    validation split selects (`Selector`)."""
    names = list(splits)
    x, y = splits[names[0]]
    schedule = Schedule.from_spec(training, len(x))
    optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], training)
    set_rate = make_schedule(optimizer, training, schedule.total_steps)
    step_optimizer = stepper(optimizer)
    smoothing = knob(training, "label_smoothing")
    generator = torch.Generator().manual_seed(seed)
    stream = batches(x, y, schedule, generator)
    result = TrainResult()
    recorded = []  # (step, split, loss tensor, accuracy tensor)
    selector = Selector(training.get("select", SELECT_DEFAULT), names)
    best_state: dict[str, torch.Tensor] | None = None
    points = schedule.history_points()

    def forward():  # the next step's forward: its loss and rows, and what its history values need
        xb, yb = next(stream)
        logits = model(xb)
        loss = objective.loss(logits, yb)
        return (loss, len(xb)), (loss, logits, yb)

    def split_values(part):  # as `evaluate` sums them over its one pass
        loss, logits, yb = part
        return loss.detach() * len(yb) / len(x), (objective.predicted(logits) == yb).sum().double() / len(x)

    # full batch, one evaluation pass, evaluation's loss (no label smoothing), no dropout or buffers
    full = schedule.batch_size >= schedule.n_train and len(x) <= eval_batch and not smoothing
    ahead = ForwardAhead(
        full and same_in_train_mode(model),
        points[-1],
        device,
        forward,
        split_values,
        lambda: evaluate(model, x, y, eval_batch),
    )

    def record(step: int) -> bool:
        """Evaluate every split at this step, offer val to the selector; False if the run diverged."""
        nonlocal best_state
        values = {name: evaluate(model, *splits[name], eval_batch) for name in names[1:]}
        if not selector.active:
            selector.offer(step, math.nan, math.nan)
        elif selector.offer(step, *(v.item() for v in values["val"])):
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        values[names[0]] = ahead.values(step)  # last: see ForwardAhead
        recorded.extend((step, name, *values[name]) for name in names)
        return bool(torch.isfinite(values[names[0]][0]))

    model.train()
    step = 0
    if not record(0):
        result.diverged = True
    for segment, target in enumerate(points[1:]):
        if result.diverged:
            break
        samples = 0
        carried = 0.0  # seconds of this segment's first forward, taken at the history point before it
        with Stopwatch(device) as sw:
            while step < target:
                if taken := ahead.take():
                    (loss, rows), carried = taken
                else:
                    xb, yb = next(stream)
                    loss, _ = loss_and_correct(model(xb), yb, smoothing)
                    rows = len(xb)
                if set_rate is not None:
                    set_rate(step)
                model.zero_grad(set_to_none=True)  # optimizer.zero_grad would import torch._dynamo (`_build`)
                loss.backward()
                if training["grad_clip"]:
                    nn.utils.clip_grad_norm_(model.parameters(), training["grad_clip"])
                step_optimizer()
                samples += rows
                step += 1
        # The first segment pays for warm-up (allocations, lazy init); time the rest,
        # unless there is no rest.
        if segment > 0 or len(points) == 2:
            result.timed_seconds += sw.seconds + carried
            result.timed_samples += samples
        if not record(step):
            result.diverged = True
        elif selector.exhausted(training.get("patience")):
            result.stopped_early = True
            break
    result.steps = step
    if best_state is not None and selector.best_step != step:
        model.load_state_dict(best_state)
    result.selected_step = selector.best_step
    result.selection = selector.describe(result.stopped_early)

    values = torch.stack([torch.stack((loss, acc.to(loss.dtype))) for _, _, loss, acc in recorded])
    for (s, name, _, _), (loss, acc) in zip(recorded, values.tolist(), strict=True):
        result.history.append(
            {"step": s, "epoch": s / schedule.steps_per_epoch, "split": name, "loss": loss, "accuracy": acc}
        )
    return result
