"""Fault catalogue: messages and exit codes. An override without '=' hints at KEY.PATH=VALUE; a
size no machine could run and a number that is not finite are refused by `check` (and `run`)
naming the key; a reason is printed whole; a run where nothing finished exits non-zero."""

from __future__ import annotations

import pytest
from conftest import ablate, one_line
from test_faults_more import snapshot

from suite.cli import NOTHING_FINISHED, build_parser
from suite.console import reason, summary
from suite.store import Store


@pytest.mark.parametrize("words", [["training.lr", "0.1"], ["trainingepochs"]])
def test_an_override_without_equals_hints_at_key_path_value(finished, capsys, words):
    studies, results, _ = finished
    before = snapshot(results)
    for command in ("run", "check"):
        args = [command, "tiny", "--studies", studies, "--results", results, "--no-progress", *words]
        one_line(
            capsys,
            [a for a in args if command == "run" or a != "--no-progress"],
            repr(words[0]),
            "KEY.PATH=VALUE",
        )
    assert snapshot(results) == before


@pytest.mark.parametrize(
    ("override", "needles"),
    [
        ("training.epochs=99999999999999999999", ["training.epochs", "99999999999999999999", "at most"]),
        ("training.epochs=9999999", ["training.epochs", "1000000"]),
        ("training.batch_size=5000000000", ["training.batch_size", "at most"]),
        ("model.dim=100000", ["dim=100000", "65536"]),
        ("seeds=[99999999999999999999]", ["seeds[0]", "at most"]),
        ("training.lr=.inf", ["training.lr", "finite", "inf"]),
        ("training.lr=.nan", ["training.lr", "finite", "nan"]),
    ],
)
def test_a_size_no_machine_could_run_is_refused_naming_the_key(finished, capsys, override, needles):
    studies, results, _ = finished
    before = snapshot(results)
    for command in ("check", "run"):
        one_line(capsys, [command, "tiny", override, "--studies", studies, "--results", results], *needles)
    assert snapshot(results) == before


def test_lr_inf_in_the_file_is_refused_like_nan(write_study, capsys):
    for value in (float("inf"), float("nan")):
        path = write_study(training={"lr": value, "epochs": 2})
        one_line(capsys, ["check", "tiny", "--studies", path.parent], "training.lr: must be a finite number")


def test_a_long_reason_is_printed_whole_on_wrapped_lines(finished, capsys):
    studies, results, store = finished
    long = "ValueError: " + " ".join(f"word{i}" for i in range(80)) + " /a/very/long/path/" + "x" * 150
    assert reason(f"Traceback...\n  File x\n{long}\n") == long
    runs = store.runs()
    store.write({**runs.iloc[0].to_dict(), "status": "failed", "error": long}, [])

    class Study:
        name = "tiny"

        def trials(self):
            return [type("T", (), {"key": k})() for k in runs["key"]]

    _, problems = summary(Study(), Store(store.dir), {"failed": 1})
    first = problems.split("\nablate: a failed trial's row")[0].splitlines()
    assert all(len(line) <= 100 or " " not in line.strip() for line in first)
    assert " ".join(line.strip() for line in first).startswith(f"ablate: 1 failed: {long}")


def test_a_run_where_every_trial_was_skipped_exits_non_zero_and_a_partial_one_zero(
    write_study, tmp_path, capsys
):
    path = write_study(devices=["cuda:7"])
    code, out, err = ablate(
        capsys, "run", "tiny", "--studies", path.parent, "--results", tmp_path / "r", "--no-progress"
    )
    assert code == NOTHING_FINISHED and "4 skipped" in out and "none of the 4 trial(s) run finished" in err
    path = write_study(devices=["cpu", "cuda:7"])
    code, out, err = ablate(
        capsys, "run", "tiny", "--studies", path.parent, "--results", tmp_path / "r", "--no-progress"
    )
    assert code == 0 and "4 ok" in out and "4 skipped" in out, (out, err)
    code, out, _ = ablate(
        capsys, "run", "tiny", "--studies", path.parent, "--results", tmp_path / "r", "--no-progress"
    )
    assert code == 0 and "4 cached" in out  # nothing ran: nothing failed


def test_the_exit_codes_are_in_the_help():
    for parser in (build_parser(), build_parser()._subparsers._group_actions[0].choices["run"]):
        text = parser.format_help()
        assert f"{NOTHING_FINISHED} a run in which every trial failed or was skipped" in " ".join(
            text.split()
        )
        assert "130 interrupted" in " ".join(text.split())


def test_a_timeout_no_executor_could_enforce_is_refused_with_the_minimum(finished, capsys):
    studies, results, _ = finished
    before = snapshot(results)
    for command in ("check", "run"):
        one_line(
            capsys,
            [command, "tiny", "executor.timeout_s=0.01", "--studies", studies, "--results", results],
            "executor.timeout_s",
            "at least 1 s",
            "(got 0.01)",
        )
    assert snapshot(results) == before


def test_a_serial_run_says_it_does_not_enforce_a_timeout(finished, capsys):
    studies, results, _ = finished
    code, out, err = ablate(
        capsys,
        "run",
        "tiny",
        "executor.timeout_s=5",
        "--studies",
        studies,
        "--results",
        results,
        "--no-progress",
    )
    assert code == 0 and "timeout_s=5 is not enforced by the serial executor" in err, err


def test_a_study_larger_than_the_machines_memory_is_warned_by_check_and_refused_by_run(finished, capsys):
    studies, results, _ = finished
    before = snapshot(results)
    huge = "datasets=[{name: order, T: 100000, n: 10000000}]"  # 10^12 tokens: 7,451 GiB of int64
    code, out, _ = ablate(capsys, "check", "tiny", huge, "--studies", studies, "--results", results)
    assert code == 0 and "warning:" in out and "10,000,000 rows × T=100,000" in out and "GiB of memory" in out
    one_line(
        capsys,
        ["run", "tiny", huge, "--studies", studies, "--results", results, "--no-progress"],
        "10,000,000 rows × T=100,000",
        "needs at least 7,451 GiB",
    )
    assert snapshot(results) == before
    code, out, _ = ablate(capsys, "check", "tiny", "--studies", studies, "--results", results)
    assert code == 0 and "GiB of memory" not in out
