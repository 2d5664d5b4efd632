"""The course's models as taught, written out from the seeds, against the registry's presets.

Each reference below is the seed's code (001 lecture, 002 Neuromatch, 003 book exercises), copied
as closely as a test allows; a preset is pinned to it by parameter count and, where the weights
map one to one, by output.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from suite import kernels, models
from suite.kernels.reference import float64_reference
from suite.models.config import ConfigError

# ── lecture 001 ────────────────────────────────────────────────────────────────────────────────


def test_fasttext_is_embedding_average_linear_with_200021_parameters():
    model = models.create("fasttext", vocab_size=10_000, seq_len=100, pad_id=0)
    assert sum(p.numel() for p in model.parameters()) == 200_021  # 10,000·20 + 20 + 1
    lecture = nn.Sequential(nn.Embedding(10_000, 20), nn.AdaptiveAvgPool1d(1), nn.Linear(20, 1))
    assert sum(p.numel() for p in lecture.parameters()) == 200_021
    lecture[0].weight.data.copy_(model.embedding.weight)
    lecture[2].load_state_dict(model.head.state_dict())
    x = torch.randint(0, 10_000, (4, 100))
    x[:, :30] = 0  # Keras pre-padding: the lecture averages the padding in
    embedded = lecture[0](x).permute(0, 2, 1)  # the lecture's forward
    expected = lecture[2](lecture[1](embedded).squeeze(-1)).squeeze(-1)
    assert torch.allclose(model(x), expected, atol=1e-6)


def test_padding_included_average_differs_from_the_masked_one():
    torch.manual_seed(0)
    unmasked = models.create("embedding_mean", vocab_size=10, seq_len=6, dim=4, pad_id=0, mask_padding=False)
    masked = models.create("embedding_mean", vocab_size=10, seq_len=6, dim=4, pad_id=0)
    short, padded = torch.tensor([[3, 4, 5]]), torch.tensor([[0, 0, 0, 3, 4, 5]])
    assert torch.allclose(masked(short), masked(padded), atol=1e-6)
    assert unmasked.embedding.padding_idx is None  # PAD is an ordinary, trained token
    with torch.no_grad():
        unmasked.embedding.weight[0] = 1.0
    assert not torch.allclose(unmasked(short), unmasked(padded))


def test_lecture_bow_mlp_is_10000_16_16_1_with_dropout():
    lecture = nn.Sequential(
        nn.Linear(10000, 16),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(16, 16),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(16, 1),
    )
    model = models.create("lecture_bow_mlp", vocab_size=10_000, seq_len=50, pad_id=0)
    count = sum(p.numel() for p in model.parameters())
    assert count == sum(p.numel() for p in lecture.parameters()) == 160_305
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    for mine, theirs in zip(linears, [lecture[0], lecture[3], lecture[6]], strict=True):
        theirs.load_state_dict(mine.state_dict())
    x = torch.randint(1, 10_000, (3, 50))
    multi_hot = torch.zeros(3, 10_000).scatter_(1, x, 1.0)  # the lecture's vectorize_sequences
    assert torch.allclose(model.eval()(x), lecture.eval()(multi_hot).squeeze(-1), atol=1e-5)


def test_lecture_conv1d_is_the_lectures_valid_conv_stack():
    emb = 20
    lecture = nn.Sequential(
        nn.Embedding(num_embeddings=10000, embedding_dim=emb),
        nn.Conv1d(in_channels=emb, out_channels=32, kernel_size=7),
        nn.ReLU(),
        nn.MaxPool1d(kernel_size=5),
        nn.Conv1d(in_channels=32, out_channels=32, kernel_size=7),
        nn.ReLU(),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(32, 1),
    )
    model = models.create("lecture_conv1d", vocab_size=10_000, seq_len=100, pad_id=0)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in lecture.parameters())
    lecture[0].weight.data.copy_(model.embedding.weight)
    lecture[1].load_state_dict(model.encoder.convs[0].state_dict())
    lecture[4].load_state_dict(model.encoder.convs[1].state_dict())
    lecture[8].load_state_dict(model.head.state_dict())
    x = torch.randint(0, 10_000, (2, 100))

    def lecture_forward(x):
        h = lecture[0](x).permute(0, 2, 1)  # nn.Sequential cannot permute; the lecture's Permute(0, 2, 1)
        for layer in lecture[1:]:
            h = layer(h)
        return h.squeeze(-1)

    assert torch.allclose(model(x), lecture_forward(x), atol=1e-5)


def test_valid_convolutions_keep_padding_masked():
    torch.manual_seed(0)
    model = models.create(
        "conv1d", vocab_size=10, seq_len=30, dim=4, conv_padding="valid", kernel_size=3, pad_id=0
    )
    short, padded = torch.randint(1, 10, (1, 20)), None
    padded = torch.cat((torch.zeros(1, 10, dtype=torch.long), short), dim=1)
    keep = padded != 0
    _, kept = model.encoder(model.embedding(padded), keep)
    assert kept.shape[1] < padded.shape[1]  # valid convolutions shrink the sequence
    assert not kept[0, 0] and kept[0, -1]


@pytest.mark.parametrize("encoder, cell", [("gru", nn.GRU), ("rnn", nn.RNN), ("lstm", nn.LSTM)])
def test_recurrent_cells_beside_lstm(encoder, cell):
    model = models.create(encoder, vocab_size=50, seq_len=7, dim=6, hidden=5, pad_id=0)
    reference = cell(6, 5, batch_first=True)
    encoder_params = sum(p.numel() for p in model.encoder.parameters())
    assert encoder_params == sum(p.numel() for p in reference.parameters())
    assert isinstance(getattr(model.encoder, encoder), cell)


def test_lstm_proj_size_projects_the_hidden_state():
    model = models.create("lstm", vocab_size=50, seq_len=7, dim=6, hidden=8, proj_size=3, pad_id=0)
    reference = nn.LSTM(6, 8, batch_first=True, proj_size=3)
    assert sum(p.numel() for p in model.encoder.parameters()) == sum(
        p.numel() for p in reference.parameters()
    )
    assert model.head.in_features == 3
    assert model(torch.randint(1, 50, (2, 7))).shape == (2,)
    with pytest.raises(ConfigError, match="proj_size"):
        models.create("gru", vocab_size=50, seq_len=7, proj_size=3)


# ── self-attention without weights, scaling, dropout, causality ──────────────────────────────


def self_attention(query, key, value):
    """Book exercise 1, verbatim: unscaled attention with torch.bmm."""
    scores = torch.bmm(query, key.transpose(1, 2))
    weights = F.softmax(scores, dim=-1)
    return torch.bmm(weights, value)


def test_plain_self_attention_is_softmax_xxt_x():
    model = models.create("plain_self_attention", vocab_size=9, seq_len=5, dim=4)
    assert sum(p.numel() for p in model.encoder.parameters()) == 0
    x = torch.randn(2, 5, 4)
    expected = torch.softmax(x @ x.transpose(1, 2), dim=-1) @ x  # the lecture's W = softmax(XᵀX)
    y, _ = model.encoder(x, None)
    assert torch.allclose(y, expected, atol=1e-5)
    assert torch.allclose(y, self_attention(x, x, x), atol=1e-5)


@pytest.mark.parametrize("name", ["naive", "folded_heads", "einsum", "sdpa", "sdpa_math", "chunked"])
def test_unscaled_kernels_are_the_book_exercise(name):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 6, 4) for _ in range(3))
    out = kernels.get(name)(q, k, v, scale=1.0)
    ref = float64_reference(q, k, v, scale=1.0)
    assert torch.allclose(out.double(), ref, atol=1e-5)
    book = self_attention(q.reshape(6, 6, 4), k.reshape(6, 6, 4), v.reshape(6, 6, 4)).reshape(2, 3, 6, 4)
    assert torch.allclose(out, book, atol=1e-5)
    scaled = kernels.get(name)(q, k, v)
    assert not torch.allclose(scaled, out, atol=1e-3)


@pytest.mark.parametrize("name", ["naive", "folded_heads", "einsum"])
def test_attention_weight_dropout_is_dropout_on_the_softmax(name):
    q, k, v = (torch.randn(1, 2, 5, 4) for _ in range(3))
    torch.manual_seed(3)
    out = kernels.get(name)(q, k, v, dropout_p=0.5)
    torch.manual_seed(3)
    weights = F.dropout(torch.softmax(q @ k.transpose(-2, -1) / 2.0, dim=-1), 0.5)
    assert torch.allclose(out, weights @ v, atol=1e-5)


def test_attention_dropout_acts_only_while_training():
    torch.manual_seed(0)
    model = models.create("attention", vocab_size=9, seq_len=6, dim=4, attn_dropout=0.5, kernel="naive")
    x = torch.randint(0, 9, (3, 6))
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.allclose(model(x), model(x))
    with pytest.raises(ConfigError, match="attn_dropout"):
        models.create("attention", vocab_size=9, seq_len=6, attn_dropout=0.1, kernel="chunked")
    with pytest.raises(ConfigError, match="only to attention"):
        models.create("mean", vocab_size=9, seq_len=6, attn_dropout=0.1)


def test_causal_attention_never_looks_ahead():
    torch.manual_seed(0)
    model = models.create("causal_attention", vocab_size=9, seq_len=6, dim=4).eval()
    a = torch.tensor([[1, 2, 3, 4, 5, 6]])
    b = torch.tensor([[1, 2, 3, 8, 8, 8]])
    h_a, _ = model.encoder(model.positional(model.embedding(a)), None)
    h_b, _ = model.encoder(model.positional(model.embedding(b)), None)
    assert torch.allclose(h_a[:, :3], h_b[:, :3], atol=1e-6)
    assert not torch.allclose(h_a[:, 3:], h_b[:, 3:])


def test_pre_norm_block_normalises_before_each_sublayer():
    torch.manual_seed(0)
    model = models.create("prenorm_transformer", vocab_size=9, seq_len=5, dim=4, depth=1, dropout=0.0).eval()
    block = model.encoder.blocks[0]
    x = torch.randn(2, 5, 4)
    h = x + block.attention(block.norm1(x))
    expected = model.encoder.final_norm(h + block.ffn(block.norm2(h)))
    y, _ = model.encoder(x, None)
    assert torch.allclose(y, expected, atol=1e-6)
    post = models.create("transformer", vocab_size=9, seq_len=5, dim=4, depth=1)
    pre_count = sum(p.numel() for p in model.parameters())
    assert pre_count == sum(p.numel() for p in post.parameters()) + 2 * 4  # + the final LayerNorm


# ── Neuromatch 002 ─────────────────────────────────────────────────────────────────────────────


class DotProductAttention(nn.Module):
    def __init__(self, dropout):
        super().__init__()
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, b, h, t, k):
        keys = keys.transpose(1, 2).contiguous().view(b * h, t, k)
        queries = queries.transpose(1, 2).contiguous().view(b * h, t, k)
        values = values.transpose(1, 2).contiguous().view(b * h, t, k)
        score = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(queries.shape[-1])
        softmax_weights = F.softmax(score, dim=2)
        out = torch.bmm(self.dropout(softmax_weights), values).view(b, h, t, k)
        return out.transpose(1, 2).contiguous().view(b, t, h * k)


class NmaSelfAttention(nn.Module):
    def __init__(self, k, heads=8, dropout=0.1):
        super().__init__()
        self.k, self.heads = k, heads
        self.to_keys = nn.Linear(k, k * heads, bias=False)
        self.to_queries = nn.Linear(k, k * heads, bias=False)
        self.to_values = nn.Linear(k, k * heads, bias=False)
        self.unify_heads = nn.Linear(k * heads, k)
        self.attention = DotProductAttention(dropout)

    def forward(self, x):
        b, t, k = x.size()
        h = self.heads
        queries = self.to_queries(x).view(b, t, h, k)
        keys = self.to_keys(x).view(b, t, h, k)
        values = self.to_values(x).view(b, t, h, k)
        return self.unify_heads(self.attention(queries, keys, values, b, h, t, k))


class NmaTransformerBlock(nn.Module):
    def __init__(self, k, heads):
        super().__init__()
        self.attention = NmaSelfAttention(k, heads=heads)
        self.norm_1 = nn.LayerNorm(k)
        self.norm_2 = nn.LayerNorm(k)
        self.mlp = nn.Sequential(nn.Linear(k, 2 * k), nn.ReLU(), nn.Linear(2 * k, k))

    def forward(self, x):
        x = self.norm_1(self.attention(x) + x)
        return self.norm_2(self.mlp(x) + x)


class NmaTransformer(nn.Module):
    """The tutorial's Transformer; positions are added per token (pe[:T]), not per batch row as the
    tutorial's `self.pe[:x.size(0)]` does with batch-first inputs (see the README's course table)."""

    def __init__(self, k, heads, depth, seq_length, num_tokens, num_classes):
        super().__init__()
        self.k = k
        self.token_embedding = nn.Embedding(num_tokens, k)
        pe = torch.zeros(512, k)
        position = torch.arange(0, 512, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, k, 2).float() * (-math.log(10000.0) / k))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)
        self.pos_dropout = nn.Dropout(0.1)
        self.transformer_blocks = nn.Sequential(
            *[NmaTransformerBlock(k=k, heads=heads) for _ in range(depth)]
        )
        self.classification_head = nn.Linear(k, num_classes)

    def forward(self, x):
        x = self.token_embedding(x) * math.sqrt(self.k)
        x = self.pos_dropout(x + self.pe[: x.shape[1]])
        x = self.transformer_blocks(x)
        return F.log_softmax(self.classification_head(x.mean(dim=1)), dim=1)


def _copy_neuromatch_weights(mine, theirs):
    theirs.token_embedding.weight.data.copy_(mine.embedding.weight)
    for block, ref in zip(mine.encoder.blocks, theirs.transformer_blocks, strict=True):
        q, k, v = block.attention.qkv.weight.chunk(3, dim=0)
        ref.attention.to_queries.weight.data.copy_(q)
        ref.attention.to_keys.weight.data.copy_(k)
        ref.attention.to_values.weight.data.copy_(v)
        ref.attention.unify_heads.load_state_dict(block.attention.out.state_dict())
        ref.norm_1.load_state_dict(block.norm1.state_dict())
        ref.norm_2.load_state_dict(block.norm2.state_dict())
        ref.mlp.load_state_dict(block.ffn.state_dict())
    theirs.classification_head.load_state_dict(mine.head.state_dict())


def test_neuromatch_transformer_exactly():
    vocab, t = 300, 12
    mine = models.create("neuromatch_transformer", vocab_size=vocab, seq_len=t, num_classes=5, pad_id=0)
    theirs = NmaTransformer(128, 8, 3, t, vocab, 5)
    count = sum(p.numel() for p in mine.parameters())
    assert count == sum(p.numel() for p in theirs.parameters())
    assert mine.encoder.blocks[0].attention.qkv.weight.shape == (3 * 128 * 8, 128)  # k·heads wide
    assert mine.encoder.blocks[0].attention.qkv.bias is None
    _copy_neuromatch_weights(mine, theirs)
    x = torch.randint(0, vocab, (3, t))
    x[0, -4:] = 0  # right padding, attended to and averaged in as the tutorial does
    logprobs = F.log_softmax(mine.eval()(x), dim=1)
    assert torch.allclose(logprobs, theirs.eval()(x), atol=1e-4)
    y = torch.tensor([0, 3, 4])
    # the suite's cross-entropy on logits is the tutorial's NLL on log-softmax
    assert torch.allclose(F.cross_entropy(mine(x), y), F.nll_loss(theirs(x), y), atol=1e-4)
    cfg = models.resolve("neuromatch_transformer")
    assert (cfg.attn_dropout, cfg.embedding_dropout, cfg.dropout) == (0.1, 0.1, 0.0)


# ── keys, frozen embeddings, descriptions ─────────────────────────────────────────────────────


def test_new_knobs_stay_out_of_keys_at_their_defaults():
    keys = set(models.resolve("attention").to_dict()) | set(models.resolve("transformer").to_dict())
    for name in ("mask_padding", "attn_dropout", "scale", "causal", "head_dim", "qkv_bias", "norm_position"):
        assert name not in keys
    assert models.resolve("attention", causal=True).to_dict()["causal"] is True
    assert models.resolve("attention", scale="none").to_dict()["scale"] == "none"


def test_frozen_embedding_is_not_trained():
    from suite.train import train

    torch.manual_seed(0)
    model = models.create("embedding_mean", vocab_size=9, seq_len=4, dim=4, freeze_embedding=True)
    before = model.embedding.weight.clone()
    x, y = torch.randint(0, 9, (8, 4)), torch.randint(0, 2, (8,))
    training = {"optimizer": "adam", "lr": 0.1, "weight_decay": 0.0, "momentum": 0.0, "epochs": 3}
    training |= {"steps": None, "batch_size": None, "history_every": 1, "grad_clip": None}
    train(model, {"train": (x, y)}, training, torch.device("cpu"), seed=0)
    assert torch.equal(model.embedding.weight, before)
    assert not torch.equal(model.head.weight, torch.zeros_like(model.head.weight))


def test_glove_preset_checks_its_width():
    with pytest.raises(ConfigError, match="300 wide"):
        models.create("glove_frozen", vocab_size=9, seq_len=4, dim=50)
    with pytest.raises(ConfigError, match="not a known vector set"):
        models.create("glove_frozen", vocab_size=9, seq_len=4, pretrained="word2vec")


def test_every_preset_has_a_one_line_description():
    for name in models.list():
        doc = models.REGISTRY.describe(name) if hasattr(models.REGISTRY, "describe") else None
        full = (models.REGISTRY.get(name).__doc__ or "").strip()
        assert full and "\n" not in full, f"{name}: the description must be one line, got {full!r}"
        assert doc is None or doc == full


def test_input_len_reads_the_last_tokens_as_keras_maxlen():
    torch.manual_seed(0)
    cropped = models.create("lecture_conv1d", vocab_size=50, seq_len=300, input_len=100, pad_id=0)
    torch.manual_seed(0)
    short = models.create("lecture_conv1d", vocab_size=50, seq_len=100, pad_id=0)
    x = torch.randint(1, 50, (3, 300))
    x[0, :250] = 0  # a short review, pre-padded
    assert torch.allclose(cropped(x), short(x[:, -100:]), atol=1e-6)
    assert "input_len" not in models.resolve("lecture_conv1d").to_dict()
    with pytest.raises(ConfigError, match="input_len must be between"):
        models.create("fasttext", vocab_size=50, seq_len=80, input_len=100)
    with pytest.raises(ConfigError, match="bag of words reads every token"):
        models.create("lecture_bow_mlp", vocab_size=50, seq_len=80, input_len=10)
