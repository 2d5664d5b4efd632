from suite.bench.runner import main


def test_bench_prints_both_paths_and_the_ratio(capsys):
    assert main(["ablation_positional", "--seeds", "1", "--epochs", "3", "--whole-runs", "2"]) == 0
    out = capsys.readouterr().out
    assert "one-at-a-time steps/s per trial" in out and "vectorized steps/s per trial" in out
    assert "trial-steps" in out and "3,000 trial-steps" not in out  # the overrides took:
    assert "aggregate: 81 trial-steps" in out  # 9 variants × 3 datasets × 1 seed, 3 steps each
    assert "end to end: `ablate run ablation_positional`" in out and "end to end in CPU time" in out
    assert "the course's loop (train_one_epoch per epoch" in out  # every trial here trains full batch
    assert "end to end against the course's loop" in out


def test_the_course_loop_trains_as_the_notebook_does():
    """Its loss falls on the course's toy data, and it steps as many times as it is told."""
    import torch

    from suite.bench.runner import _course_loop

    torch.manual_seed(0)
    x, y = torch.tensor([[0, 1, 2], [2, 1, 0], [1, 3, 4], [4, 3, 1]]), torch.tensor([1, 0, 1, 0])
    model = torch.nn.Sequential(
        torch.nn.Embedding(5, 4), torch.nn.Flatten(), torch.nn.Linear(12, 1), torch.nn.Flatten(0)
    )
    losses = _course_loop(model, x, y, torch.optim.SGD(model.parameters(), lr=0.5), 50)
    assert len(losses) == 50 and losses[-1] < 0.5 * losses[0]


def test_whole_runs_sit_at_even_shares_of_the_loops_and_the_ratio_is_against_their_mean():
    from suite.bench.runner import _ratios, whole_run_positions

    assert whole_run_positions([1] * 9, 4) == {0, 3, 6, 9}
    # the last three units train half as long: the middle runs move to the first units' side
    assert whole_run_positions([2] * 6 + [1] * 3, 4) == {0, 2, 5, 9}
    assert whole_run_positions([5], 4) == {0, 1}  # one unit: before and after only
    assert _ratios(100.0, [10.0, 10.0]) == "10.0×"
    assert _ratios(100.0, [8.0, 12.0]) == "10.0× (each run: 8.3–12.5×)"
