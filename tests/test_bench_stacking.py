import pytest

from suite.bench.stacking import main


@pytest.mark.slow
def test_stacking_bench_compares_twins_torch_func_and_optimizer_layouts(capsys):
    assert main(["--steps", "2", "--repeats", "1", "--cases", "mean"]) == 0
    out = capsys.readouterr().out
    for text in ("twins", "torch.func", "flat", "foreach", "fused", "vs twins + flat"):
        assert text in out, text
