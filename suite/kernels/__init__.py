"""Scaled dot-product attention kernels behind one signature.

    attention(q, k, v, *, mask=None, causal=False, scale=None, dropout_p=0.0) -> out

q, k, v and out are shaped (batch, heads, T, head_dim) (keys and values may
have their own length T_k). `mask` is boolean and broadcastable to
(batch, heads, T_q, T_k), True where a query may attend to a key; `causal`
lets query i see keys j ≤ i (aligned at the end when T_k > T_q). A query whose
keys are all masked gets zeros, never NaN, and zero gradients.

A kernel that cannot run somewhere (a CUDA-only SDPA backend on the CPU) says
why through `unavailable(name, device)` and raises `KernelUnavailable` if called.
"""

from __future__ import annotations

from collections.abc import Callable

from suite.lazy import lazy_import
from suite.registry import Registry

torch = lazy_import("torch")  # imported on first use: registering kernels and checking studies need no torch

REGISTRY = Registry("attention kernel")


class KernelUnavailable(RuntimeError):
    """The kernel cannot run on this device or with these inputs; the message says why."""


def register_kernel(name: str, unavailable: Callable[[torch.device], str | None] | None = None):
    """Register a kernel; `unavailable(device)` returns the reason it cannot run there, or None."""

    def decorator(fn: Callable) -> Callable:
        fn.unavailable = unavailable or (lambda device: None)
        return REGISTRY.register(name)(fn)

    return decorator


def get(name: str) -> Callable:
    return REGISTRY.get(name)


def list() -> list[str]:  # noqa: A001 - the registry API reads best as kernels.list()
    return REGISTRY.list()


def unavailable(name: str, device: str | torch.device) -> str | None:
    """None if kernel `name` can run on `device`, else the reason it cannot."""
    return REGISTRY.get(name).unavailable(torch.device(device))


from suite.kernels import chunked, reference, sdpa  # noqa: E402,F401  (register the kernels)
