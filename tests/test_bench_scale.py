import pytest

from suite.bench.scale import main


@pytest.mark.slow
def test_bench_scale_runs_a_tiny_case_and_accounts_for_its_time(capsys):
    assert main(["--sizes", "1", "2", "--modes", "alone"]) == 0
    out = capsys.readouterr().out
    assert (
        "| alone" in out
        and "store ms/trial" in out
        and "memory ms/trial" in out
        and "throughput ms/trial" in out
    )
    assert "cost per trial at 2 trials is" in out
