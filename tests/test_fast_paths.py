"""The speed-ups of issue 27 keep results equal: each fast path against the code it replaced (copied
here verbatim as the reference), on a fixed tiny batch, outputs and every gradient to float tolerance."""

import pytest
import torch
import torch.nn.functional as F

from suite import models
from suite.models.blocks import masked_max

TOL = dict(rtol=1e-5, atol=1e-6)


def old_conv_forward(enc, x, keep):
    """ConvEncoder.forward before the fast path (transposes around every layer)."""
    h = x.transpose(1, 2)
    if keep is not None:
        h = h * keep.unsqueeze(1).to(h.dtype)
    for i, conv in enumerate(enc.convs):
        if i > 0:
            h = enc.pool(h)
            if keep is not None:
                keep = enc.pool(keep.unsqueeze(1).to(h.dtype)).squeeze(1) > 0
        h = enc.dropout(torch.relu(conv(h)))
        if enc.valid and keep is not None:
            keep = F.max_pool1d(keep.unsqueeze(1).to(h.dtype), enc.kernel_size, stride=1).squeeze(1) > 0
    return h.transpose(1, 2), keep


def old_classifier_forward(model, tokens):
    """SequenceClassifier.forward's classify path before the fast path: encoder, then masked_max."""
    keep = None if model.pad_id is None else tokens != model.pad_id
    x = model.dropout(model.positional(model.embedding(tokens)))
    h, keep = old_conv_forward(model.encoder, x, keep)
    return model.head(model.head_dropout(masked_max(h, keep))).squeeze(-1)


def tokens_with_ties(rows=6, length=24, vocab=30, seed=0):
    """Pre-padded rows, one row all padding, one row a trigram repeated (tied conv outputs)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, vocab, (rows, length), generator=g)
    lengths = torch.randint(3, length + 1, (rows, 1), generator=g)
    x[torch.arange(length).unsqueeze(0) < length - lengths] = 0
    x[0] = torch.tensor([5, 6, 7] * (length // 3))
    x[1] = 0  # nothing kept: masked_max gives -1e30
    return x


def run(model, forward, x, seed=1):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # the same dropout draws for both
    out = forward(x)
    (out.float() * torch.linspace(-1, 1, out.numel()).view_as(out)).clamp(-1e3, 1e3).sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def assert_same(a, b):
    assert torch.allclose(a[0], b[0], **TOL), (a[0] - b[0]).abs().max()
    assert a[1].keys() == b[1].keys()
    for name in a[1]:
        assert torch.allclose(a[1][name], b[1][name], **TOL), name


CONVS = [
    {"depth": 1, "pooling": "max", "hidden": 8},  # text_encoders' conv1d (fused: max before ReLU)
    {"depth": 1, "pooling": "max", "hidden": 8, "kernel_size": 5},  # windows wider than T': dense backward
    {"depth": 1, "pooling": "max", "hidden": 8, "dropout": 0.3},  # dropout after ReLU: not fused
    {"depth": 1, "pooling": "max", "hidden": 4, "kernel_sizes": [3, 4, 5], "head_dropout": 0.5},  # cnn_rand
    {"depth": 2, "pooling": "max", "hidden": 8, "conv_padding": "valid"},
    {"depth": 1, "pooling": "max", "hidden": 8, "mask_padding": False},
    {"depth": 2, "pooling": "mean", "hidden": 8},  # the encoder's forward, outside the fast path
]


@pytest.mark.parametrize("knobs", CONVS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("function", [True, False], ids=["function", "recorded"])
def test_conv1d_fast_path_equals_the_old_forward_and_backward(knobs, mode, function, monkeypatch):
    """Both max-over-time paths: the autograd function (the CPU's) and the recorded one (CUDA's)."""
    from suite.models.conv import ConvEncoder

    monkeypatch.setattr(ConvEncoder, "function_on", ("cpu",) if function else ())
    torch.manual_seed(0)
    model = models.build(
        models.resolve("conv1d", dim=6, **knobs), vocab_size=30, seq_len=24, num_classes=2, pad_id=0
    )
    model.train(mode == "train")
    x = tokens_with_ties()
    if not model.cfg.mask_padding or model.cfg.pooling != "max":
        x[1, -1] = 3  # a row of padding alone only exists where padding is masked (and pooled by max)
    if model.cfg.pooling == "max":
        old = run(model, lambda t: old_classifier_forward(model, t), x)
    else:
        old = run(model, lambda t: old_mean(model, t), x)
    assert_same(run(model, model, x), old)
    if model.cfg.mask_padding and model.cfg.pooling == "max":
        assert old[0][1].abs() > 1e20  # the row with nothing kept reads -1e30, as before


def old_mean(model, tokens):
    from suite.models.blocks import masked_mean

    keep = tokens != model.pad_id
    h, keep = old_conv_forward(model.encoder, model.dropout(model.embedding(tokens)), keep)
    return model.head(masked_mean(h, keep)).squeeze(-1)


def test_embedding_lookup_gradient_equals_nn_embedding():
    """blocks.embed's index_add_ backward against nn.Embedding's dense backward (padding row and
    repeated tokens included)."""
    from suite.models.blocks import embed

    torch.manual_seed(0)
    table = torch.nn.Embedding(50, 7, padding_idx=0)
    tokens = tokens_with_ties(rows=5, length=39, vocab=50)
    grad = torch.randn(5, 39, 7)
    table(tokens).backward(grad)
    dense = table.weight.grad.clone()
    table.zero_grad()
    out = embed(table, tokens)
    assert out.grad_fn is not None and "RowsLookup" in type(out.grad_fn).__name__  # the fast path ran
    out.backward(grad)
    assert torch.allclose(table.weight.grad, dense, rtol=1e-6, atol=1e-7)
    assert (table.weight.grad[0] == 0).all() and (dense[0] == 0).all()
    with torch.no_grad():  # evaluation: the module itself
        assert torch.equal(embed(table, tokens), table(tokens))


@pytest.mark.parametrize("empty_row", [False, True])
def test_sdpa_with_a_padding_mask_equals_the_masked_fill_it_skips(empty_row):
    """The sdpa kernel skips zeroing rows with no key when (on the CPU) there is none: the same output
    and gradients as always zeroing them."""
    from suite import kernels

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 2, 5, 4, generator=g, requires_grad=True) for _ in range(3))
    keep = torch.rand(3, 5, generator=g) > 0.3
    keep[:, -1] = True
    if empty_row:
        keep[1] = False
    mask = keep[:, None, None, :]
    any_key = mask.any(dim=-1, keepdim=True)

    def old(q, k, v):
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask | ~any_key)
        return out.masked_fill(~any_key, 0.0)

    results = []
    for f in (old, lambda q, k, v: kernels.get("sdpa")(q, k, v, mask=mask)):
        out = f(q, k, v)
        grads = torch.autograd.grad(out.sum(), (q, k, v))
        results.append((out, grads))
    assert torch.equal(results[0][0], results[1][0])
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1], strict=True))
    if empty_row:
        assert (results[1][0][1] == 0).all()


TRIMMED = [
    ("mean", {}),
    ("mean", {"dropout": 0.3}),  # in training it draws over positions: trimmed in evaluation only
    ("conv1d", {"depth": 1, "pooling": "max", "hidden": 8}),
    ("conv1d", {"depth": 1, "pooling": "mean", "hidden": 4, "kernel_sizes": [3, 4]}),
    ("mean", {"pooling": "max"}),
    ("embedding_mean", {}),  # no encoder: the embeddings averaged
]


@pytest.mark.parametrize("name,knobs", TRIMMED, ids=[f"{n}-{k}" for n, k in TRIMMED])
@pytest.mark.parametrize("padding", ["pre", "post"])
def test_trimming_a_batchs_padding_columns_keeps_outputs_and_gradients(name, knobs, padding):
    """A batch as long as its longest row gives the model's output and gradients of the same batch
    padded to the dataset's length, for the models `trims_padding` names."""
    torch.manual_seed(0)
    cfg = models.resolve(name, dim=8, **knobs)
    model = models.build(cfg, vocab_size=30, seq_len=40, num_classes=3, pad_id=0)
    short = tokens_with_ties(rows=6, length=24, vocab=30)
    short[1, -1] = 4  # every row has a token
    wide = torch.zeros(6, 40, dtype=torch.long)
    if padding == "pre":
        wide[:, 40 - 24 :] = short
    else:
        wide[:, :24] = torch.stack([torch.cat([r[r != 0], r[r == 0]]) for r in short])
    assert model.trims
    for mode in ("train", "eval"):
        model.train(mode == "train")
        if mode == "train" and model.draws:
            continue
        trimmed = run(model, model, wide)
        model.trims = False
        assert_same(trimmed, run(model, model, wide))
        model.trims = True


def _no_padding_readers() -> list[str]:
    from suite.models.config import encoder, encoder_names, parse

    out = []
    for name in encoder_names():
        entry = encoder(name)
        if entry.whole_model or entry.per_position:
            continue  # a classifier of its own, or a next-token model: no classifier cut
        if not parse(encoder=name, dim=8).reads_padding():
            out.append(name)
    return out


@pytest.mark.parametrize("name", _no_padding_readers())
def test_every_encoder_that_says_it_reads_no_padding_is_trimmed_to_equal_outputs(name):
    """Every registered encoder whose config's `reads_padding()` is False, a plugin's included, is
    trimmed, and the trimmed batch gives the wide batch's outputs and gradients."""
    from suite.models.config import parse

    torch.manual_seed(0)
    cfg = parse(encoder=name, dim=8, positional="none", pooling="mean")
    model = models.build(cfg, vocab_size=30, seq_len=40, num_classes=3, pad_id=0)
    assert model.trims
    wide = torch.zeros(6, 40, dtype=torch.long)
    wide[:, 40 - 24 :] = tokens_with_ties(rows=6, length=24, vocab=30)
    wide[1, -1] = 4
    model.eval()
    trimmed = run(model, model, wide)
    model.trims = False
    assert_same(trimmed, run(model, model, wide))


def test_the_no_padding_readers_are_the_ones_we_know():
    assert set(_no_padding_readers()) >= {"mlp", "identity", "conv1d"}


@pytest.mark.parametrize(
    "name,knobs",
    [
        ("transformer", {"positional": "learned"}),  # positions would shift
        ("attention", {"positional": "none"}),  # its recorded attention maps would narrow
        ("mean", {"mask_padding": False}),  # padding is a token
        ("conv1d", {"depth": 1, "conv_padding": "valid"}),  # windows straddle the cut
        ("conv1d", {"depth": 2}),  # pooling windows move
        ("lstm", {}),  # the recurrence reads the padding
    ],
)
def test_models_whose_output_reads_padding_positions_are_not_trimmed(name, knobs):
    model = models.build(
        models.resolve(name, dim=8, **knobs), vocab_size=30, seq_len=40, num_classes=2, pad_id=0
    )
    assert not model.trims


@pytest.mark.parametrize(
    "name,knobs", [("mean", {}), ("conv1d", {"depth": 1, "pooling": "max", "hidden": 8})]
)
def test_fast_paths_step_aside_under_torch_func(name, knobs):
    """Under vmap (suite.bench.stacking's torch.func layout) no batch is trimmed (a data-dependent
    shape) and no custom autograd function runs: the members' outputs as one at a time."""
    import copy

    from torch.func import functional_call, stack_module_state, vmap

    members = []
    for seed in range(3):
        torch.manual_seed(seed)
        cfg = models.resolve(name, dim=4, **knobs)
        members.append(models.build(cfg, vocab_size=30, seq_len=16, num_classes=2, pad_id=0))
    params, buffers = stack_module_state(members)
    base = copy.deepcopy(members[0]).to("meta")
    x = torch.randint(1, 30, (3, 5, 16))
    x[:, :, :3] = 0  # columns of padding alone
    out = vmap(lambda p, b, rows: functional_call(base, (p, b), (rows,)))(params, buffers, x)
    out.sum().backward()
    assert torch.allclose(out, torch.stack([m(x[i]) for i, m in enumerate(members)]), atol=1e-6)
