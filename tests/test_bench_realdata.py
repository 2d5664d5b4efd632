import pytest

from suite.bench.realdata import imdb_shaped, main


def test_imdb_shaped_tokens_have_padded_tails_and_two_classes():
    x, y = imdb_shaped(64)
    assert x.shape == (64, 256) and set(y.tolist()) <= {0, 1}
    assert (x[:, -1] == 0).any() and (x[:, 0] != 0).all()  # padding only at the end


@pytest.mark.slow
def test_realdata_bench_prints_suite_and_plain_per_step(capsys):
    assert main(["--steps", "1", "--repeats", "1", "--variants", "bow_mlp"]) == 0
    out = capsys.readouterr().out
    assert "plain CPU ms/step" in out and "suite / plain" in out and "| bow_mlp" in out
