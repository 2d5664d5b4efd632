"""The speed gate: its verdicts on recorded samples, how it finds its reference, and its A/B run."""

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from suite.bench import gate

# Per-call CPU milliseconds of `chunked` at T256·d64 fwd, recorded on this suite's machine by two A/A
# runs of `python -m suite.bench.gate --against HEAD --samples …` (9 interleaved rounds, one thread,
# load average 4–8): the working tree's kernels against the same code extracted from HEAD. The first
# pair is the widest A/A pair of those runs (0.92×).
AA_CURRENT = [2.8935, 3.3199, 3.2084, 2.9892, 2.6967, 3.3287, 2.8984, 2.895, 3.0859]
AA_REFERENCE = [3.3289, 3.2356, 2.9472, 3.0196, 3.0211, 3.3712, 3.781, 2.9155, 3.6161]
AA2_CURRENT = [2.7882, 3.5097, 2.9517, 3.526, 3.2422, 3.2427, 3.4233, 3.0556, 3.4896]
AA2_REFERENCE = [4.3348, 3.4693, 2.8504, 3.3998, 3.4456, 3.2064, 3.1902, 3.0911, 3.3025]


def slower(samples: list[float], factor: float = 1.5) -> list[float]:
    return [s * factor for s in samples]


has_git = shutil.which("git") is not None and gate.git(gate.ROOT, "rev-parse", "HEAD") is not None
needs_git = pytest.mark.skipif(not has_git, reason="needs git and a git checkout of the suite")


def never(*_):
    raise AssertionError("re-measured a pair that was not a suspected regression")


def test_verdict_passes_recorded_aa_pairs_and_flags_them_slowed_by_half():
    for current, reference in ((AA_CURRENT, AA_REFERENCE), (AA2_CURRENT, AA2_REFERENCE)):
        aa = gate.verdict(current, reference, gate.MARGIN, never)
        assert aa["verdict"] == "PASS" and aa["p_value"] is None

    again = (slower(AA2_CURRENT), AA2_REFERENCE)
    slow = gate.verdict(slower(AA_CURRENT), AA_REFERENCE, gate.MARGIN, lambda: again)
    assert slow["verdict"] == "REGRESSION" and slow["remeasured"]
    assert slow["change"] == pytest.approx(1.5 * 0.924, abs=0.01) and slow["p_value"] < gate.ALPHA
    assert slow["remeasure_change"] == pytest.approx(1.5 * 0.982, abs=0.01)
    # the same slowdown with a re-measure that finds nothing is not a regression
    assert (
        gate.verdict(slower(AA_CURRENT), AA_REFERENCE, gate.MARGIN, lambda: (AA2_CURRENT, AA2_REFERENCE))[
            "verdict"
        ]
        == "NOISY"
    )


def test_a_regression_stands_only_if_the_remeasure_agrees():
    ref = [1.0, 1.02, 0.98, 1.01, 0.99, 1.0, 1.03]
    slow = [1.5, 1.52, 1.49, 1.51, 1.5, 1.48, 1.53]
    assert gate.verdict(slow, ref, 0.1, lambda: (ref, ref))["verdict"] == "NOISY"
    assert gate.verdict(slow, ref, 0.1, lambda: (slow, ref))["verdict"] == "REGRESSION"
    fast = [0.7, 0.71, 0.69, 0.7, 0.72, 0.7, 0.68]
    assert gate.verdict(fast, ref, 0.1, lambda: (fast, ref))["verdict"] == "WIN"
    assert gate.verdict(fast, ref, 0.1, lambda: (ref, ref))["verdict"] == "NOISY"


def test_judge_needs_both_the_margin_and_the_rank_test():
    base = [1.0, 1.02, 0.98, 1.01, 0.99, 1.0, 1.03]
    assert gate.judge([1.5, 1.52, 1.49, 1.51, 1.5, 1.48, 1.53], base, 0.1)[0] == "REGRESSION"
    assert gate.judge([1.05, 1.07, 1.04, 1.06, 1.05, 1.03, 1.08], base, 0.1) == ("PASS", 1.05, None)
    # A big change of the medians that the rank test cannot back (overlapping samples) is inconclusive.
    assert gate.judge([0.9, 3.0, 1.0, 3.1, 0.95, 2.9, 3.2], base, 0.1)[0] == "NOISY"


def test_spread_is_iqr_over_median():
    assert gate.spread([1, 2, 3, 4, 5]) == pytest.approx(2 / 3)


# --- the reference ---------------------------------------------------------------------------------


def sh(cwd: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    sh(repo, "add", "-A")
    sh(repo, "commit", "-qm", message)
    return sh(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path):
    """c1 (kernels v1) → c2 (kernels v2) → c3 (a README change): the history the gate reads."""
    root = tmp_path / "repo"
    root.mkdir()
    sh(root, "init", "-q")
    kernels = "suite/kernels/__init__.py"
    c1 = commit(root, {kernels: "v = 1\n", "README.md": "a\n"}, "c1")
    c2 = commit(root, {kernels: "v = 2\n"}, "c2")
    c3 = commit(root, {"README.md": "b\n"}, "c3")
    return root, c1, c2, c3


@needs_git
def test_the_reference_is_the_code_before_the_last_kernel_change(repo):
    root, c1, c2, c3 = repo
    ref = gate.find_reference(root)
    assert ref.commit == c1 and f"parent of {c2[:12]}" in ref.why
    assert not gate.same_kernels(root, c1) and gate.same_kernels(root, c2)
    (root / "suite/kernels/__init__.py").write_text("v = 3\n")  # uncommitted: judged against HEAD
    assert gate.find_reference(root).commit == c3
    assert gate.find_reference(root, against="HEAD~2").commit == c1
    with pytest.raises(SystemExit, match="--against 'nope': no such commit"):
        gate.find_reference(root, against="nope")


@needs_git
def test_an_accepted_commit_replaces_the_reference_until_the_kernels_change_again(repo):
    root, c1, c2, c3 = repo
    accepted = root / "results" / "gate_reference"
    accepted.parent.mkdir()
    accepted.write_text(f"# accepted\n{c2}\n")
    ref = gate.find_reference(root, accepted=accepted)
    assert ref.commit == c2 and "accepted" in ref.why
    c4 = commit(root, {"suite/kernels/__init__.py": "v = 4\n"}, "c4")  # a later change is judged again
    ref = gate.find_reference(root, accepted=accepted)
    assert ref.commit == c3 and "superseded" in ref.notes[0]
    assert gate.accept(root, accepted) == 0 and gate.read_accepted(accepted) == c4
    accepted.write_text("not a commit\n")
    with pytest.raises(SystemExit, match="gate_reference should hold one commit hash"):
        gate.find_reference(root, accepted=accepted)


@needs_git
def test_no_reference_in_a_shallow_clone_or_outside_git(repo, tmp_path):
    root, *_ = repo
    shallow = tmp_path / "shallow"
    sh(tmp_path, "clone", "-q", "--depth", "1", f"file://{root}", str(shallow))
    with pytest.raises(gate.NoReference, match="shallow clone"):
        gate.find_reference(shallow)
    with pytest.raises(gate.NoReference, match="not a git checkout"):
        gate.find_reference(tmp_path)
    first = tmp_path / "first"
    first.mkdir()
    sh(first, "init", "-q")
    commit(first, {"suite/kernels/__init__.py": "v = 1\n"}, "only")
    with pytest.raises(gate.NoReference, match="first commit"):
        gate.find_reference(first)


def test_without_a_reference_the_gate_skips_and_passes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gate, "ROOT", tmp_path)  # not a git checkout
    monkeypatch.setattr(gate, "HISTORY", tmp_path / "history.parquet")
    assert gate.main(["--kernels", "naive", "--record"]) == 0
    out = capsys.readouterr().out
    assert "SKIPPED, nothing judged: no reference revision" in out and "not a git checkout" in out
    assert list(tmp_path.iterdir()) == []


# --- one A/B run -----------------------------------------------------------------------------------

# A reference checkout from before `chunked` existed, with the oldest registry API the worker accepts.
OLD_KERNELS = """import torch

_KERNELS = {}


def list():
    return sorted(_KERNELS)


def get(name):
    return _KERNELS[name]


def naive(q, k, v, *, mask=None, causal=False):
    return torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1) @ v


_KERNELS["naive"] = naive
"""

TOY = [c for c in gate.CASES if c.name == "T3·d2 fwd"]


@pytest.mark.slow
def test_a_kernel_the_reference_lacks_is_new_and_not_judged(tmp_path):
    (tmp_path / "suite" / "kernels").mkdir(parents=True)
    (tmp_path / "suite" / "__init__.py").write_text("")
    (tmp_path / "suite" / "kernels" / "__init__.py").write_text(OLD_KERNELS)
    rows = gate.compare(tmp_path, ["naive", "chunked"], TOY, {}, rounds=3, remeasure_rounds=3, margin=0.1)
    by_kernel = {r["kernel"]: r for r in rows}
    assert by_kernel["chunked"]["verdict"] == "NEW" and by_kernel["chunked"]["reference_samples"] == []
    assert len(by_kernel["chunked"]["current_samples"]) == 3
    assert by_kernel["naive"]["verdict"] in {"PASS", "NOISY", "WIN", "REGRESSION"}
    assert len(by_kernel["naive"]["reference_samples"]) == 3


def recorded_compare(calls):
    """`gate.compare` judging recorded samples instead of timing kernels: the injected slowdown
    multiplies the current side's samples, as the worker's spinning would (and a re-measure
    returns the second recorded A/A run, slowed the same way). No test asserts on a timing."""

    def compare(reference_root, names, cases, inject, rounds, remeasure_rounds, margin, **_):
        calls.append(inject)
        rows = []
        for name in names:
            for case in cases:
                factor = inject.get(name, 1.0)
                again = (slower(AA2_CURRENT, factor), AA2_REFERENCE)
                row = {
                    "kernel": name,
                    "case": case.name,
                    "time_s": 3e-3 * factor,
                    "ref_time_s": 3e-3,
                    "pct_gemm": 10.0,
                    "new_reason": None,
                }
                row.update(gate.verdict(slower(AA_CURRENT, factor), AA_REFERENCE, margin, lambda a=again: a))
                rows.append(row)
        return rows

    return compare


@needs_git
def test_the_gate_fails_on_an_injected_slowdown_and_records_only_when_asked(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(gate, "HISTORY", tmp_path / "history.parquet")
    monkeypatch.setattr(gate, "compare", recorded_compare(calls))
    args = ["--against", "HEAD", "--kernels", "naive", "--cases", "T256·d64 fwd", "--rounds", "5"]
    assert gate.main([*args, "--inject-slowdown", "naive=3"]) == 1
    out = capsys.readouterr().out
    assert calls[-1] == {"naive": 3.0} and "REGRESSION (re-measured: 2.95×)" in out
    assert not (tmp_path / "history.parquet").exists()
    assert gate.main([*args, "--record"]) == 0
    assert calls[-1] == {} and "PASS" in capsys.readouterr().out
    history = pd.read_parquet(tmp_path / "history.parquet")
    assert len(history) == 1 and history.loc[0, "verdict"] == "PASS"
    assert history.loc[0, "reference"] == gate.commit_of(gate.ROOT, "HEAD")


def test_an_injected_slowdown_spins_the_factor_of_the_calls_own_cpu_time(monkeypatch):
    """The worker's `slowed`, on a fake thread clock: a call of 2 ms slowed 3× ends at 6 ms."""
    spec = importlib.util.spec_from_file_location("gate_worker_for_test", gate.WORKER)
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    clock = [0.0]

    def thread_time():
        clock[0] += 1e-4  # every look at the clock costs 0.1 ms of CPU
        return clock[0]

    def call():
        clock[0] += 2e-3

    monkeypatch.setattr(worker.time, "thread_time", thread_time)
    slow = worker.slowed(call, 3.0)
    start = thread_time()
    slow()
    assert (clock[0] - start) == pytest.approx(3 * (2e-3 + 1e-4) + 1e-4, abs=2e-4)


def test_the_gate_refuses_bad_arguments():
    with pytest.raises(SystemExit, match="unknown attention kernel 'nav'"):
        gate.main(["--kernels", "nav"])
    with pytest.raises(SystemExit, match="KERNEL=FACTOR"):
        gate.main(["--inject-slowdown", "chunked=fast"])
    with pytest.raises(SystemExit, match="no case matches"):
        gate.main(["--cases", "T7"])
    with pytest.raises(SystemExit, match="at least 3 rounds"):
        gate.main(["--rounds", "1"])
