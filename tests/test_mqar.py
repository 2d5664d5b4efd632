import pytest
import torch

from suite.data import mqar as m
from suite.data.sequence import IGNORE

SMALL = dict(V=64, T=32, num_kv_pairs=4, n_train=200, n_test=50)


def pairs_of(x: torch.Tensor, pairs: int) -> dict[int, int]:
    return {int(x[2 * i]): int(x[2 * i + 1]) for i in range(pairs)}


def test_shapes_types_and_fields():
    data = m.mqar(**SMALL)
    splits = data.load()
    assert set(splits) == {"train", "test"} and data.splits == ("train", "test")
    for split, n in (("train", 200), ("test", 50)):
        x, y = splits[split]
        assert x.shape == y.shape == (n, 32) and x.dtype == y.dtype == torch.long
        assert 0 <= int(x.min()) and int(x.max()) < 64
    assert (data.vocab_size, data.seq_len, data.num_classes) == (64, 32, 64)
    assert data.task == "tokens" and data.streaming is False


@pytest.mark.parametrize("random_non_queries", [True, False])
def test_each_query_is_labelled_with_the_value_bound_to_its_key(random_non_queries):
    x, y = m.mqar(**SMALL, random_non_queries=random_non_queries).load()["train"]
    for row_x, row_y in zip(x, y, strict=True):
        bound = pairs_of(row_x, 4)
        keys, values = list(bound), list(bound.values())
        assert len(set(keys)) == 4 and len(set(values)) == 4  # distinct inside an example
        assert all(1 <= k < 32 for k in keys) and all(32 <= v < 64 for v in values)
        labelled = (row_y != IGNORE).nonzero().flatten().tolist()
        assert len(labelled) == 4  # labels only at the queries, one per key
        assert all(p >= 8 and (p - 8) % 2 == 0 for p in labelled)  # even slots after the pairs
        assert sorted(int(row_x[p]) for p in labelled) == sorted(keys)  # each key asked once
        for p in labelled:
            assert int(row_y[p]) == bound[int(row_x[p])]
        if not random_non_queries:
            rest = [int(row_x[p]) for p in range(8, 32) if p not in labelled]
            assert rest == [0] * len(rest)


def test_power_law_puts_queries_near_the_pairs():
    _, near = m.mqar(**{**SMALL, "n_train": 400}, power_a=0.01).load()["train"]
    _, flat = m.mqar(**{**SMALL, "n_train": 400}, power_a=1.0).load()["train"]
    mean_position = lambda y: (y != IGNORE).nonzero()[:, 1].float().mean()  # noqa: E731
    assert mean_position(near) < mean_position(flat) - 2
    # uniform slots: the mean query position is near the middle of the query region [8, 30]
    assert abs(float(mean_position(flat)) - 19) < 1.0


def test_train_and_test_come_from_disjoint_streams():
    data = m.mqar(V=1024, T=32, num_kv_pairs=4, n_train=300, n_test=300)
    splits = data.load()
    train = {tuple(r.tolist()) for r in splits["train"][0]}
    test = {tuple(r.tolist()) for r in splits["test"][0]}
    assert not train & test
    assert len(train) == 300
    other_seed = m.mqar(V=1024, T=32, num_kv_pairs=4, n_train=300, n_test=300, seed=1).load()
    assert not torch.equal(other_seed["test"][0], splits["test"][0])
    again = m.mqar(V=1024, T=32, num_kv_pairs=4, n_train=300, n_test=300).load()
    assert torch.equal(again["test"][0], splits["test"][0]) and torch.equal(
        again["train"][1], splits["train"][1]
    )


def test_fresh_batches_are_new_per_step_reproducible_and_never_the_test_rows():
    data = m.mqar(**SMALL, fresh=True)
    assert data.streaming
    x0, y0 = data.batch(step=0, batch_size=16)
    assert x0.shape == y0.shape == (16, 32)
    assert torch.equal(data.batch(0, 16)[0], x0)
    assert not torch.equal(data.batch(1, 16)[0], x0)
    assert not torch.equal(data.batch(0, 16, seed=1)[0], x0)
    fixed = data.load()
    for split in ("train", "test"):
        assert not torch.equal(fixed[split][0][:16], x0)


def test_generation_in_chunks_keeps_the_layout(monkeypatch):
    whole = m.mqar(**SMALL).load()["train"]
    monkeypatch.setattr(m, "CHUNK", 7)
    chunked = m.mqar(**SMALL).load()["train"]
    assert whole[0].shape == chunked[0].shape
    assert (chunked[1] != IGNORE).sum(dim=1).eq(4).all()


@pytest.mark.parametrize(
    "params, message",
    [
        ({"T": 31}, "must be even"),
        ({"T": 12, "num_kv_pairs": 4}, "T ≥ 4·num_kv_pairs = 16"),
        ({"V": 30}, "must exceed T=32"),
        ({"power_a": 0}, "power_a must be a number > 0"),
        ({"n_test": 0}, "n_test must be an integer ≥ 1"),
    ],
)
def test_bad_parameters_are_refused_in_one_line(params, message):
    with pytest.raises(ValueError, match=message):
        m.mqar(**{**SMALL, **params})


def test_chance_is_one_over_the_values():
    assert m.chance(64) == 1 / 32


@pytest.mark.parametrize("population, k", [(10, 4), (100, 4)])  # Gumbel top-k, then rejection
def test_distinct_draws_are_distinct_and_cover_the_population(population, k):
    draws = m.distinct_uniform(3000, population, k, torch.Generator().manual_seed(0))
    assert draws.shape == (3000, k)
    assert (draws.sort(dim=1).values.diff(dim=1) > 0).all()
    counts = torch.bincount(draws.flatten(), minlength=population).float()
    assert 0 <= int(draws.min()) and int(draws.max()) < population
    assert counts.min() > 0.5 * counts.mean()  # roughly uniform


def test_longer_windows_keep_the_pairs_and_the_trained_length_is_the_split():
    data = m.mqar(**{**SMALL, "V": 256})
    x, y = data.windows("test", 32)
    assert torch.equal(x, data.load()["test"][0]) and torch.equal(y, data.load()["test"][1])
    x, y = data.windows("test", 128, limit=10)
    assert x.shape == y.shape == (10, 128)
    assert ((y != IGNORE).sum(dim=1) == 4).all()
    for row_x, row_y in zip(x, y, strict=True):
        bound = pairs_of(row_x, 4)
        assert all(int(row_y[p]) == bound[int(row_x[p])] for p in (row_y != IGNORE).nonzero().flatten())
    with pytest.raises(ValueError, match="must exceed T=512"):
        data.windows("test", 512)


def test_length_extrapolation_reads_mqar_accuracy_at_longer_lengths():
    from suite.lm_eval import length_extrapolation
    from suite.models.decoder import DecoderLM

    data = m.mqar(**{**SMALL, "V": 256})
    torch.manual_seed(0)
    model = DecoderLM(256, 32, dim=16, depth=1, heads=2, positional="rope")
    table = length_extrapolation(model, data, split="test", limit=8)
    assert table["context"].tolist() == [32, 64, 128]
    assert table["tokens"].tolist() == [32, 32, 32]  # 8 examples × 4 queries at every length
