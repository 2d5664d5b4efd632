"""Every kernel against a float64 reference, masks, and every kernel inside a model.

Bounds held (fp32 inputs, standard-normal q, k, v and upstream gradient):
- forward:   max|out − ref| ≤ 1e-5 · max|ref|
- gradients: max|grad − ref| ≤ 1e-5 · max(max|ref|, 1) for each of dq, dk, dv
  (relative to the reference gradient's size; where that size is below 1, e.g.
  T = 1 where dq and dk are exactly 0, the bound is 1e-5 absolute).
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from suite import kernels, models
from suite.kernels import KernelUnavailable
from suite.kernels.reference import float64_reference
from suite.measure import peak_memory

FORWARD_BOUND = 1e-5
GRAD_BOUND = 1e-5
CPU_KERNELS = [name for name in kernels.list() if kernels.unavailable(name, "cpu") is None]
CUDA_ONLY = [name for name in kernels.list() if name not in CPU_KERNELS]
NO_CUDA = "no CUDA device here (torch.cuda.is_available() is False)"


def relative_error(got: torch.Tensor, ref: torch.Tensor, floor: float = 0.0) -> float:
    if not got.numel():
        return 0.0
    error = (got.double() - ref).abs().max().item()
    scale = max(ref.abs().max().item(), floor)
    return error / scale if scale > 0 else (0.0 if error == 0 else float("inf"))


def make_mask(kind, b, h, t_q, t_k, gen):
    if kind == "none":
        return None
    if kind == "padding":  # (B, 1, 1, Tk): keys beyond each row's length are padding
        lengths = torch.randint(1, t_k + 1, (b,), generator=gen)
        return (torch.arange(t_k)[None, :] < lengths[:, None])[:, None, None, :]
    mask = torch.rand(b, h, t_q, t_k, generator=gen) > 0.5  # "full": any pattern, some rows empty
    mask[0, 0, 0] = False
    return mask


def check_against_reference(name, b, h, t_q, t_k, d, mask_kind, causal, seed, **options):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h, t_q, d, generator=gen, requires_grad=True)
    k, v = (torch.randn(b, h, t_k, d, generator=gen, requires_grad=True) for _ in range(2))
    mask = make_mask(mask_kind, b, h, t_q, t_k, gen)
    out = kernels.get(name)(q, k, v, mask=mask, causal=causal, **options)
    assert out.shape == (b, h, t_q, d) and out.dtype == torch.float32
    upstream = torch.randn(out.shape, generator=gen)
    grads = torch.autograd.grad(out, (q, k, v), upstream)

    exact = [x.detach().double().requires_grad_() for x in (q, k, v)]
    ref = float64_reference(*exact, mask=mask, causal=causal)
    ref_grads = torch.autograd.grad(ref, exact, upstream.double())
    assert relative_error(out, ref) <= FORWARD_BOUND, (name, relative_error(out, ref))
    for which, got, want in zip("qkv", grads, ref_grads, strict=True):
        err = relative_error(got, want, floor=1.0)
        assert err <= GRAD_BOUND, f"{name}: d{which} error {err:.2e}"


@pytest.mark.parametrize("name", CPU_KERNELS)
@settings(max_examples=15, deadline=None)
@given(
    b=st.integers(1, 3),
    h=st.integers(1, 3),
    t_q=st.integers(1, 70),
    t_k=st.integers(1, 70),
    d=st.sampled_from([1, 2, 3, 5, 8, 12, 16, 33]),
    mask_kind=st.sampled_from(["none", "padding", "full"]),
    causal=st.booleans(),
    self_attention=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_kernel_matches_float64(name, b, h, t_q, t_k, d, mask_kind, causal, self_attention, seed):
    check_against_reference(name, b, h, t_q, t_q if self_attention else t_k, d, mask_kind, causal, seed)


@settings(max_examples=30, deadline=None)
@given(
    t_q=st.integers(1, 40),
    t_k=st.integers(1, 40),
    q_block=st.integers(1, 17),
    block=st.integers(1, 17),
    mask_kind=st.sampled_from(["none", "padding", "full"]),
    causal=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_chunked_tiles_of_any_size(t_q, t_k, q_block, block, mask_kind, causal, seed):
    """Many small tiles: every tile edge, skipped causal tile and lazy rescale is exercised."""
    check_against_reference(
        "chunked", 2, 2, t_q, t_k, 5, mask_kind, causal, seed, q_block=q_block, block=block
    )


@pytest.mark.parametrize("name", CPU_KERNELS)
@pytest.mark.parametrize(
    "shape",
    [(1, 1, 1, 1, 4), (1, 2, 3, 3, 2), (2, 4, 129, 129, 24), (1, 2, 300, 300, 64), (1, 1, 7, 300, 3)],
    ids=["T1", "course-toy", "odd-T", "long", "cross"],
)
@pytest.mark.parametrize("causal", [False, True])
def test_kernel_shapes(name, shape, causal):
    check_against_reference(name, *shape, "padding", causal, seed=sum(shape))


def test_scores_far_from_zero_keep_full_precision():
    """Large logits (a trained model's sharp attention) must not overflow or lose the row."""
    for name in CPU_KERNELS:
        gen = torch.Generator().manual_seed(1)
        q = 30 * torch.randn(1, 2, 50, 8, generator=gen)
        k, v = torch.randn(1, 2, 50, 8, generator=gen), torch.randn(1, 2, 50, 8, generator=gen)
        out = kernels.get(name)(q, k, v)
        assert relative_error(out, float64_reference(q, k, v)) <= FORWARD_BOUND, name


@pytest.mark.parametrize("name", CPU_KERNELS)
def test_fully_masked_rows_give_zeros_and_zero_gradients(name):
    q, k, v = (torch.randn(2, 2, 5, 3, requires_grad=True) for _ in range(3))
    mask = torch.ones(2, 2, 5, 5, dtype=torch.bool)
    mask[0, 1, 2] = False  # one query sees no key
    mask[1] = False  # a whole sequence of padding
    out = kernels.get(name)(q, k, v, mask=mask)
    assert not out.isnan().any()
    assert (out[0, 1, 2] == 0).all() and (out[1] == 0).all()
    out.sum().backward()
    for x in (q, k, v):
        assert not x.grad.isnan().any()
    assert (q.grad[0, 1, 2] == 0).all() and (q.grad[1] == 0).all()


@pytest.mark.parametrize("name", CPU_KERNELS)
def test_every_kernel_trains_inside_a_model(name):
    """The attention variant with `kernel: name` backprops to the same gradients as with sdpa."""
    x = torch.tensor([[0, 1, 2, 0], [2, 1, 0, 3], [1, 3, 4, 4]])
    y = torch.tensor([1.0, 0.0, 1.0])
    grads = {}
    for kernel in ("sdpa", name):
        torch.manual_seed(0)
        model = models.create("multihead", kernel=kernel, vocab_size=5, seq_len=4, dim=8, pad_id=4)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        grads[kernel] = [p.grad.clone() for p in model.parameters()]
        assert all(torch.isfinite(g).all() for g in grads[kernel])
    for ours, theirs in zip(grads[name], grads["sdpa"], strict=True):
        assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", CUDA_ONLY)
def test_cuda_only_backends_say_why_on_cpu(name):
    reason = kernels.unavailable(name, "cpu")
    assert "only on CUDA" in reason
    q = torch.randn(1, 1, 4, 8)
    with pytest.raises(KernelUnavailable, match="only on CUDA"):
        kernels.get(name)(q, q, q)


def test_unknown_kernel_names_close_matches():
    with pytest.raises(KeyError, match="did you mean 'chunked'"):
        kernels.get("chunkd")


def test_chunked_memory_grows_linearly_where_naive_grows_quadratically():
    """Measured (profiler) peak memory of one forward+backward at T and 4T."""
    cpu = torch.device("cpu")

    def peak(name, t):
        q, k, v = (torch.randn(1, 1, t, 8, requires_grad=True) for _ in range(3))
        return peak_memory(lambda: kernels.get(name)(q, k, v).sum().backward(), cpu)

    naive_growth = peak("naive", 1024) / peak("naive", 256)
    chunked_growth = peak("chunked", 1024) / peak("chunked", 256)
    assert naive_growth > 10, naive_growth  # ≈ 16 for T²
    assert chunked_growth < 5.5, chunked_growth  # ≈ 4 for T


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
@pytest.mark.parametrize("name", kernels.list())
def test_kernels_on_cuda(name):
    # Flash attention takes only half precision: test it in bfloat16 (8 bits of mantissa).
    dtype, tolerance = (torch.bfloat16, 2e-2) if name == "sdpa_flash" else (torch.float32, 1e-3)
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 128, 64, generator=gen) for _ in range(3))
    cuda = [x.to("cuda", dtype).requires_grad_() for x in (q, k, v)]
    try:
        out = kernels.get(name)(*cuda, causal=True)
    except KernelUnavailable as err:
        pytest.skip(str(err))
    out.float().sum().backward()
    assert all(x.grad is not None and torch.isfinite(x.grad).all() for x in cuda)
    ref = float64_reference(q, k, v, causal=True)
    assert relative_error(out.float().cpu(), ref) <= tolerance  # TF32 matmuls (float32) or bfloat16 (flash)
