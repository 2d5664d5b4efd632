from suite.bench.runner import main


def test_bench_prints_both_paths_and_the_ratio(capsys):
    assert main(["ablation_positional", "--seeds", "1", "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    assert "one-at-a-time steps/s per trial" in out and "vectorized steps/s per trial" in out
    assert "trial-steps" in out and "3,000 trial-steps" not in out  # the overrides took:
    assert "aggregate: 81 trial-steps" in out  # 9 variants × 3 datasets × 1 seed, 3 steps each
    assert "end to end: `ablate run ablation_positional`" in out and "end to end in CPU time" in out
