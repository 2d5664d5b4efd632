"""PyTorch's fused scaled_dot_product_attention: default dispatch, and each backend forced.

The flash and memory-efficient backends exist only on CUDA; elsewhere they say so
through `unavailable` and raise `KernelUnavailable` rather than silently falling
back to another backend (which would make a benchmark row lie about what it timed).
"""

from __future__ import annotations

from suite.kernels import KernelUnavailable, register_kernel
from suite.kernels.masking import combine_masks
from suite.lazy import lazy_import

torch = lazy_import("torch")  # imported on first use: registering kernels and checking studies need no torch
attention = lazy_import("torch.nn.attention")  # a submodule torch's own import need not load


def _sdpa(q, k, v, mask, causal, scale=None, dropout_p=0.0):
    t_q, t_k = q.shape[2], k.shape[2]
    extra = {}  # only what differs from SDPA's defaults, so the default call is unchanged
    if scale is not None:
        extra["scale"] = scale
    if dropout_p:
        extra["dropout_p"] = dropout_p
    if mask is None and (not causal or t_q == t_k):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal, **extra)
    mask = combine_masks(mask, causal, t_q, t_k, q.device)
    any_key = mask.any(dim=-1, keepdim=True)
    # SDPA gives NaN for a fully masked row: let such a row see every key, then zero it.
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask | ~any_key, **extra)
    if q.device.type == "cpu" and bool(any_key.all()):  # no such row (a flag costs nothing to read here)
        return out
    return out.masked_fill(~any_key, 0.0)


@register_kernel("sdpa")
def sdpa(q, k, v, *, mask=None, causal=False, scale=None, dropout_p=0.0):
    """torch.nn.functional.scaled_dot_product_attention with its default dispatch."""
    return _sdpa(q, k, v, mask, causal, scale, dropout_p)


@register_kernel("sdpa_math")
def sdpa_math(q, k, v, *, mask=None, causal=False, scale=None, dropout_p=0.0):
    """scaled_dot_product_attention forced onto its math (reference) backend."""
    with attention.sdpa_kernel(attention.SDPBackend.MATH):
        return _sdpa(q, k, v, mask, causal, scale, dropout_p)


def _cuda_only(backend: str):
    def unavailable(device: torch.device) -> str | None:
        if device.type != "cuda":
            return f"the SDPA {backend} backend runs only on CUDA, not on {device.type}"
        if not torch.cuda.is_available():
            return "CUDA is not available on this machine (torch.cuda.is_available() is False)"
        return None

    return unavailable


def _forced(backend: str, label: str, q, k, v, mask, causal, scale=None, dropout_p=0.0):
    reason = _cuda_only(label)(q.device)
    if reason:
        raise KernelUnavailable(reason)
    try:
        with attention.sdpa_kernel(getattr(attention.SDPBackend, backend)):
            return _sdpa(q, k, v, mask, causal, scale, dropout_p)
    except RuntimeError as err:  # e.g. flash with an explicit mask, or an unsupported head_dim
        if "No available kernel" in str(err):
            raise KernelUnavailable(f"the SDPA {label} backend refused these inputs: {err}") from None
        raise


@register_kernel("sdpa_flash", unavailable=_cuda_only("flash"))
def sdpa_flash(q, k, v, *, mask=None, causal=False, scale=None, dropout_p=0.0):
    """scaled_dot_product_attention forced onto the flash backend (CUDA only; no explicit masks)."""
    return _forced("FLASH_ATTENTION", "flash", q, k, v, mask, causal, scale, dropout_p)


@register_kernel("sdpa_efficient", unavailable=_cuda_only("memory-efficient"))
def sdpa_efficient(q, k, v, *, mask=None, causal=False, scale=None, dropout_p=0.0):
    """scaled_dot_product_attention forced onto the memory-efficient backend (CUDA only)."""
    return _forced("EFFICIENT_ATTENTION", "memory-efficient", q, k, v, mask, causal, scale, dropout_p)
