"""The training engine: one loop (`fit`), one evaluator (`evaluate`) and one update (`update`) for
one model (`One`) or many trained side by side (suite.vectorized's `Group`), through `Members`.
Metrics come from the registry (suite.metrics): each is computed over (logits, targets, mask).

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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from suite import metrics, objective
from suite.measure import Stopwatch
from suite.train_defaults import EVAL_BATCH_SIZE, EVAL_KNOBS, LM_KNOBS, ONE_AT_A_TIME_KNOBS, SELECT_DEFAULT


def knob(training: dict, name: str):
    """A knob of ONE_AT_A_TIME_KNOBS, LM_KNOBS or EVAL_KNOBS, at its default where a caller's training
    dict omits it."""
    return training.get(name, {**ONE_AT_A_TIME_KNOBS, **LM_KNOBS, **EVAL_KNOBS}[name])


def history_splits(names: list[str], which: str) -> list[str]:
    """The splits a history point evaluates (training.history_splits): all of them; all but the
    training split ("held_out"); or val alone ("val"); every split where that would leave none."""
    keep = {"all": names, "held_out": names[1:], "val": [n for n in names if n == "val"]}[which]
    return keep or names


def lr_factor(step: int, total: int, schedule: str, warmup: float, floor: float = 0.0) -> float:
    """The learning rate's multiplier for optimizer step `step` (0-based) of `total`: a linear
    warm-up over the first ⌈warmup · total⌉ steps, then constant, cosine or linear decay to
    `floor` (min_lr / lr: nanoGPT's `get_lr`)."""
    warm = math.ceil(warmup * total)
    if step < warm:
        return (step + 1) / warm
    if schedule == "constant":
        return 1.0
    progress = (step - warm) / max(1, total - warm)
    decay = 0.5 * (1 + math.cos(math.pi * progress)) if schedule == "cosine" else 1.0 - progress
    return floor + (1.0 - floor) * decay


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
    floor = knob(training, "min_lr") / training["lr"]

    def set_rate(step: int) -> None:
        factor = lr_factor(step, total, schedule, warmup, floor)
        for group, lr in zip(optimizer.param_groups, initial, strict=True):
            group["lr"] = lr * factor

    return set_rate


def parameter_groups(model: nn.Module, training: dict) -> list:
    """What the optimizer updates: the trainable parameters, or with `weight_decay_on: matrices`
    nanoGPT's two groups (suite.models.decoder.optimizer_groups: decay on dim ≥ 2 only)."""
    if knob(training, "weight_decay_on") == "matrices":
        from suite.models.decoder import optimizer_groups

        return optimizer_groups(model, training["weight_decay"])
    return [p for p in model.parameters() if p.requires_grad]


def make_optimizer(params, training: dict) -> torch.optim.Optimizer:
    name, lr, wd = training["optimizer"], training["lr"], training["weight_decay"]
    betas = (knob(training, "beta1"), knob(training, "beta2"))
    # rho and eps only where set: unset, each optimizer keeps torch's own default
    extra = {k: v for k in ("rho", "eps") if (v := knob(training, k)) is not None}
    if name == "adam":
        return _build(torch.optim.Adam, params, lr=lr, weight_decay=wd, betas=betas, **extra)
    if name == "adamw":
        return _build(torch.optim.AdamW, params, lr=lr, weight_decay=wd, betas=betas, **extra)
    if name == "adadelta":  # Zeiler 2012, Kim 2014's optimizer (ρ 0.95, ε 1e-6, lr 1.0)
        return _build(torch.optim.Adadelta, params, lr=lr, weight_decay=wd, **extra)
    if name == "sgd":
        return _build(torch.optim.SGD, params, lr=lr, weight_decay=wd, momentum=training["momentum"])
    if name == "rmsprop":  # torch's defaults (alpha 0.99, eps 1e-8) unless rho/eps say (Keras: 0.9, 1e-7)
        if "rho" in extra:
            extra["alpha"] = extra.pop("rho")  # torch's name for the same decay
        return _build(
            torch.optim.RMSprop, params, lr=lr, weight_decay=wd, momentum=training["momentum"], **extra
        )
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

    `select` is `val_<metric>`, any quality metric the evaluator computes, best in that metric's
    direction (`val_accuracy`: highest val accuracy, ties to the lower val loss, then the earlier
    point; `val_loss`, `val_bits`, ...), or `final` (the last point). Without a `val` split the last
    point is reported, and `reason` says so. Never the test split.
    """

    def __init__(self, select: str, splits: list[str], unit: str = "epoch"):
        """`unit`: what the run's last point is called (a streaming run's is a step, not an epoch)."""
        self.select = select
        self.active = select != "final" and "val" in splits
        if select == "final":
            self.reason = f"final {unit} (training.select: final)"
        elif not self.active:
            self.reason = f"final {unit} (no val split)"
        else:
            self.reason = f"best val {select.removeprefix('val_')}"
        self.metric = metrics.get(select.removeprefix("val_")) if self.active else None
        self.best: Mapping[str, float] | None = None  # the val metrics at the best point
        self.best_step = 0
        self.since = 0  # history points since the last improvement

    def offer(self, step: int, values: Mapping[str, float]) -> bool:
        """Tell it the val metrics at a history point (metric name → value; nothing when it is
        not active); True if this point is the new best."""
        if not self.active:
            self.best_step = step
            return False
        if self.best is None or self._better(values, self.best):
            self.best, self.best_step, self.since = dict(values), step, 0
            return True
        self.since += 1
        return False

    def _better(self, new: Mapping[str, float], best: Mapping[str, float]) -> bool:
        """Better on the selected metric; a tie goes to the lower loss (and then the earlier point)."""
        if not math.isfinite(new["loss"]):
            return False
        name = self.metric.name
        if new[name] != best[name]:
            return new[name] > best[name] if self.metric.higher_is_better else new[name] < best[name]
        return name != "loss" and new["loss"] < best["loss"]

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
    segment; `values(part)` and `evaluate()` → {metric: value per member}. The last point is always
    evaluated (no step follows it)."""

    def __init__(self, enabled: bool, last_step: int, device: torch.device, forward, values, evaluate):
        self.enabled, self.last_step, self.device = enabled, last_step, device
        self.forward, self.to_values, self.evaluate = forward, values, evaluate
        self.pending: tuple[object, float] | None = None

    def values(self, step: int) -> dict[str, torch.Tensor]:
        """The training split's metrics at `step`: from the forward taken ahead, or evaluated."""
        if not self.enabled or step == self.last_step:
            return self.evaluate()
        evaluated = self.evaluate() if step == 0 else None
        with Stopwatch(self.device) as sw:
            out, part = self.forward()
        self.pending = (out, sw.seconds)
        with torch.no_grad():
            values = self.to_values(part)
        if evaluated is not None and not all(torch.equal(values[k], evaluated[k]) for k in evaluated):
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
    history: list[dict] = field(default_factory=list)  # step, epoch, split, one value per computed metric
    steps: int = 0
    diverged: bool = False
    timed_seconds: float = 0.0  # training time after the warm-up segment
    timed_samples: int = 0
    selected_step: int = 0  # the reported history point (the model holds its weights)
    selection: str = "final epoch"  # how it was chosen, in words
    stopped_early: bool = False


def batches(
    x, y, schedule: Schedule, generator: torch.Generator, lengths: torch.Tensor | None = None, pool=None
):
    """Endless (x, y) batches: the whole set each step when it fits in one batch
    (the course's full-batch loop), else a fresh seeded shuffle every epoch; with `pool`
    (training.bucket_pool) and the rows' `lengths`, that shuffle bucketed by length (`bucketed`)."""
    n, bs = schedule.n_train, schedule.batch_size
    while True:
        if bs >= n:
            yield x, y
            continue
        order = torch.randperm(n, generator=generator).to(x.device)
        if pool is None:
            for start in range(0, n, bs):
                idx = order[start : start + bs]
                yield x[idx], y[idx]
            continue
        chunks = bucketed(order, lengths, bs, pool)
        for i in torch.randperm(len(chunks), generator=generator).tolist():
            yield x[chunks[i]], y[chunks[i]]


def bucketed(order: torch.Tensor, lengths: torch.Tensor, batch_size: int, pool: int) -> list[torch.Tensor]:
    """An epoch's shuffled `order` in batches of rows of similar length: cut into pools of `pool`
    batches, each pool sorted by length (stable: equal lengths keep the shuffle's order), then cut into
    batches, so a batch's rows come from one pool, and the epoch has as many batches as unbucketed.
    Shorter batches then carry less padding to trim; which rows train together still varies by seed."""
    out: list[torch.Tensor] = []
    for start in range(0, len(order), batch_size * pool):
        part = order[start : start + batch_size * pool]
        part = part[torch.argsort(lengths[part], stable=True)]
        out.extend(part.split(batch_size))
    return out


def drawn(draw: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]], batch_size: int):
    """Endless (x, y) batches of a streaming dataset: batch number `step` is `draw(step, batch_size)`,
    so a run repeated at a seed sees the same batches, and no epoch order exists."""
    step = 0
    while True:
        yield draw(step, batch_size)
        step += 1


def evaluated_rows(
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]], rows: int | None
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Each split cut to `rows` evenly spaced rows (`training.eval_rows`), the same ones every time;
    all of them when None or when a split has no more."""
    if rows is None:
        return splits
    out = {}
    for name, (x, y) in splits.items():
        if len(x) > rows:
            index = torch.linspace(0, len(x) - 1, rows).round().long().to(x.device)
            x, y = x[index], y[index]
        out[name] = (x, y)
    return out


# ── the one training loop and its evaluator ─────────────────────────────────────────────────────


@dataclass
class Batch:
    """Rows of every member at once: the model's input, targets (G, B, ...), a mask of the
    targets that count (1) or None where all do, and how many examples each member trains on
    in it (an int where all train on as many)."""

    x: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor | None = None
    rows: int | list[int] = 0


class Members:
    """What `fit` trains: G models of one architecture side by side, each with its own weights,
    optimizer state, data order and history. `One` is one model; suite.vectorized's `Group` is
    seeds stacked into one model with one flat optimizer, whose summed member losses give each
    member its own gradient. The loop, the evaluator and the metrics see only this interface:
    logits with a leading member axis (`view`), and per-member values of shape (G,)."""

    size: int
    model: nn.Module  # what the loop calls forward on (train/eval mode is set on it)
    optimizer: torch.optim.Optimizer  # its parameter groups' rates follow the LR schedule
    schedule: Schedule  # shared by every member
    names: list[str]  # the splits: the first is trained on, every one is evaluated
    full_batch: bool  # every step reads each member's whole training split
    train_rows: int  # rows of the (longest) training split
    same_in_train_mode: bool  # whether a training-mode forward may stand in for evaluation
    task: str = "classify"  # the dataset's task (suite.data.registry.TASKS): which metrics apply
    # A fresh batch every step (a streaming dataset): no epochs exist, so history counts steps only.
    streaming: bool = False

    def train_batches(self) -> Iterator[Batch]:
        raise NotImplementedError

    def eval_batches(self, split: str, batch_size: int) -> Iterator[Batch]:
        raise NotImplementedError

    def view(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        """The model's output as logits (G, B, ...)."""
        raise NotImplementedError

    def zero_grad(self) -> None:
        raise NotImplementedError

    def clip(self, max_norm: float) -> None:
        """Clip each member's gradient norm over its own parameters."""
        raise NotImplementedError

    def step(self) -> None:
        raise NotImplementedError

    def keep(self, improved: list[int]) -> None:
        """Keep these members' current weights as their best (selection on val)."""
        raise NotImplementedError

    def restore(self, member: int) -> None:
        """Put back the member's kept weights."""
        raise NotImplementedError

    def finish(self) -> None:
        """Leave each member's weights in its own model (a stack copies them back)."""


class One(Members):
    """One model, trained as `train` has always trained it: torch.optim over its trainable
    parameters (`stepper`), its seeded shuffle, and its fused mean loss (`objective.member_loss`)."""

    def __init__(
        self,
        model: nn.Module,
        splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
        training=None,
        seed=0,
        task: str = "classify",
        draw: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]] | None = None,
    ):
        """`task`: the dataset's (which metrics apply). `draw(step, batch_size)` → (x, y): a streaming
        dataset's training batch for each step (`Dataset.batch` at the trial's seed), instead of
        shuffled passes over the train split."""
        self.size, self.model, self.splits, self.names, self.task = 1, model, splits, list(splits), task
        x, y = splits[self.names[0]]
        self.train_rows = len(x)
        self.same_in_train_mode = same_in_train_mode(model)
        self.best_state: dict[str, torch.Tensor] | None = None
        if training is None:  # evaluation only
            return
        self.schedule = Schedule.from_spec(training, len(x))
        self.streaming = draw is not None
        self.full_batch = not self.streaming and self.schedule.batch_size >= self.schedule.n_train
        self.optimizer = make_optimizer(parameter_groups(model, training), training)
        self._step = stepper(self.optimizer)
        # a model's constraint on its weights after each update (SequenceClassifier.constrain: max-norm)
        self._constrain = getattr(model, "constrain", None) if getattr(model, "head_max_norm", None) else None
        pool = knob(training, "bucket_pool")
        if draw is None and pool is not None:
            pad = getattr(model, "pad_id", None)
            if pad is None:
                raise ValueError(
                    "training.bucket_pool needs a model that masks padding (it sorts rows by length)"
                )
            model.trim_in_training = True  # bucketed batches pay only where their padding is cut
            lengths = (x != pad).sum(dim=1)
            self._stream = batches(x, y, self.schedule, torch.Generator().manual_seed(seed), lengths, pool)
        elif draw is None:
            self._stream = batches(x, y, self.schedule, torch.Generator().manual_seed(seed))
        else:
            self._stream = drawn(draw, training["batch_size"])

    def train_batches(self) -> Iterator[Batch]:
        for xb, yb in self._stream:
            targets = yb.unsqueeze(0)
            yield Batch(xb, targets, objective.scored(targets), len(xb))

    def eval_batches(self, split: str, batch_size: int) -> Iterator[Batch]:
        x, y = self.splits[split]
        for start in range(0, len(x), batch_size):
            xb, targets = x[start : start + batch_size], y[start : start + batch_size].unsqueeze(0)
            yield Batch(xb, targets, objective.scored(targets), len(xb))

    def view(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        return out.unsqueeze(0)

    def zero_grad(self) -> None:
        self.model.zero_grad(set_to_none=True)  # optimizer.zero_grad would import torch._dynamo (`_build`)

    def clip(self, max_norm: float) -> None:
        nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)

    def step(self) -> None:
        self._step()
        if self._constrain is not None:
            self._constrain()

    def keep(self, improved: list[int]) -> None:
        self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def restore(self, member: int) -> None:
        self.model.load_state_dict(self.best_state)


def batch_values(logits: torch.Tensor, batch: Batch, task: str) -> dict[str, torch.Tensor]:
    """Every computed metric's per-member sum over one batch (`suite.metrics.quality_metric`)."""
    return {m.name: m.compute(logits, batch.targets, batch.mask) for m in metrics.computed(task)}


def means(sums: dict[str, torch.Tensor], count) -> dict[str, torch.Tensor]:
    """Each metric's mean over the targets counted (an integer sum, a count, in float64), passed
    through the metric's `of_mean` where it has one."""
    out = {}
    for name, total in sums.items():
        mean = total / count if total.is_floating_point() else total.double() / count
        transform = metrics.get(name).of_mean
        out[name] = transform(mean) if transform is not None else mean
    return out


@torch.no_grad()
def evaluate(members: Members, split: str, batch_size: int) -> dict[str, torch.Tensor]:
    """The evaluator: every computed metric over a whole split, per member (G,), in eval mode,
    as device tensors."""
    model = members.model
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    count = 0
    try:
        for batch in members.eval_batches(split, batch_size):
            part = batch_values(members.view(model(batch.x), batch), batch, members.task)
            sums = {k: sums[k] + v for k, v in part.items()} if sums else part
            count = count + objective.counted(batch.targets, batch.mask)
    finally:
        model.train(was_training)
    return means(sums, count)


def update(members: Members, losses: torch.Tensor, clip: float | None) -> None:
    """The suite's one optimizer update (tests/test_train.py fails if another function calls
    `backward`): the members' losses summed (they share no parameter, so each member's gradient
    is its own), each member's gradient clipped on its own, one optimizer step."""
    members.zero_grad()
    losses.sum().backward()
    if clip:
        members.clip(clip)
    members.step()


def train(
    model: nn.Module,
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
    training: dict,
    device: torch.device,
    seed: int,
    eval_batch: int = EVAL_BATCH_SIZE,
    task: str = "classify",
    draw: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> TrainResult:
    """Train one model (`fit` over `One`) on a dataset of this task; `draw` gives a streaming
    dataset's batches (`One`)."""
    return fit(One(model, splits, training, seed, task, draw), training, device, eval_batch)[0]


def fit(
    members: Members, training: dict, device: torch.device, eval_batch: int = EVAL_BATCH_SIZE
) -> list[TrainResult]:
    """The training loop, for one model or many side by side: train on the first split; evaluate
    every split at each history point (the training split in full batch: from the next step's
    forward; only those `history_splits` names); stop a member that diverges or runs out of patience; leave each member with the
    weights of the point its validation split selects (`Selector`). One `TrainResult` per member.

    Time: a segment's seconds are shared equally by the members that trained in it; each member's
    samples are its own."""
    size, names, schedule, model = members.size, members.names, members.schedule, members.model
    set_rate = make_schedule(members.optimizer, training, schedule.total_steps)
    smoothing = knob(training, "label_smoothing")
    clip, patience = training["grad_clip"], training.get("patience")
    stream = members.train_batches()
    unit = "step" if members.streaming else "epoch"
    selectors = [Selector(training.get("select", SELECT_DEFAULT), names, unit) for _ in range(size)]
    recorded: list[tuple[int, str, dict[str, torch.Tensor]]] = []  # step, split, {metric: (G,)}
    kept = [False] * size  # whether a member's best weights were kept
    points = schedule.history_points()

    def forward():  # the next step's forward: its losses and rows, and what its history values need
        batch = next(stream)
        out = model(batch.x)
        losses = objective.member_loss(out, batch.targets, batch.mask, smoothing)
        return (losses, batch.rows), (out, batch)

    def split_values(part):  # as `evaluate` computes them over its one pass
        out, batch = part
        counted = objective.counted(batch.targets, batch.mask)
        return means(batch_values(members.view(out, batch), batch, members.task), counted)

    evaluated = history_splits(names, knob(training, "history_splits"))
    ahead = ForwardAhead(  # full batch, one evaluation pass, evaluation's loss, no dropout or buffers
        names[0] in evaluated
        and members.full_batch
        and members.train_rows <= eval_batch
        and not smoothing
        and members.same_in_train_mode,
        points[-1],
        device,
        forward,
        split_values,
        lambda: evaluate(members, names[0], eval_batch),
    )

    def record(step: int) -> list[bool]:
        """Evaluate the splits, offer val to the selectors; whether each member's loss (on the training
        split, else the first split evaluated) is finite."""
        values = {name: evaluate(members, name, eval_batch) for name in evaluated if name != names[0]}
        if names[0] in evaluated:
            values[names[0]] = ahead.values(step)  # last: see ForwardAhead
        recorded.extend((step, name, values[name]) for name in evaluated)
        finite = torch.isfinite(values[evaluated[0]]["loss"])
        if not selectors[0].active:
            for g in range(size):
                if alive[g]:
                    selectors[g].offer(step, {})
            return finite.tolist()
        val = values["val"]
        *columns, ok = torch.stack(
            [*(v.double() for v in val.values()), finite.double()]
        ).tolist()  # one copy
        improved = [
            g
            for g in range(size)
            if alive[g] and selectors[g].offer(step, {k: c[g] for k, c in zip(val, columns, strict=True)})
        ]
        if improved:
            members.keep(improved)
            for g in improved:
                kept[g] = True
        return [bool(x) for x in ok]

    results = [TrainResult() for _ in range(size)]
    alive = [True] * size  # still training: neither diverged nor stopped early
    stopped_at = [0] * size  # index in `points` of each member's last history point
    model.train()
    step = 0
    for g, finite in enumerate(record(0)):
        if not finite:
            alive[g] = False
            results[g].diverged = True
    for segment, target in enumerate(points[1:], start=1):
        if not any(alive):
            break
        rows = []  # each step's rows
        carried = 0.0  # seconds of this segment's first forward, taken at the history point before it
        with Stopwatch(device) as sw:
            while step < target:
                if taken := ahead.take():
                    (losses, batch_rows), carried = taken
                else:
                    batch = next(stream)  # the model's output as it is: no view for autograd to record
                    losses = objective.member_loss(model(batch.x), batch.targets, batch.mask, smoothing)
                    batch_rows = batch.rows
                if set_rate is not None:
                    set_rate(step)
                update(members, losses, clip)
                rows.append(batch_rows)
                step += 1
        # The first segment pays for warm-up (allocations, lazy init); time the rest, unless there is no rest.
        timed = segment > 1 or len(points) == 2
        finite = record(step)
        for g in range(size):
            if not alive[g]:
                continue
            stopped_at[g] = segment
            if timed:
                results[g].timed_seconds += (sw.seconds + carried) / size
                results[g].timed_samples += sum(r if isinstance(r, int) else r[g] for r in rows)
            if not finite[g]:
                alive[g] = False
                results[g].diverged = True
            elif selectors[g].exhausted(patience):  # early stopping; its later steps are never reported
                alive[g] = False
                results[g].stopped_early = True
    last_step = [points[stopped_at[g]] for g in range(size)]
    for g in range(size):
        if kept[g] and selectors[g].best_step != last_step[g]:
            members.restore(g)
    members.finish()

    names_of = list(recorded[0][2])
    dtype = recorded[0][2]["loss"].dtype
    values = torch.stack([torch.stack([v[m].to(dtype) for m in names_of]) for _, _, v in recorded]).tolist()
    for (s, split, _), per_metric in zip(recorded, values, strict=True):  # (metrics, G) each
        for g in range(size):
            if s <= last_step[g]:
                # a streaming run never passes over its fixed train split: its epoch is null
                epoch = None if members.streaming else s / schedule.steps_per_epoch
                point = {"step": s, "epoch": epoch, "split": split}
                results[g].history.append(
                    point | {m: v[g] for m, v in zip(names_of, per_metric, strict=True)}
                )
    for g in range(size):
        results[g].steps = last_step[g]
        results[g].selected_step = selectors[g].best_step
        results[g].selection = selectors[g].describe(results[g].stopped_early)
    return results
