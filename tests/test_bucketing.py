"""Length bucketing (training.bucket_pool): which rows train together, the cut of a bucketed batch's
padding after its positions, and the study's refusals. Off by default, where nothing changes."""

import pytest
import torch
from conftest import one_line

from suite import models
from suite.study import TrainingSpec
from suite.train import Schedule, batches, bucketed, train


def padded_rows(rows=40, length=12, vocab=30, seed=0):
    """Pre-padded token rows of lengths 1..length (PAD = 0 in front) and binary labels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, vocab, (rows, length), generator=g)
    lengths = torch.randint(1, length + 1, (rows, 1), generator=g)
    x[torch.arange(length).unsqueeze(0) < length - lengths] = 0
    return x, torch.randint(0, 2, (rows,), generator=g)


def test_bucketed_batches_sort_each_pool_and_keep_every_row_once():
    lengths = torch.randint(0, 50, (103,), generator=torch.Generator().manual_seed(1))
    order = torch.randperm(103, generator=torch.Generator().manual_seed(2))
    chunks = bucketed(order, lengths, batch_size=10, pool=3)
    assert len(chunks) == 11  # ceil(103 / 10): as many steps as an unbucketed epoch
    assert sorted(torch.cat(chunks).tolist()) == list(range(103))
    for p in range(0, 11, 3):  # a pool: 3 batches drawn from 30 consecutive rows of the shuffle
        pool = chunks[p : p + 3]
        assert set(torch.cat(pool).tolist()) == set(order[p * 10 : p * 10 + 30].tolist())
        for a, b in zip(pool, pool[1:], strict=False):
            assert lengths[a].max() <= lengths[b].min()


def test_batches_without_a_pool_are_the_shuffle_they_always_were():
    x, y = padded_rows()
    schedule = Schedule(n_train=40, batch_size=16, steps_per_epoch=3, total_steps=6, every=3)
    stream = batches(x, y, schedule, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    for _ in range(2):
        order = torch.randperm(40, generator=g)
        for start in range(0, 40, 16):
            xb, _ = next(stream)
            assert torch.equal(xb, x[order[start : start + 16]])


def test_bucketed_stream_is_seeded_and_covers_each_epoch():
    x, y = padded_rows()
    lengths = (x != 0).sum(dim=1)
    schedule = Schedule(n_train=40, batch_size=8, steps_per_epoch=5, total_steps=10, every=5)

    def epoch(seed):
        stream = batches(x, y, schedule, torch.Generator().manual_seed(seed), lengths, pool=5)
        return [next(stream)[0] for _ in range(5)]

    one, again, other = epoch(3), epoch(3), epoch(4)
    assert all(torch.equal(a, b) for a, b in zip(one, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(one, other, strict=True))
    rows = torch.cat(one)
    assert sorted(map(tuple, rows.tolist())) == sorted(map(tuple, x.tolist()))
    spans = [int((b != 0).sum(dim=1).max()) - int((b != 0).sum(dim=1).min()) for b in one]
    assert max(spans) < int(lengths.max() - lengths.min())  # each batch holds similar lengths


@pytest.mark.parametrize("positional", ["learned", "sinusoidal", "none"])
@pytest.mark.parametrize("encoder", ["transformer", "attention"])
def test_cutting_a_batchs_padding_after_its_positions_keeps_outputs_and_gradients(encoder, positional):
    """Without dropout (so no draws move), a training batch cut after its positions are added gives
    the uncut batch's outputs and every gradient."""
    from tests.test_fast_paths import assert_same, run

    torch.manual_seed(0)
    cfg = models.resolve(encoder, dim=8, heads=2, positional=positional, dropout=0.0)
    model = models.build(cfg, vocab_size=30, seq_len=12, num_classes=2, pad_id=0).train()
    x, _ = padded_rows(rows=6)
    x[:, :4] = 0  # columns of padding alone
    x[:, -1] = 5
    assert model.cuts_after_positions
    uncut = run(model, model, x)
    model.trim_in_training = True
    assert_same(run(model, model, x), uncut)


def test_models_that_would_shift_are_never_cut_after_positions():
    for name, knobs in [
        ("transformer", {"positional": "rope"}),
        ("transformer", {"mask_padding": False}),
        ("lstm", {}),
        ("conv1d", {"depth": 2}),
    ]:
        model = models.build(
            models.resolve(name, dim=8, **knobs), vocab_size=30, seq_len=12, num_classes=2, pad_id=0
        )
        assert not model.cuts_after_positions, name


def test_training_with_a_bucket_pool_runs_and_cuts_in_training():
    torch.manual_seed(0)
    model = models.build(
        models.resolve("transformer", dim=8, positional="learned"),
        vocab_size=30,
        seq_len=12,
        num_classes=2,
        pad_id=0,
    )
    x, y = padded_rows()
    training = TrainingSpec(optimizer="adam", lr=0.01, epochs=2, batch_size=8).model_dump()
    result = train(
        model, {"train": (x, y), "val": (x, y)}, {**training, "bucket_pool": 2}, torch.device("cpu"), seed=0
    )
    assert model.trim_in_training and result.history
    with pytest.raises(ValueError, match="bucket_pool needs a model that masks padding"):
        unmasked = models.build(
            models.resolve("transformer", dim=8, mask_padding=False),
            vocab_size=30,
            seq_len=12,
            num_classes=2,
            pad_id=0,
        )
        train(unmasked, {"train": (x, y)}, {**training, "bucket_pool": 2}, torch.device("cpu"), seed=0)


@pytest.mark.parametrize("value", [1, 0, "many"])
def test_a_bucket_pool_below_two_batches_is_one_line(write_study, capsys, value):
    path = write_study(training={"bucket_pool": value})
    one_line(capsys, ["check", str(path)], "bucket_pool")


def test_a_bucket_pool_on_a_dataset_without_padding_is_refused(write_study, capsys):
    path = write_study(training={"bucket_pool": 4})
    one_line(capsys, ["check", str(path)], "training.bucket_pool", "'reversal'", "has no padding")
