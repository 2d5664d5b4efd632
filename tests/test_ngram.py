import math

import pytest
import torch

from suite import models
from suite.models.ngram import HASH_MULTIPLIER, binary_weights, ngram_ids
from suite.train import train


def test_bigrams_are_hashed_after_the_vocabulary_and_padding_is_dropped():
    tokens = torch.tensor([[0, 3, 4, 3], [5, 6, 5, 6]])  # PAD = 0
    ids = ngram_ids(tokens, vocab_size=10, buckets=7, pad_id=0)
    assert ids.shape == (2, 7)
    assert ids[0, :4].tolist() == [-1, 3, 4, 3]  # unigrams as they are, PAD masked
    assert ids[0, 4].item() == -1  # (PAD, 3) touches padding
    assert ids[0, 5].item() == 10 + (3 * HASH_MULTIPLIER + 4) % 7
    assert ((ids[:, 4:] == -1) | ((ids[:, 4:] >= 10) & (ids[:, 4:] < 17))).all()
    # order matters: (5, 6) and (6, 5) are different bigrams
    assert ids[1, 4].item() == 10 + (5 * HASH_MULTIPLIER + 6) % 7
    assert ids[1, 5].item() == 10 + (6 * HASH_MULTIPLIER + 5) % 7


def test_repeated_ngrams_count_once():
    ids, weights = binary_weights(torch.tensor([[4, 4, 4, -1, 9]]))
    # distinct valid n-grams: 4 and 9, each weighing 1/2
    by_id = {}
    for i, w in zip(ids[0].tolist(), weights[0].tolist(), strict=True):
        by_id[i] = by_id.get(i, 0.0) + w
    assert by_id[4] == 0.5 and by_id[9] == 0.5 and sum(weights[0].tolist()) == 1.0


def test_ngram_linear_learns_a_task_only_bigrams_solve():
    """Label 1 iff the bigram (1, 2) occurs; every row holds both words 1 and 2, so unigrams can't tell."""
    g = torch.Generator().manual_seed(0)
    n, t = 512, 8
    x = torch.randint(3, 20, (n, t), generator=g)
    y = torch.randint(0, 2, (n,), generator=g)
    for i in range(n):
        p = torch.randint(0, t - 1, (1,), generator=g).item()
        if y[i]:
            x[i, p], x[i, p + 1] = 1, 2
        else:
            x[i, p], x[i, (p + 3) % t] = 2, 1  # both words, never 1 directly before 2
            if x[i, (p + 4) % t] == 2:
                x[i, (p + 4) % t] = 3
    torch.manual_seed(0)
    model = models.create("ngram_linear", vocab_size=20, seq_len=t, pad_id=0, ngram_buckets=4096)
    training = {
        "optimizer": "adam",
        "lr": 0.5,
        "weight_decay": 0.0,
        "momentum": 0.0,
        "epochs": 30,
        "steps": None,
        "batch_size": 64,
        "history_every": 10,
        "grad_clip": None,
    }
    splits = {"train": (x[:384], y[:384]), "val": (x[384:], y[384:])}
    result = train(model, splits, training, torch.device("cpu"), seed=0)
    val = [h["accuracy"] for h in result.history if h["split"] == "val"]
    assert val[0] < 0.7 and max(val) > 0.95


def test_ngram_linear_is_a_registered_variant_with_a_key_stable_default():
    cfg = models.resolve("ngram_linear")
    assert cfg.encoder == "ngram" and "ngram_buckets" not in cfg.to_dict()
    assert models.resolve("ngram_linear", ngram_buckets=64).to_dict()["ngram_buckets"] == 64
    model = models.create("ngram_linear", vocab_size=50, seq_len=6, num_classes=3, pad_id=0)
    assert model(torch.randint(0, 50, (4, 6))).shape == (4, 3)


def _padded_reference(model, tokens: torch.Tensor) -> torch.Tensor:
    """The model's output through the padded (B, 2T − 1) sort, as its forward computed it before
    the real n-grams were gathered alone."""
    ngrams = ngram_ids(tokens, model.vocab_size, model.buckets, model.pad_id, model.bigrams)
    ids, weights = binary_weights(ngrams, model.average)
    if model.ratio is not None:
        weights = weights * model.ratio[ids]
    bags = model.weights(ids, per_sample_weights=weights)
    return ((bags if model.head is None else model.head(bags)) + model.bias).squeeze(-1)


def test_the_real_ngrams_alone_give_the_padded_sums_exactly():
    """Pre- and post-padded rows, a row of PAD alone, repeats, a PAD inside a row (its bigrams
    drop), with and without bigrams, NB weights and the fastText embedding: the fast path's
    logits equal the padded reference bit for bit; the gradients to rounding (the embedding's
    backward adds the same terms in another order)."""
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(1, 30, (6, 9), generator=g)
    tokens[0, :4] = 0  # pre-padded
    tokens[1, 6:] = 0  # post-padded
    tokens[2] = 0  # nothing but PAD
    tokens[3, 4] = 0  # PAD inside: (x, PAD) and (PAD, y) are no bigrams
    tokens[4] = torch.tensor([5, 5, 5, 7, 5, 5, 5, 7, 2])  # repeated unigrams and bigrams
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    for knobs in (
        {},
        {"bigrams": False},
        {"nb_weight": True},
        {"nb_weight": True, "ngram_average": False},
        {"ngram_dim": 3},
        {"ngram_dim": 3, "bigrams": False},
    ):
        model = models.create("ngram_linear", vocab_size=30, seq_len=9, pad_id=0, ngram_buckets=64, **knobs)
        torch.nn.init.normal_(model.weights.weight, generator=g)
        if model.head is not None:
            torch.nn.init.normal_(model.head.weight, generator=g)
        model.prepare(tokens, labels)
        fast = model.eval()(tokens)
        assert torch.equal(fast, _padded_reference(model, tokens)), knobs
        fast.square().sum().backward()
        grad = model.weights.weight.grad.clone()
        model.zero_grad()
        _padded_reference(model, tokens).square().sum().backward()
        assert torch.allclose(grad, model.weights.weight.grad, rtol=1e-6, atol=1e-7), knobs
    assert fast[2].item() == model.bias.item()  # a row of PAD holds no n-gram: the bias alone


def test_nb_ratios_from_the_real_ngrams_count_each_distinct_ngram_once_per_row():
    tokens = torch.tensor([[0, 0, 3, 3, 3], [0, 4, 3, 4, 3]])  # PAD = 0
    model = models.create("ngram_linear", vocab_size=5, seq_len=5, pad_id=0, ngram_buckets=8, nb_weight=True)
    model.prepare(tokens, torch.tensor([1, 0]))
    # positive row: 3 and (3, 3); negative row: 3, 4, (4, 3) and (3, 4), the pairs in distinct
    # buckets; α = 1 over 13 slots: ‖p‖₁ = 2 + 13, ‖q‖₁ = 4 + 13
    assert model.ratio[3].item() == pytest.approx(
        math.log((2 / 15) / (2 / 17))
    )  # not 4/15: three 3s count once
    assert model.ratio[4].item() == pytest.approx(math.log((1 / 15) / (2 / 17)))
    assert model.ratio[5 + (3 * HASH_MULTIPLIER + 3) % 8].item() == pytest.approx(
        math.log((2 / 15) / (1 / 17))
    )


def test_the_fasttext_knob_embeds_ngrams_and_is_keyed_only_when_set():
    cfg = models.resolve("ngram_linear", ngram_dim=4, bigrams=False)
    assert cfg.to_dict()["ngram_dim"] == 4 and cfg.to_dict()["bigrams"] is False
    assert "ngram_dim" not in models.resolve("ngram_linear").to_dict()
    model = models.create("ngram_linear", vocab_size=50, seq_len=6, pad_id=0, ngram_dim=4, bigrams=False)
    assert model.weights.weight.shape == (50, 4)  # no bucket rows without bigrams
    assert model(torch.randint(0, 50, (3, 6))).shape == (3,)


def test_binary_features_weigh_each_distinct_ngram_one_without_averaging():
    ids, weights = binary_weights(torch.tensor([[4, 4, 4, -1, 9]]), average=False)
    by_id = {}
    for i, w in zip(ids[0].tolist(), weights[0].tolist(), strict=True):
        by_id[i] = by_id.get(i, 0.0) + w
    assert by_id[4] == 1.0 and by_id[9] == 1.0 and sum(weights[0].tolist()) == 2.0


def test_ngram_average_false_sums_the_weights_and_is_keyed_only_when_set():
    tokens = torch.tensor([[3, 4, 5, 0], [3, 0, 0, 0]])
    summed = models.create(
        "ngram_linear", vocab_size=8, seq_len=4, pad_id=0, ngram_buckets=16, ngram_average=False
    )
    mean = models.create("ngram_linear", vocab_size=8, seq_len=4, pad_id=0, ngram_buckets=16)
    for m in (summed, mean):
        torch.nn.init.ones_(m.weights.weight)
        m.eval()
    # row 0: unigrams 3 4 5 and bigrams (3,4) (4,5): 5 n-grams; row 1: one unigram
    assert summed(tokens).tolist() == [5.0, 1.0] and mean(tokens).tolist() == [1.0, 1.0]
    assert "ngram_average" not in models.resolve("ngram_linear").to_dict()
    assert models.resolve("ngram_linear", ngram_average=False).to_dict()["ngram_average"] is False
