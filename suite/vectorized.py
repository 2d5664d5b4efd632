"""Train many copies of one architecture in one step: seeds (and datasets of one shape) side by side.

Small models are dominated by per-operation overhead, not arithmetic, so ten seeds trained one after
the other pay that overhead ten times. Here they pay it once:

1. Each member is built exactly as the one-at-a-time path builds it (`seed_everything(seed)`, then
   `models.build`), so every seed starts from the same weights.
2. A *stacked* copy of the architecture replaces every module that holds parameters with a stacked
   twin holding all G members' parameters along a leading axis (G, ...). Members' rows are folded
   into the batch axis (G·B, ...), so the model's parameter-free code (attention kernels, masks,
   pooling, residuals) runs unchanged; only the twins know which rows belong to which member.
3. The members' losses are summed before `backward`: they share no parameter, so each member's
   gradient is exactly its own.
4. All stacked parameters live in one flat buffer and their gradients in another, and the optimizer
   that `suite.train.make_optimizer` builds for one trial updates that one tensor (`FlatParameters`).
5. The loop is `suite.train.fit`, the one that trains one model; `Group` is what it drives here.

Why twins and not torch.func: `stack_module_state` + `functional_call` + `vmap` over the members
was measured (`python -m suite.bench.stacking`, 1 thread, load ~4) at 1.78× the twins' time per
step for ablation_positional's mean and 2.16× for its attention (10 seeds; per-op dispatch through
vmap dominates models this small, and scaled_dot_product_attention has no batching rule), and 0.96×
for text_encoders' Conv1d on IMDB-shaped batches (3 seeds), where arithmetic dominates and the two
are even. The twins stay, for five module types; what has no twin runs one at a time.

What cannot be stacked says why (`CannotStack`, `unstackable`) and is trained one at a time by the
caller: modules with parameters and no stacked twin (nn.LSTM), dropout (its random masks would come
from another random stream than the one-at-a-time run's), modules with buffers, and any model whose
stacked losses and gradients do not reproduce the members' own at initialisation (checked before
every group trains, on its first, last and evenly spaced members: `probed`).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterator
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from suite import objective
from suite.models.positional import LearnedPositions
from suite.train import (
    Batch,
    Members,
    Schedule,
    TrainResult,
    drawn,
    dropout_of,
    fit,
    knob,
    make_optimizer,
    stepper,
)
from suite.train_defaults import EVAL_BATCH_SIZE, ONE_AT_A_TIME_KNOBS

log = logging.getLogger(__name__)

PROBE_RTOL, PROBE_ATOL = 1e-4, 1e-6  # stacked vs one-at-a-time at initialisation


class CannotStack(Exception):
    """These models cannot be trained as one stacked model; the message says why."""


_logged: set[str] = set()


def log_once(message: str) -> None:
    """Tell the user once per process why some trials run one at a time."""
    if message not in _logged:
        _logged.add(message)
        log.warning(message)


# ── stacked twins of the modules that hold parameters ─────────────────────────────────────────

TWINS: dict[type, Callable[[list[nn.Module]], nn.Module]] = {}


def twin_of(kind: type):
    def register(cls):
        TWINS[kind] = cls
        return cls

    return register


class Twin(nn.Module):
    """A stacked module: parameter (G, ...) = the members' parameters, stacked in member order."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.size = len(members)
        self.sources: dict[str, list[torch.Tensor]] = {}

    def stack(self, name: str, tensors: list[torch.Tensor]) -> None:
        self.sources[name] = tensors
        self.register_parameter(name, nn.Parameter(torch.stack([t.detach() for t in tensors])))

    @torch.no_grad()
    def unstack(self) -> None:
        """Copy the trained stacked values back into the member modules."""
        for name, tensors in self.sources.items():
            stacked = getattr(self, name)
            for g, tensor in enumerate(tensors):
                tensor.copy_(stacked[g])


@twin_of(nn.Linear)
class StackedLinear(Twin):
    def __init__(self, members: list[nn.Linear]):
        super().__init__(members)
        # Stored as the members' (out, in) and transposed in the product: keeping (G, in, out) saves
        # an autograd node (1–5% of an ablation_positional step) but changes the GEMM's rounding at
        # dim > 2, so reruns would no longer reproduce the committed results.
        self.stack("weight", [m.weight for m in members])  # (G, out, in)
        self.has_bias = members[0].bias is not None
        if self.has_bias:
            self.stack("bias", [m.bias for m in members])  # (G, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (G·B, ..., in)
        shape = x.shape
        rows = x.reshape(self.size, -1, shape[-1])  # (G, B·…, in)
        weight = self.weight.transpose(1, 2)  # (G, in, out)
        if self.has_bias:
            y = torch.baddbmm(self.bias.unsqueeze(1), rows, weight)
        else:
            y = torch.bmm(rows, weight)
        return y.view(*shape[:-1], y.shape[-1])


@twin_of(nn.Embedding)
class StackedEmbedding(Twin):
    """Member g looks its tokens up in rows [g·V, (g+1)·V) of one (G·V, D) table."""

    def __init__(self, members: list[nn.Embedding]):
        super().__init__(members)
        first = members[0]
        if first.max_norm is not None or first.scale_grad_by_freq or first.sparse:
            raise CannotStack("nn.Embedding with max_norm, scale_grad_by_freq or sparse has no stacked form")
        self.stack("weight", [m.weight for m in members])  # (G, V, D)
        self.padding_idx = first.padding_idx
        vocab = first.num_embeddings
        self.register_buffer("offsets", torch.arange(self.size).view(-1, 1) * vocab, persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # tokens: (G·B, T)
        g, v, d = self.weight.shape
        index = tokens.reshape(g, -1) + self.offsets  # (G, B·T)
        table = self.weight.reshape(g * v, d)
        if table.is_cuda:  # F.embedding's CUDA backward sorts first; index_add_'s atomics sum in any order
            out = F.embedding(index, table)
        else:
            # index_select: the same rows, and its CPU backward (index_add_) sums each row's gradients
            # in the same order, where F.embedding's pays a kernel launch per token (a tenth of a
            # stacked step at D = 2).
            out = table.index_select(0, index.flatten())
        out = out.view(*tokens.shape, d)
        if self.padding_idx is not None:  # padding rows read as zeros and get no gradient, as nn.Embedding
            out = out * (tokens != self.padding_idx).unsqueeze(-1).to(out.dtype)
        return out


@twin_of(nn.LayerNorm)
class StackedLayerNorm(Twin):
    def __init__(self, members: list[nn.LayerNorm]):
        super().__init__(members)
        first = members[0]
        if len(first.normalized_shape) != 1:
            raise CannotStack("nn.LayerNorm over more than the last axis has no stacked form")
        self.normalized_shape, self.eps = first.normalized_shape, first.eps
        self.affine = first.weight is not None
        self.has_bias = first.bias is not None
        if self.affine:
            self.stack("weight", [m.weight for m in members])  # (G, D)
        if self.has_bias:
            self.stack("bias", [m.bias for m in members])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (G·B, ..., D)
        y = F.layer_norm(x, self.normalized_shape, None, None, self.eps)
        if not self.affine:
            return y
        rows = y.reshape(self.size, -1, y.shape[-1])  # (G, B·…, D)
        rows = rows * self.weight.unsqueeze(1)
        if self.has_bias:
            rows = rows + self.bias.unsqueeze(1)
        return rows.view(x.shape)


@twin_of(LearnedPositions)
class StackedLearnedPositions(Twin):
    def __init__(self, members: list[LearnedPositions]):
        super().__init__(members)
        self.stack("table", [m.table.weight for m in members])  # (G, L, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (G·B, T, D)
        _, t, d = x.shape
        return (x.view(self.size, -1, t, d) + self.table[:, None, :t]).view(x.shape)


@twin_of(nn.Conv1d)
class StackedConv1d(Twin):
    """G convolutions as one grouped convolution over the members' channels side by side."""

    def __init__(self, members: list[nn.Conv1d]):
        super().__init__(members)
        first = members[0]
        if first.padding_mode != "zeros":
            raise CannotStack(f"nn.Conv1d with padding_mode={first.padding_mode!r} has no stacked form")
        self.stack("weight", [m.weight for m in members])  # (G, C_out, C_in/groups, K)
        self.has_bias = first.bias is not None
        if self.has_bias:
            self.stack("bias", [m.bias for m in members])  # (G, C_out)
        self.stride, self.padding, self.dilation = first.stride, first.padding, first.dilation
        self.groups = first.groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (G·B, C_in, T)
        g = self.size
        _, c_in, t = x.shape
        side_by_side = x.view(g, -1, c_in, t).transpose(0, 1).reshape(-1, g * c_in, t)  # (B, G·C_in, T)
        weight = self.weight.flatten(0, 1)  # (G·C_out, C_in/groups, K)
        bias = self.bias.flatten() if self.has_bias else None
        y = F.conv1d(side_by_side, weight, bias, self.stride, self.padding, self.dilation, g * self.groups)
        c_out, t_out = self.weight.shape[1], y.shape[-1]
        return y.view(-1, g, c_out, t_out).transpose(0, 1).reshape(-1, c_out, t_out)  # (G·B, C_out, T')


def unstackable(model: nn.Module) -> str | None:
    """Why this architecture has no stacked form (None if it has one). Works on meta-device models."""
    if getattr(model, "head_max_norm", None):
        return "head_max_norm rescales the head after each step, which the flat optimizer does not"
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    if frozen:
        return f"{frozen[0]} is frozen, and the flat optimizer would update every stacked parameter"
    tied = sorted(
        {n for n, _ in model.named_parameters(remove_duplicate=False)}
        - {n for n, _ in model.named_parameters()}
    )
    if tied:
        return f"{tied[0]} is tied to another parameter, and each stacked twin would hold its own copy"
    covered: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in covered):
            continue
        where = f"{name or 'model'} ({type(module).__name__})"
        if type(module) in TWINS:
            covered.append(name)
            continue
        if isinstance(module, nn.RNNBase):
            return f"{where}: the fused recurrent kernel takes one weight set per call, not a stack of seeds"
        if rate := dropout_of(module):
            on = "" if isinstance(module, nn.modules.dropout._DropoutNd) else " on its attention weights"
            return (
                f"{where} has dropout p={rate}{on}: stacked seeds would draw their random masks "
                "from another random stream than the one-at-a-time run"
            )
        if next(module.parameters(recurse=False), None) is not None:
            return f"{where} holds parameters and has no stacked twin in suite.vectorized"
        if next(module.buffers(recurse=False), None) is not None:
            return f"{where} keeps buffers, which a stacked model would share between seeds"
    return None


class Stacked:
    """A stacked copy of G member models (same architecture, own weights)."""

    def __init__(self, members: list[nn.Module]):
        reason = unstackable(members[0])
        if reason:
            raise CannotStack(reason)
        self.size = len(members)
        self.module = copy.deepcopy(members[0])
        self.twins: list[Twin] = []
        covered: list[str] = []
        for name, module in list(self.module.named_modules()):
            if not name or any(name.startswith(prefix + ".") for prefix in covered):
                continue
            if type(module) in TWINS:
                twin = TWINS[type(module)]([m.get_submodule(name) for m in members])
                parent, _, attr = name.rpartition(".")
                setattr(self.module.get_submodule(parent) if parent else self.module, attr, twin)
                self.twins.append(twin)
                covered.append(name)

    def origins(self) -> dict[int, tuple[nn.Parameter, int]]:
        """id(member tensor) → (stacked parameter, member index)."""
        out = {}
        for twin in self.twins:
            for name, tensors in twin.sources.items():
                for g, tensor in enumerate(tensors):
                    out[id(tensor)] = (getattr(twin, name), g)
        return out

    def unstack(self) -> None:
        for twin in self.twins:
            twin.unstack()


# ── the optimizer over one flat buffer ─────────────────────────────────────────────────────────


class FlatParameters:
    """Every stacked parameter as a view of one flat tensor, every gradient as a view of one flat
    gradient, and the optimizer `suite.train.make_optimizer` builds for one trial, given that one
    flat tensor: torch.optim's own update, in a handful of operations per step instead of a handful
    per tensor. Its single-tensor update is elementwise, so each member's values are the ones its
    one-at-a-time run computes, to the bit.

    Measured with `python -m suite.bench.stacking` (1 thread, 2-core Xeon, load ~4; full steps,
    µs relative to this layout; every layout then stepped through torch.optim's wrapped `step()`,
    as the benchmark now steps every one through `stepper`): torch.optim over the stacked tensors instead costs 1.27–1.32×
    (single-tensor, foreach) and 1.04–1.09× (fused) per step on ablation_positional's mean and
    attention with 10 seeds; fused is also not the arithmetic of the one-at-a-time run (CPU training
    is single-tensor). Against the hand-written flat Adam this replaced, torch.optim's per-call
    overhead cost ~87 µs CPU a step (30 seeds: 660 vs 574 µs for mean, 1,469 vs 1,381 µs for
    attention), kept for its exactness by construction; stepping through `suite.train.stepper`, as
    the one-at-a-time loop does, takes back ~35 µs of it (mean, 30 seeds, idle: 112 → 77 µs a step).
    """

    def __init__(self, params: list[nn.Parameter], training: dict):
        self.flat = torch.cat([p.detach().reshape(-1) for p in params])
        self.flat.grad = torch.zeros_like(self.flat)
        offset = 0
        for p in params:
            n = p.numel()
            p.data = self.flat[offset : offset + n].view_as(p)  # the parameter now lives in the flat buffer
            p.grad = self.flat.grad[offset : offset + n].view_as(p)  # autograd accumulates into it in place
            offset += n
        self.params = params
        self.optimizer = make_optimizer([self.flat], training)
        self.step = stepper(self.optimizer)

    def zero_grad(self) -> None:
        self.flat.grad.zero_()

    def grads_in_place(self) -> bool:
        """True while every parameter's .grad is still a view of the flat gradient buffer."""
        grad = self.flat.grad
        lo = grad.data_ptr()
        hi = lo + grad.numel() * grad.element_size()
        return all(p.grad is not None and lo <= p.grad.data_ptr() < hi for p in self.params)


def clip_members_(params: list[nn.Parameter], max_norm: float, size: int) -> None:
    """`nn.utils.clip_grad_norm_` for each member on its own (norm over its parameters only)."""
    with torch.no_grad():
        norms = torch.stack([p.grad.reshape(size, -1).norm(dim=1) for p in params], dim=1)  # (G, P)
        total = norms.norm(dim=1)  # (G,)
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for p in params:
            p.grad.mul_(coef.view(-1, *([1] * (p.dim() - 1))))


# ── the members' data, side by side ────────────────────────────────────────────────────────────


class SplitStack:
    """One split of every member: tokens (G, N, T) and labels (G, N), padded to the longest member
    with copies of its own rows that weigh nothing (full-batch groups only)."""

    def __init__(self, parts: list[tuple[torch.Tensor, torch.Tensor]]):
        self.sizes = [len(x) for x, _ in parts]
        n = max(self.sizes)
        self.padded = any(s != n for s in self.sizes)
        same = all(x is parts[0][0] and y is parts[0][1] for x, y in parts)
        if same:  # one dataset for all: a view, not G copies
            x, y = parts[0]
            self.x = x.unsqueeze(0).expand(len(parts), *x.shape)
            self.y = y.unsqueeze(0).expand(len(parts), *y.shape)
        else:
            self.x = torch.stack([_pad_rows(x, n) for x, _ in parts])
            self.y = torch.stack([_pad_rows(y, n) for _, y in parts])
        device = self.x.device
        self.count = torch.tensor(self.sizes, device=device)  # (G,)
        self.real = (
            torch.arange(n, device=device) < self.count.unsqueeze(1)
        ).float()  # (G, N): 1 = not padding

    def __len__(self) -> int:
        return self.x.shape[1]


def _pad_rows(t: torch.Tensor, n: int) -> torch.Tensor:
    if len(t) == n:
        return t
    index = torch.arange(n, device=t.device) % len(t)
    return t[index]


def member_losses(logits: torch.Tensor, y: torch.Tensor, data: SplitStack | None = None) -> torch.Tensor:
    """Each member's mean loss (G,) from a stacked model's output (G·B, ...) and labels (G, B); with
    `data` (a padded split), over each member's real rows only (`objective.member_loss`)."""
    mask = objective.scored(y, data.real[:, : y.shape[1]] if data is not None else None)
    return objective.member_loss(logits, y, mask)


# ── the members trained together ───────────────────────────────────────────────────────────────


class Group(Members):
    """G members stacked into one model (`Stacked`) with one flat optimizer (`FlatParameters`): what
    `suite.train.fit` drives for seeds (and same-shaped datasets) trained together. Each member
    keeps its own shuffle, its own gradient (the loop sums the member losses) and its own clipping.

    Raises CannotStack (before any training step) when the members cannot share a step."""

    def __init__(
        self,
        members: list[nn.Module],
        splits: list[dict[str, tuple[torch.Tensor, torch.Tensor]]],
        training: dict,
        device: torch.device,
        seeds: list[int],
        eval_batch: int,
        task: str = "classify",
        draws: list[Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]] | None = None,
    ):
        """`draws`: a streaming dataset's `draw(step, batch_size)` per member, each at that member's
        seed (as `suite.train.One` takes one), instead of shuffled passes over the training split."""
        if draws is not None and len(draws) != len(members):
            raise ValueError(f"{len(draws)} draws for {len(members)} members: one per member")
        self.size, self.task = len(members), task
        self.streaming = draws is not None  # as train.One: history counts steps, rows record selected_step
        self.names = list(splits[0])
        if any(list(s) != self.names for s in splits):
            raise CannotStack("members have different split names")
        self.data = {name: SplitStack([s[name] for s in splits]) for name in self.names}
        train_data = self.data[self.names[0]]
        if any(d.padded and len(d) > eval_batch for d in self.data.values()):
            raise CannotStack(
                f"splits of different sizes are stacked only when they fit one batch of {eval_batch}"
            )
        schedules = [Schedule.from_spec(training, n) for n in train_data.sizes]
        self.schedule = schedule = schedules[0]
        self.full_batch = draws is None and all(s.batch_size >= s.n_train for s in schedules)
        if not self.full_batch and len(set(train_data.sizes)) > 1:
            raise CannotStack("mini-batch training needs every member's training split to have one size")
        if any(
            (s.total_steps, s.every, s.steps_per_epoch)
            != (schedule.total_steps, schedule.every, schedule.steps_per_epoch)
            for s in schedules
        ):
            raise CannotStack("members follow different step schedules")
        self.train_rows = len(train_data)
        self.same_in_train_mode = True  # `unstackable` refuses dropout and buffers
        self.stacked = Stacked(members)
        self.model = self.stacked.module.to(device)
        self.params = list(self.model.parameters())
        self.flat = FlatParameters(self.params, training)
        self.optimizer = self.flat.optimizer
        if draws is None:
            self._stream = _batches(train_data, schedule, seeds, self.full_batch)
        else:
            self._stream = _drawn(draws, training["batch_size"])
        self._checked = False
        _probe(self.stacked, members, train_data)
        self.best: list[torch.Tensor] = []  # each member's selected weights, (G, ...) per tensor

    def train_batches(self) -> Iterator[Batch]:
        return self._stream

    def eval_batches(self, split: str, batch_size: int) -> Iterator[Batch]:
        data = self.data[split]
        for start in range(0, len(data), batch_size):
            end = min(start + batch_size, len(data))
            targets = data.y[:, start:end]
            mask = objective.scored(targets, data.real[:, start:end] if data.padded else None)
            yield Batch(data.x[:, start:end].reshape(-1, *data.x.shape[2:]), targets, mask, end - start)

    def view(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        return out.view(self.size, -1, *out.shape[1:])

    def zero_grad(self) -> None:
        self.flat.zero_grad()

    def clip(self, max_norm: float) -> None:
        clip_members_(self.params, max_norm, self.size)

    def step(self) -> None:
        if not self._checked:  # before the first update, while the members' weights are untouched
            if not self.flat.grads_in_place():
                raise CannotStack("autograd did not accumulate into the flat gradient buffer")
            self._checked = True
        self.flat.step()

    @torch.no_grad()
    def keep(self, improved: list[int]) -> None:
        if not self.best:
            self.best = [p.detach().clone() for p in self.params]
        for p, b in zip(self.params, self.best, strict=True):
            b[improved] = p[improved]

    @torch.no_grad()
    def restore(self, member: int) -> None:
        for p, b in zip(self.params, self.best, strict=True):
            p[member] = b[member]

    def finish(self) -> None:
        self.stacked.unstack()


def train_group(
    members: list[nn.Module],
    splits: list[dict[str, tuple[torch.Tensor, torch.Tensor]]],
    training: dict,
    device: torch.device,
    seeds: list[int],
    eval_batch: int = EVAL_BATCH_SIZE,
    task: str = "classify",
    draws: list[Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]] | None = None,
) -> list[TrainResult]:
    """Train G member models (same architecture) together (`fit` over a `Group`); one `TrainResult`
    per member, as `suite.train.train` would give for each on its own (to ~1e-6). `draws`: a
    streaming dataset's batches, one draw per member (`Group`)."""
    group = Group(members, splits, training, device, seeds, eval_batch, task, draws)
    return fit(group, training, device, eval_batch)


def _batches(data: SplitStack, schedule: Schedule, seeds: list[int], full_batch: bool) -> Iterator[Batch]:
    """Endless batches of tokens (G·B, T) and labels (G, B), as `suite.train.batches` makes them
    for each member: the whole split every step (a padded split masks its copies), or each
    member's own seeded shuffle."""
    size, n = data.x.shape[0], len(data)
    if full_batch:
        x = data.x.reshape(size * n, *data.x.shape[2:])
        y = data.y.contiguous()
        batch = Batch(x, y, objective.scored(y, data.real if data.padded else None), list(data.sizes))
        while True:
            yield batch
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    rows = torch.arange(size, device=data.x.device).unsqueeze(1)
    bs = schedule.batch_size
    while True:
        order = torch.stack([torch.randperm(n, generator=gen) for gen in generators]).to(data.x.device)
        for start in range(0, n, bs):
            idx = order[:, start : start + bs]  # (G, b)
            x, y = data.x[rows, idx].reshape(-1, *data.x.shape[2:]), data.y[rows, idx]
            yield Batch(x, y, objective.scored(y), idx.shape[1])


def _drawn(
    draws: list[Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]], batch_size: int
) -> Iterator[Batch]:
    """Endless batches of a streaming dataset, tokens (G·B, ...) and targets (G, B, ...): batch
    number `step` of member g is `draws[g](step, batch_size)`, the one it draws when it trains alone
    (`suite.train.drawn`), so a stacked member sees its solo run's batches."""
    for parts in zip(*(drawn(draw, batch_size) for draw in draws), strict=True):  # all endless
        x = torch.cat([x for x, _ in parts])  # (G·B, ...): members' rows folded into the batch
        y = torch.stack([y for _, y in parts])  # (G, B, ...)
        yield Batch(x, y, objective.scored(y), len(parts[0][0]))


PROBED_MEMBERS = 4  # members whose own loss and gradients the probe computes (first and last among them)


def probed(size: int) -> list[int]:
    """The members `_probe` checks: the first, the last and evenly spaced ones between. A stacking
    fault (an op that mixes rows across members, a twin that reads another member's slice) shows in
    every member it touches, and an off-by-one member at an end; checking all 30 members of an
    ablation_positional group took 21–38 ms (~1 ms each, 3.5% of its vectorized training)."""
    if size <= PROBED_MEMBERS:
        return list(range(size))
    return sorted({round(i * (size - 1) / (PROBED_MEMBERS - 1)) for i in range(PROBED_MEMBERS)})


def _probe(stacked: Stacked, members, data: SplitStack) -> None:
    """Refuse (CannotStack) unless the stacked model reproduces the `probed` members' own losses and
    gradients on their first rows, at initialisation; this catches ops that mix rows across members."""
    model, size = stacked.module, stacked.size
    rows = min(len(data), 8)
    x, y = data.x[:, :rows], data.y[:, :rows]
    was_training = model.training
    model.train()
    params = list(model.parameters())
    losses = member_losses(model(x.reshape(size * rows, *x.shape[2:])), y, None)
    grads = torch.autograd.grad(losses.sum(), params, allow_unused=True)
    stacked_grads = {
        id(p): g if g is not None else torch.zeros_like(p) for p, g in zip(params, grads, strict=True)
    }
    model.train(was_training)
    origins = stacked.origins()
    for g in probed(size):
        member = members[g]
        member_was_training = member.training
        member.train()
        loss = objective.member_loss(member(x[g]).unsqueeze(0), y[g].unsqueeze(0))[0]
        named = list(member.named_parameters())
        grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
        member.train(member_was_training)
        if not torch.allclose(losses[g].detach(), loss.detach(), rtol=PROBE_RTOL, atol=PROBE_ATOL):
            raise CannotStack(
                f"the stacked loss of member {g} ({losses[g].item():.6g}) differs from its own "
                f"({loss.item():.6g}) at initialisation"
            )
        for (name, p), grad in zip(named, grads, strict=True):
            if id(p) not in origins:
                raise CannotStack(f"parameter {name} has no stacked counterpart")
            if grad is None:
                raise CannotStack(
                    f"parameter {name} gets no gradient; torch.optim skips it, a flat buffer would not"
                )
            twin_param, index = origins[id(p)]
            mine = stacked_grads[id(twin_param)][index]
            if not torch.allclose(mine, grad, rtol=PROBE_RTOL, atol=PROBE_ATOL):
                worst = (mine - grad).abs().max().item()
                raise CannotStack(f"the stacked gradient of {name} differs by {worst:.3g} for member {g}")


# ── which trials share a step ──────────────────────────────────────────────────────────────────


def group_key(trial) -> str | None:
    """Trials with one key can share a stacked step: one architecture, training, measurement, device
    and declared data shape; they differ in seed or dataset. None: train it alone (and say why once)."""
    if not trial.vectorize:
        return None  # the study (or --no-vectorize) turned it off: nothing to explain
    reason = why_alone(trial)
    if reason:
        log_once(f"{trial.variant}: seeds run one at a time: {reason}")
        return None
    shape = _data_shape(trial.dataset, json.dumps(trial.dataset_params, sort_keys=True))
    return json.dumps([trial.model, trial.training, trial.measure, trial.device, shape], sort_keys=True)


def why_alone(trial) -> str | None:
    """Why this training trial cannot share a stacked step (None: it can). The one eligibility check:
    a new condition goes here."""
    if any(knob(trial.training, name) != default for name, default in ONE_AT_A_TIME_KNOBS.items()):
        return f"it sets a training knob only suite.train implements ({', '.join(ONE_AT_A_TIME_KNOBS)})"
    try:
        vocab_size, seq_len, num_classes, pad_id, _, *task = _data_shape(
            trial.dataset, json.dumps(trial.dataset_params, sort_keys=True)
        )
        return _config_unstackable(
            json.dumps(trial.model, sort_keys=True), vocab_size, seq_len, num_classes, pad_id, *task
        )
    except Exception as err:  # an unloadable dataset or model is the one-at-a-time path's to report
        return f"its model or dataset could not be inspected ({type(err).__name__}: {err})"


@lru_cache(maxsize=256)
def _data_shape(name: str, params_json: str) -> tuple:
    """What a dataset declares about its shape, without loading it."""
    from suite import data

    dataset = data.create(name, **json.loads(params_json))
    shape = (dataset.vocab_size, dataset.seq_len, dataset.num_classes, dataset.pad_id, tuple(dataset.splits))
    return shape + ((dataset.task,) if dataset.task != "classify" else ())


_FILLS = {
    *(f"{name}_" for name in ("normal", "uniform", "zero", "fill", "copy", "random", "exponential")),
    *(f"{name}_" for name in ("trunc_normal", "constant", "ones", "zeros", "eye", "dirac", "orthogonal")),
    *(f"{k}_{d}_" for k in ("xavier", "kaiming") for d in ("uniform", "normal")),
}


class _NoFill(torch.overrides.TorchFunctionMode):
    """Skip in-place fills (weight init) of meta tensors: they hold no values, and filling them
    goes through torch's reference kernels, whose first call imports torch._dynamo (~1 s)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        first = args[0] if args else kwargs.get("tensor")
        if name in _FILLS and isinstance(first, torch.Tensor) and first.is_meta:
            return first
        if func is torch.eye:  # nn.init.eye_ builds an identity to copy in
            n = args[0] if args else kwargs["n"]
            m = args[1] if len(args) > 1 and isinstance(args[1], int) else kwargs.get("m") or n
            return torch.empty(n, m, dtype=kwargs.get("dtype"), device="meta")
        return func(*args, **kwargs)


@lru_cache(maxsize=256)
def _config_unstackable(
    model_json: str, vocab_size: int, seq_len: int, num_classes: int, pad_id, task: str = "classify"
) -> str | None:
    """`unstackable` of the architecture, built on the meta device (no memory, no random numbers)."""
    from suite import models

    cfg = models.config.parse(json.loads(model_json))
    with torch.device("meta"), _NoFill():
        model = models.build(
            cfg, vocab_size=vocab_size, seq_len=seq_len, num_classes=num_classes, pad_id=pad_id, task=task
        )
    return unstackable(model)


def partition(splits: list[dict[str, tuple[torch.Tensor, torch.Tensor]]], training: dict) -> list[list[int]]:
    """Members (by index) that can share one step: every full-batch member (shorter splits are padded
    with rows that weigh nothing), and mini-batch members whose training splits have one size."""
    groups: dict[object, list[int]] = {}
    for i, member in enumerate(splits):
        x, _ = next(iter(member.values()))
        schedule = Schedule.from_spec(training, len(x))
        key = ("full", x.shape[1:]) if schedule.batch_size >= schedule.n_train else (len(x), x.shape[1:])
        groups.setdefault(key, []).append(i)
    return list(groups.values())
