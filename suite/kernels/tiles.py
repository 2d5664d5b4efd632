"""The suite's own memory-efficient attention: tiles with an online softmax.

Forward walks, for each block of queries, over blocks of keys, keeping per query
a running shift m (the largest score seen so far, up to a little headroom), the
running sum l of exp(score − m) and the running sum of exp(score − m)·V; when a
later block's scores exceed m by more than TAU the earlier sums are rescaled by
exp(m_old − m_new) (lazy rescaling, as FlashAttention-4 does: exp(TAU) cannot
overflow, and skipping most rescales saves a pass over every tile). The T×T
score matrix never exists: the largest temporary is one (B·H, q_block, block)
tile, whatever T is. Forward saves only q, k, v, the output and each row's
log-sum-exp; backward recomputes each tile's probabilities from them
(P = exp(S − lse)) and, with Δ = rowsum(dO ∘ O),

    dV_j += P_ijᵀ dO_i    dP_ij = dO_i V_jᵀ    dS_ij = P_ij ∘ (dP_ij − Δ_i)
    dQ_i += dS_ij K_j / √d                     dK_j += dS_ijᵀ Q_i / √d

so memory in both directions grows linearly in T. Tiles wholly above a causal
diagonal are skipped. Tiles keep the matrix products in cache, which is what
makes this faster than the one-shot kernels on a CPU.
"""

from __future__ import annotations

import math

import torch

TAU = 8.0  # headroom in the running shift before rescaling: exp(8) ≈ 3000


def _tiles(t: int, size: int):
    return [(start, min(start + size, t)) for start in range(0, t, size)]


def _tile_mask(mask, causal, rows, cols, t_q, t_k, device):
    """The (…, rows, cols) boolean mask of one tile, or None if every query may attend every key."""
    (q0, q1), (k0, k1) = rows, cols
    out = None
    if mask is not None:
        out = mask[..., q0:q1, :] if mask.shape[-2] != 1 else mask
        out = out[..., k0:k1] if mask.shape[-1] != 1 else out
    if causal:
        last_key = torch.arange(q0, q1, device=device)[:, None] + (t_k - t_q)  # query i sees keys ≤ this
        tri = torch.arange(k0, k1, device=device)[None, :] <= last_key
        out = tri if out is None else out & tri
    return out


def _above_diagonal(causal, rows, cols, t_q, t_k) -> bool:
    """True when causality masks every key of the tile for every query in it."""
    return causal and cols[0] > rows[1] - 1 + (t_k - t_q)


class ChunkedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, mask, causal, q_block, block):
        b, h, t_q, d = q.shape
        t_k, d_v = k.shape[2], v.shape[-1]
        bh, work = b * h, torch.float32 if q.dtype in (torch.float16, torch.bfloat16) else q.dtype
        qs = (q * (1.0 / math.sqrt(d))).reshape(bh, t_q, d)  # the scale folded into Q once
        kt, v3 = k.reshape(bh, t_k, d).transpose(1, 2), v.reshape(bh, t_k, d_v)
        out = torch.empty((bh, t_q, d_v), dtype=q.dtype, device=q.device)
        lse = torch.empty((bh, t_q, 1), dtype=work, device=q.device)
        for rows in _tiles(t_q, q_block):
            n = rows[1] - rows[0]
            shift = torch.zeros((bh, n, 1), dtype=work, device=q.device)
            total = torch.zeros_like(shift)  # l: Σ exp(s − shift)
            acc = torch.zeros((bh, n, d_v), dtype=work, device=q.device)  # Σ exp(s − shift)·v
            for cols in _tiles(t_k, block):
                if _above_diagonal(causal, rows, cols, t_q, t_k):
                    break
                s = torch.bmm(qs[:, rows[0] : rows[1]], kt[:, :, cols[0] : cols[1]]).to(work)
                keep = _tile_mask(mask, causal, rows, cols, t_q, t_k, q.device)
                if keep is not None:
                    s.view(b, h, n, -1).masked_fill_(~keep, float("-inf"))
                s.sub_(shift)
                top = s.amax(dim=-1, keepdim=True)  # relative to the current shift; −inf if all masked
                grow = (top > TAU) | ((total == 0) & torch.isfinite(top))  # also: a row's first keys
                if grow.any():
                    step = torch.where(grow, top, 0.0)
                    s.sub_(step)
                    rescale = torch.exp(-step)
                    acc.mul_(rescale)
                    total.mul_(rescale)
                    shift = shift + step
                p = s.exp_()  # in place: the scores are not needed again
                total.add_(p.sum(dim=-1, keepdim=True))
                acc.baddbmm_(p.to(v.dtype), v3[:, cols[0] : cols[1]])
            seen = total > 0  # False for a row whose keys were all masked: it gets zeros
            out[:, rows[0] : rows[1]] = (acc / torch.where(seen, total, 1.0)).to(q.dtype)
            lse[:, rows[0] : rows[1]] = torch.where(seen, shift + torch.log(total), float("inf"))
        out = out.view(b, h, t_q, d_v)
        ctx.save_for_backward(q, k, v, out, lse, mask)
        ctx.causal, ctx.q_block, ctx.block = causal, q_block, block
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, lse, mask = ctx.saved_tensors
        b, h, t_q, d = q.shape
        t_k, d_v = k.shape[2], v.shape[-1]
        bh, work, scale = b * h, lse.dtype, 1.0 / math.sqrt(d)
        qs = (q * scale).reshape(bh, t_q, d).to(work)
        k3, v3 = k.reshape(bh, t_k, d).to(work), v.reshape(bh, t_k, d_v).to(work)
        do = grad_out.reshape(bh, t_q, d_v).to(work)
        delta = (do * out.reshape(bh, t_q, d_v).to(work)).sum(dim=-1, keepdim=True)  # (B·H, Tq, 1)
        dq = torch.zeros((bh, t_q, d), dtype=work, device=q.device)
        dk = torch.zeros((bh, t_k, d), dtype=work, device=q.device)
        dv = torch.zeros((bh, t_k, d_v), dtype=work, device=q.device)
        for cols in _tiles(t_k, ctx.block):
            k0, k1 = cols
            for rows in _tiles(t_q, ctx.q_block):
                if _above_diagonal(ctx.causal, rows, cols, t_q, t_k):
                    continue
                q0, q1 = rows
                s = torch.bmm(qs[:, q0:q1], k3[:, k0:k1].transpose(1, 2))
                keep = _tile_mask(mask, ctx.causal, rows, cols, t_q, t_k, q.device)
                if keep is not None:
                    s.view(b, h, q1 - q0, -1).masked_fill_(~keep, float("-inf"))
                p = s.sub_(lse[:, q0:q1]).exp_()  # the tile's probabilities, recomputed
                dv[:, k0:k1].baddbmm_(p.transpose(1, 2), do[:, q0:q1])
                ds = torch.bmm(do[:, q0:q1], v3[:, k0:k1].transpose(1, 2)).sub_(delta[:, q0:q1]).mul_(p)
                dq[:, q0:q1].baddbmm_(ds, k3[:, k0:k1])
                dk[:, k0:k1].baddbmm_(ds.transpose(1, 2), qs[:, q0:q1])
        shape = (b, h, t_q, d), (b, h, t_k, d), (b, h, t_k, d_v)
        dq, dk, dv = (dq * scale).view(shape[0]), dk.view(shape[1]), dv.view(shape[2])
        return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype), None, None, None, None
