"""The speed gate: its verdicts, and that it catches a slowed kernel but not unchanged code."""

import json
import time

import pandas as pd
import pytest

from suite import kernels
from suite.bench import gate

CASE = "T256·d64 fwd"


def test_judge_needs_both_the_margin_and_the_test():
    base = [1.0, 1.02, 0.98, 1.01, 0.99, 1.0, 1.03]
    assert gate.judge([1.5, 1.52, 1.49, 1.51, 1.5, 1.48, 1.53], base, 0.25)[0] == "REGRESSION"
    assert gate.judge([0.7, 0.71, 0.69, 0.7, 0.72, 0.7, 0.68], base, 0.25)[0] == "WIN"
    assert gate.judge([1.1, 1.12, 1.09, 1.11, 1.1, 1.08, 1.13], base, 0.25)[0] == "PASS"  # within margin
    # A big median change that a rank test cannot back (overlapping samples) is not a regression.
    assert gate.judge([0.9, 3.0, 1.0, 3.1, 0.95, 2.9, 3.2], base, 0.25)[0] == "PASS"


def test_spread_is_iqr_over_median():
    assert gate.spread([1, 2, 3, 4, 5]) == pytest.approx(2 / 3)


def run_gate(tmp_path, *extra):
    args = ["--baseline", str(tmp_path / "baseline.json"), "--history", str(tmp_path / "history.parquet")]
    return gate.main([*args, "--kernels", "naive", "sdpa", "--cases", CASE, "--rounds", "5", *extra])


@pytest.mark.slow
def test_gate_passes_unchanged_code_and_flags_a_slowed_kernel(tmp_path, monkeypatch, capsys):
    assert run_gate(tmp_path, "--update-baseline") == 0
    baseline = json.loads((tmp_path / "baseline.json").read_text())
    assert set(baseline["cases"]) == {f"naive | {CASE}", f"sdpa | {CASE}"}

    assert run_gate(tmp_path) == 0  # unchanged code: PASS or NOISY, never REGRESSION

    real = kernels.get("naive")

    def twice_as_slow(q, k, v, **kw):  # burns as much CPU again as the kernel took
        start = time.thread_time()
        out = real(q, k, v, **kw)
        until = start + 2 * (time.thread_time() - start)
        while time.thread_time() < until:
            pass
        return out

    monkeypatch.setitem(kernels.REGISTRY._entries, "naive", twice_as_slow)
    assert run_gate(tmp_path) == 1
    history = pd.read_parquet(tmp_path / "history.parquet")
    assert history["run_id"].nunique() == 3
    last = history[history["run_id"] == history["run_id"].iloc[-1]].set_index("kernel")
    assert last.loc["naive", "verdict"] == "REGRESSION" and last.loc["naive", "remeasured"]
    assert last.loc["sdpa", "verdict"] != "REGRESSION"
    assert "REGRESSION" in capsys.readouterr().out


def test_gate_without_baseline_says_so_and_passes(tmp_path, capsys):
    code = run_gate(tmp_path, "--rounds", "3", "--no-history")
    assert code == 0
    assert "no baseline" in capsys.readouterr().out
    assert not (tmp_path / "history.parquet").exists()


def test_gate_refuses_bad_arguments(tmp_path):
    with pytest.raises(SystemExit, match="unknown attention kernel 'nav'"):
        run_gate(tmp_path, "--kernels", "nav")
    with pytest.raises(SystemExit, match="KERNEL=FACTOR"):
        gate.main(["--inject-slowdown", "chunked=fast", "--baseline", str(tmp_path / "b.json")])
    (tmp_path / "baseline.json").write_text("[1, 2]")
    with pytest.raises(SystemExit, match="not a gate baseline"):
        run_gate(tmp_path)
