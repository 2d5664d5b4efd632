import pytest
import torch

from suite.bench.realdata import BATCH as BATCH_ROWS
from suite.bench.realdata import build, imdb_shaped, main, recurrent_flops, steps_per_epoch


def test_imdb_shaped_tokens_are_pre_padded_and_two_classes():
    x, y = imdb_shaped(64, length=200)
    assert x.shape == (64, 200) and set(y.tolist()) <= {0, 1}
    assert (x[:, 0] == 0).any() and (x[:, -1] != 0).all()  # padding only in front, as the tokenizer pads
    first_kept = (x != 0).int().argmax(dim=1)
    assert all((row[i:] != 0).all() for row, i in zip(x, first_kept, strict=True))  # no holes
    assert steps_per_epoch(256) == 79  # 20,000 training rows


def test_recurrent_flops_count_the_gates_both_ways():
    lstm = build("lstm")
    one = recurrent_flops(lstm, rows=1, length=1)
    assert one == 3 * 2 * 4 * 32 * (32 + 32)  # forward and backward of one LSTM step of width 32
    assert recurrent_flops(lstm, rows=2, length=5) == 10 * one
    assert recurrent_flops(torch.nn.Linear(3, 3), 1, 1) == 0


@pytest.mark.slow
def test_realdata_bench_prints_seconds_per_epoch_against_plain_and_the_floor(capsys):
    assert main(["--steps", "1", "--repeats", "1", "--variants", "bow_mlp", "--length", "32"]) == 0
    out = capsys.readouterr().out
    assert "plain s/epoch" in out and "suite / plain" in out and "floor s/epoch" in out
    assert "| bow_mlp" in out and "79 steps an epoch" in out and "GFLOP/s" in out


def test_realdata_bench_profile_names_where_a_step_goes(capsys):
    from suite.bench.realdata import profile_step

    x, y = imdb_shaped(BATCH_ROWS, length=16)
    shares = profile_step(build("transformer", 16), x, y, top=4)
    assert len(shares) == 4 and all(0 < share <= 1 for _, share in shares)
    assert [s for _, s in shares] == sorted((s for _, s in shares), reverse=True)
    assert any("attention" in name for name, _ in profile_step(build("transformer", 16), x, y, top=50))


@pytest.mark.slow
def test_realdata_bench_times_an_epoch_bucketed_by_length(capsys):
    argv = ["--steps", "1", "--repeats", "1", "--variants", "transformer", "--length", "8"]
    assert main([*argv, "--bucket-pool", "5"]) == 0
    out = capsys.readouterr().out
    assert "bucketed (pool 5) s/epoch" in out and "speed-up" in out and "equal in distribution" in out
