"""The suite's own memory-efficient attention: tiles with an online softmax (`suite.kernels.tiles`
has the math). Registered here without torch, so listing kernels and checking studies stay fast."""

from __future__ import annotations

import math

from suite.kernels import KernelUnavailable, register_kernel

Q_BLOCK = 256  # queries per tile
BLOCK = 256  # keys per tile


@register_kernel("chunked")
def chunked(
    q, k, v, *, mask=None, causal=False, scale=None, dropout_p=0.0, q_block: int = Q_BLOCK, block: int = BLOCK
):
    """Tiles with an online softmax; backward recomputes per tile (memory linear in T).

    Another `scale` is applied to the queries before the tiles (autograd carries it); dropout on
    the weights is refused: the tiles never hold the weights that a dropout mask would act on."""
    if block < 1 or q_block < 1:
        raise ValueError(f"q_block and block must be ≥ 1, got q_block={q_block}, block={block}")
    if dropout_p:
        raise KernelUnavailable("the chunked kernel has no dropout on attention weights; use naive or sdpa")
    if scale is not None:
        q = q * (scale * math.sqrt(q.shape[-1]))  # the tiles divide by √d again
    from suite.kernels.tiles import ChunkedAttention  # the math, and torch, on first call

    return ChunkedAttention.apply(q, k, v, mask, causal, q_block, block)
