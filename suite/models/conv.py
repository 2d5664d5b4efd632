"""A Conv1d stack over time (the lecture's Conv1d text model).

The layers run time-major, (B, T, D) in and (B, T', C) out, the layout of the embedding and of the
pooling: each Conv1d is computed as a 2-d convolution on a channels-last view of its input, so no
layer copies its input or output into channels-first order (on one CPU thread that halves a
layer's time); the weights stay `nn.Conv1d`'s, so parameters and checkpoints are unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from suite.models.encoders import ConvConfig


def conv_time_major(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """`conv` over time of x (B, T, D) → (B, T', C), equal to conv(x.transpose(1, 2)).transpose(1, 2)
    (`_over_time`; torch's uneven "same" padding made explicit first)."""
    left, right = padding_of(conv)
    if left != right:
        x = F.pad(x, (0, 0, left, right))
        left = right = 0
    return _over_time(x.contiguous(), conv.weight, conv.bias, left)


def _over_time(x: torch.Tensor, weight: torch.Tensor, bias, left: int = 0) -> torch.Tensor:
    """A Conv1d's `weight` over time of a contiguous x (B, T, D) → (B, T', C), `left` zeros each side:
    a (1, k) conv2d on the channels-last view (B, D, 1, T), whose output is (B, T', C) as laid out."""
    view = x.transpose(1, 2).unsqueeze(2)  # (B, D, 1, T), channels last
    return F.conv2d(view, weight.unsqueeze(2), bias, padding=(0, left)).squeeze(2).transpose(1, 2)


class Widths(nn.Module):
    """Kim's (2014) layer: a Conv1d per filter width over the same input, outputs concatenated
    along the channels (every width keeps the length: padding "same")."""

    def __init__(self, dim: int, channels: int, widths: list[int], padding: str):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(dim, channels, k, padding=padding) for k in widths)

    def forward(self, h):  # (B, D, T) → (B, C, T), as nn.Conv1d
        return torch.cat([conv(h) for conv in self.convs], dim=1)

    def time_major(self, x):  # (B, T, D) → (B, T, C)
        return torch.cat([apply_time_major(conv, x) for conv in self.convs], dim=-1)


def apply_time_major(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A layer of `ConvEncoder.convs` on (B, T, D); a stand-in that is not an nn.Conv1d (the stacked
    seeds' twin in suite.vectorized) gets its input channels first, as nn.Conv1d would."""
    if isinstance(layer, Widths):
        return layer.time_major(x)
    if type(layer) is nn.Conv1d:
        return conv_time_major(layer, x)
    return layer(x.transpose(1, 2)).transpose(1, 2)


class _ConvMaxOverTime(torch.autograd.Function):
    """max over kept positions of one "same" or "valid" Conv1d's output, (B, T, D) → (B, C), before
    the ReLU, with the backward a convolution's gradient would have: the max passes gradient to one
    position per row and channel, so of the dense (B, T', C) gradient torch's convolution backward
    would read, only B · C entries are nonzero; the weight gradient is then a sum over the picked
    windows and the input gradient a scatter of the weights into them, B · C · D · k multiply-adds
    instead of the convolution's B · T' · C · D · k (the same sums in another order)."""

    @staticmethod
    def forward(ctx, x, weight, bias, drop, left: int, right: int):
        xp = F.pad(x, (0, 0, left, right)) if left or right else x.contiguous()
        h = _over_time(xp, weight, bias)
        if drop is not None:
            h.masked_fill_(drop.unsqueeze(-1), float("-inf"))
        top, picked = h.max(dim=1)  # (B, C): the value and the output position of each max
        ctx.save_for_backward(xp, weight, picked)
        ctx.left, ctx.length, ctx.has_bias = left, x.shape[1], bias is not None
        return top

    @staticmethod
    def backward(ctx, grad):  # grad (B, C); zero for a row with no kept position (see max_over_time)
        xp, weight, picked = ctx.saved_tensors
        rows, _, dim = xp.shape
        channels, k = weight.shape[0], weight.shape[-1]
        if dim * k > xp.shape[1] - k + 1:  # a window outweighs a row of the output: dense is cheaper
            return _ConvMaxOverTime.dense(ctx, grad, xp, weight, picked)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[1]:
            windows = xp.unfold(1, k, 1)[
                torch.arange(rows, device=xp.device)[:, None], picked
            ]  # (B, C, D, k)
            grad_w = torch.einsum("bc,bcdj->cdj", grad, windows)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum(dim=0)
        if ctx.needs_input_grad[0]:
            spread = grad[:, :, None, None] * weight  # (B, C, D, k): what each picked window receives
            grad_xp = torch.zeros_like(xp)
            for j in range(k):
                at = (picked + j).unsqueeze(-1).expand(rows, channels, dim)
                grad_xp.scatter_add_(1, at, spread[..., j])
            grad_x = grad_xp[:, ctx.left : ctx.left + ctx.length]
        return grad_x, grad_w, grad_b, None, None, None

    @staticmethod
    def dense(ctx, grad, xp, weight, picked):
        """The convolution's own backward of the max's (B, T', C) gradient, as autograd would run it."""
        rows, length, dim = xp.shape
        channels, k = weight.shape[0], weight.shape[-1]
        grad_h = grad.new_zeros(rows, length - k + 1, channels).scatter_(
            1, picked.unsqueeze(1), grad.unsqueeze(1)
        )
        wanted = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.has_bias and ctx.needs_input_grad[2]]
        grad_xp, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad_h.transpose(1, 2).unsqueeze(2),  # (B, C, 1, T'), channels last
            xp.transpose(1, 2).unsqueeze(2),
            weight.unsqueeze(2),
            [channels] if ctx.has_bias else None,
            [1, 1], [0, 0], [1, 1], False, [0, 0], 1, wanted,
        )  # fmt: skip
        grad_x = None
        if grad_xp is not None:
            grad_x = grad_xp.squeeze(2).transpose(1, 2)[:, ctx.left : ctx.left + ctx.length]
        if grad_w is not None:
            grad_w = grad_w.squeeze(2)
        return grad_x, grad_w, grad_b if wanted[2] else None, None, None, None


def padding_of(conv: nn.Conv1d) -> tuple[int, int]:
    """(left, right) zero positions around the time axis, as nn.Conv1d pads."""
    k = conv.kernel_size[0]
    if conv.padding == "same":  # torch's "same": the odd one of k - 1 padded positions on the right
        return (k - 1) // 2, k - 1 - (k - 1) // 2
    if conv.padding == "valid":
        return 0, 0
    return conv.padding[0], conv.padding[0]


class ConvEncoder(nn.Module):
    """`depth` × (Conv1d → ReLU), with max-pooling over time between layers.

    `conv_padding="same"` keeps the length; "valid" (Keras' and the lecture's default) shrinks it
    by kernel_size − 1 per layer, and an output position is kept if any input in its window was.
    """

    # devices where max_over_time runs `_ConvMaxOverTime`: the CPU, where it was measured; CUDA
    # keeps the recorded path (cuDNN's backward; CUDA's scatter_add_ was not checked here)
    function_on: tuple[str, ...] = ("cpu",)

    def __init__(self, cfg: ConvConfig):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(cfg.dim if i == 0 else cfg.width, cfg.width, cfg.kernel_size, padding=cfg.conv_padding)
            for i in range(cfg.depth)
        )
        if cfg.kernel_sizes is not None:  # one layer of filters of several widths, side by side
            each = cfg.width // len(cfg.widths)
            self.convs = nn.ModuleList([Widths(cfg.dim, each, cfg.widths, cfg.conv_padding)])
        self.pool = nn.MaxPool1d(cfg.pool_size)
        self.dropout = nn.Dropout(cfg.dropout)
        self.valid = cfg.conv_padding == "valid"
        self.kernel_size = cfg.kernel_size

    def layers(self, x, keep, last_relu: bool = True, last_conv: bool = True):
        """(B, T', C) and its keep mask; with `last_relu=False` the last layer stops before its ReLU
        and dropout, with `last_conv=False` before its convolution (for `max_over_time`)."""
        h = x if keep is None else x * keep.unsqueeze(-1).to(x.dtype)
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            if i > 0:  # max-pooling over time, channels first as nn.MaxPool1d reads it
                h = self.pool(h.transpose(1, 2)).transpose(1, 2)
                if keep is not None:  # a pooled window is kept if any of it was
                    keep = self.pool(keep.unsqueeze(1).to(h.dtype)).squeeze(1) > 0
            if i == last and not last_conv:
                return h, keep
            h = apply_time_major(conv, h)
            if i < last or last_relu:
                h = self.relu_dropout(h)
            keep = self.windows_kept(keep)
        return h, keep

    def windows_kept(self, keep):
        """The keep mask of a layer's output: as its input's under "same" padding; under "valid",
        (B, T - k + 1), a window kept if any of it was."""
        if not self.valid or keep is None:
            return keep
        return F.max_pool1d(keep.unsqueeze(1).float(), self.kernel_size, stride=1).squeeze(1) > 0

    def relu_dropout(self, h):
        if not (self.training and self.dropout.p > 0):
            return torch.relu(h)
        # dropout's draws fill its input in memory order: channels first, as they always were
        return self.dropout(torch.relu(h).transpose(1, 2).contiguous()).transpose(1, 2)

    def forward(self, x, keep):
        return self.layers(x, keep)  # (B, T', C)

    def max_over_time(self, x, keep):
        """`masked_max` of `forward`'s output, (B, C): where the last dropout is inactive, the max
        before the ReLU (ReLU is monotone, so max ReLU(h) = ReLU(max h), and its gradient reaches
        the same positions), on C values per row instead of T' · C, and the last convolution's
        backward through `_ConvMaxOverTime` on `function_on` devices (elsewhere, or for a stacked
        seeds' twin, the recorded path). A row with no kept position gets -1e30, as `masked_max`
        gives it."""
        fused = not (self.training and self.dropout.p > 0)
        last = self.convs[-1]
        convs = list(last.convs) if isinstance(last, Widths) else [last]
        on = x.device.type in self.function_on and not torch._C._functorch.is_functorch_wrapped_tensor(x)
        if fused and on and all(type(conv) is nn.Conv1d for conv in convs):
            h, keep = self.layers(x, keep, last_conv=False)  # the last layer's input
            keep = self.windows_kept(keep)
            drop = None if keep is None else ~keep
            top = torch.cat(
                [_ConvMaxOverTime.apply(h, c.weight, c.bias, drop, *padding_of(c)) for c in convs], dim=-1
            )
            return torch.relu(top).masked_fill(top == float("-inf"), -1e30)
        h, keep = self.layers(x, keep, last_relu=not fused)
        if keep is not None:
            # In place and unrecorded: nothing saved for backward holds h, and max's gradient reaches
            # only the positions it picks, which are kept ones (a row with none gets no gradient:
            # its -inf is cut below), so recording the fill would only copy (B, T', C) twice.
            with torch.no_grad():
                h.masked_fill_(~keep.unsqueeze(-1), float("-inf"))
        top = h.max(dim=1).values  # (B, C); a tie's gradient goes to one position, not split: equal sums
        if not fused:
            return top.clamp(min=-1e30)
        return torch.relu(top).masked_fill(top == float("-inf"), -1e30)
