"""What one benchmark case times: inputs, the timed call, its FLOP count, and the matching GEMM.

FLOPs follow flash-attention's benchmarks: forward 4·B·H·T²·D (two T×T×D
products), backward 2.5× forward, so forward+backward is 3.5× forward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from suite import kernels
from suite.lazy import lazy_import

torch = lazy_import("torch")  # imported on first use: loading a kernel study needs no torch

MODES = ("forward", "forward_backward")


@dataclass(frozen=True)
class Shape:
    batch: int
    heads: int
    seq_len: int
    head_dim: int

    @property
    def label(self) -> str:
        return f"B{self.batch}·H{self.heads}·T{self.seq_len}·d{self.head_dim}"


def attention_flops(shape: Shape, mode: str) -> float:
    forward = 4.0 * shape.batch * shape.heads * shape.seq_len**2 * shape.head_dim
    return forward * (3.5 if mode == "forward_backward" else 1.0)


def make_inputs(shape: Shape, device, dtype, seed: int, grad: bool) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    size = (shape.batch, shape.heads, shape.seq_len, shape.head_dim)
    return tuple(
        torch.randn(size, generator=gen).to(device=device, dtype=dtype).requires_grad_(grad) for _ in range(3)
    )


def attention_call(
    kernel: str, shape: Shape, mode: str, device, dtype, seed: int = 0, causal: bool = False
) -> Callable[[], None]:
    """The timed call: a forward without autograd, or a forward and the backward of a random upstream gradient."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    fn = kernels.get(kernel)
    q, k, v = make_inputs(shape, device, dtype, seed, grad=mode == "forward_backward")
    if mode == "forward":

        def forward():
            with torch.no_grad():
                fn(q, k, v, causal=causal)

        return forward
    upstream = torch.randn(q.shape, generator=torch.Generator().manual_seed(seed + 1)).to(device, dtype)

    def forward_backward():
        out = fn(q, k, v, causal=causal)
        torch.autograd.grad(out, (q, k, v), upstream)

    return forward_backward


def matching_gemm_flops(shape: Shape) -> float:
    return 2.0 * shape.batch * shape.heads * shape.seq_len**2 * shape.head_dim


def matching_gemm(shape: Shape, device, dtype) -> tuple[Callable[[], None], float]:
    """The batched GEMM of QKᵀ's shape, (B·H, T, D) × (B·H, D, T), and its FLOPs: a
    yardstick that slows down with the machine exactly as a kernel's products do."""
    bh, t, d = shape.batch * shape.heads, shape.seq_len, shape.head_dim
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(bh, t, d, generator=gen).to(device, dtype)
    b = torch.randn(bh, d, t, generator=gen).to(device, dtype)
    out = torch.empty(bh, t, t, device=device, dtype=dtype)  # preallocated: time the product, not page faults

    def gemm():
        torch.bmm(a, b, out=out)

    return gemm, matching_gemm_flops(shape)


def square_gemm(n: int, device, dtype) -> tuple[Callable[[], None], float]:
    """An n×n×n matrix product: the machine's GEMM rate that kernels are reported against."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device, dtype)
    b = torch.randn(n, n, generator=gen).to(device, dtype)

    def gemm():
        a @ b

    return gemm, 2.0 * n**3
