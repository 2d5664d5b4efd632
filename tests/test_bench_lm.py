"""`make bench-lm` at tiny sizes: it prints its rows, and its two single-seed loops train alike."""

import pytest
import torch

from suite.bench import lm


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(lm.CONFIG, "dim", 16)
    monkeypatch.setitem(lm.CONFIG, "depth", 1)
    monkeypatch.setitem(lm.CONFIG, "heads", 2)
    monkeypatch.setattr(lm, "BLOCK", 8)


def test_the_bench_prints_every_configuration_and_why_bf16_is_skipped(tiny, capsys):
    assert lm.main(["--iters", "4", "--warmup", "1", "--seeds", "2", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    for text in (
        "engine (train.fit, One)",
        "plain PyTorch loop",
        "untied head",
        "2 seeds stacked",
        "load average",
        "CPU time (process_time)",
    ):
        assert text in out, text
    if not torch.cuda.is_available():
        assert "bf16 autocast on CUDA: skipped, no CUDA device" in out


def test_the_engine_and_the_plain_loop_compute_the_same_training(tiny):
    """The comparison is fair only if both loops do the same work: same batches, same parameter
    groups, learning rates and updates."""
    ids, vocab = lm.corpus(None, 2_000)
    device = torch.device("cpu")
    engine, plain = lm.model(vocab, 0, True, device), lm.model(vocab, 0, True, device)
    lm.one_seed(vocab, ids, 20, 1, device, net=engine)  # 20 iterations: one warm-up step, then cosine
    lm.plain(vocab, ids, 20, 1, device, net=plain)
    for (name, a), b in zip(engine.named_parameters(), plain.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name
    assert not torch.equal(engine.head.weight, lm.model(vocab, 0, True, device).head.weight)  # it trained


def test_bad_arguments_are_refused(capsys):
    with pytest.raises(SystemExit):
        lm.main(["--iters", "5", "--warmup", "5"])
    assert "leaves no timed iteration" in capsys.readouterr().err
