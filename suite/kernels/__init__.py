"""Scaled dot-product attention kernels behind one signature.

    attention(q, k, v, *, mask=None, causal=False) -> out

q, k, v and out are shaped (batch, heads, T, head_dim). `mask` is boolean and
broadcastable to (batch, heads, T_q, T_k), True where a query may attend to a
key. A query whose keys are all masked gets zeros, never NaN.
"""

from __future__ import annotations

from collections.abc import Callable

from suite.registry import Registry

REGISTRY = Registry("attention kernel")
register_kernel = REGISTRY.register


def get(name: str) -> Callable:
    return REGISTRY.get(name)


def list() -> list[str]:  # noqa: A001 - the registry API reads best as kernels.list()
    return REGISTRY.list()


from suite.kernels import reference  # noqa: E402,F401  (registers the kernels)
