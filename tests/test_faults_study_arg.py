"""Fault catalogue: what STUDY names. One rule for run, check, report, doctor, export and compare
(a study name, a path to a YAML file, or a results folder), and one line, the same from every
command, when it is none of these, saying what the path is. Nothing is opened that could hang."""

from __future__ import annotations

import os

import pytest
from conftest import ablate, one_line
from test_faults_more import snapshot

from suite.locate import RULE

COMMANDS = ["run", "check", "report", "doctor", "export", "compare"]


def _command(command: str, study, studies, results) -> list:
    args = {"export": ["--to", "tensorboard", "--out", str(results.parent / "tb")], "run": ["--no-progress"]}
    first = [command, study, study] if command == "compare" else [command, study]
    return [*first, *args.get(command, []), "--studies", studies, "--results", results]


def _weird(kind: str, tmp_path):
    path = tmp_path / f"weird-{kind}.yaml"
    if kind == "folder":
        path.mkdir()
        return path, "a folder"
    if kind == "loop":
        os.symlink(path, path)
        return path, "a symlink loop"
    if kind == "fifo":
        os.mkfifo(path)
        return path, "a FIFO"
    if kind == "dev_zero":
        os.symlink("/dev/zero", path)
        return path, "a link to /dev/zero, a character device"
    if kind == "broken":
        os.symlink(tmp_path / "gone.yaml", path)
        return path, f"a broken link to {tmp_path / 'gone.yaml'}"
    return path, "no such file or folder"


@pytest.mark.parametrize("kind", ["folder", "loop", "fifo", "dev_zero", "broken", "missing"])
def test_a_study_path_that_is_no_study_is_the_same_line_from_every_command(finished, capsys, kind):
    studies, results, _ = finished
    path, what = _weird(kind, results.parent)
    before = snapshot(results)
    lines = {
        command: one_line(capsys, _command(command, path, studies, results), str(path), what, RULE)
        for command in COMMANDS
    }
    assert len(set(lines.values())) == 1, lines
    assert snapshot(results) == before


def test_doctor_and_export_of_a_yaml_path_find_the_studys_results(finished, capsys, tmp_path):
    studies, results, _ = finished
    yaml = studies / "tiny.yaml"
    code, out, _ = ablate(capsys, "doctor", yaml, "--results", results)
    assert code == 0 and out.strip() == "tiny: ok", out
    code, out, err = ablate(
        capsys, "export", yaml, "--to", "tensorboard", "--out", tmp_path / "tb", "--results", results
    )
    assert code == 0 and "exported 4 trial(s)" in out, (out, err)
    assert ablate(capsys, "report", yaml, "--results", results)[0] == 0
    code, out, _ = ablate(capsys, "compare", yaml, results / "tiny", "--results", results)
    assert code == 0, out


def test_run_and_check_of_a_results_folder_use_the_study_it_holds(finished, capsys):
    studies, results, _ = finished
    code, out, _ = ablate(capsys, "run", results / "tiny", "--studies", studies, "--no-progress")
    assert code == 0 and "4 cached" in out, out
    code, out, _ = ablate(capsys, "check", results / "tiny", "--studies", studies)
    assert code == 0 and "4" in out
    assert (
        ablate(
            capsys,
            "run",
            studies / "tiny.yaml",
            "training.epochs=2",
            "--studies",
            studies,
            "--results",
            results,
            "--no-progress",
        )[0]
        == 0
    )
    (overridden,) = [p for p in results.iterdir() if p.name.startswith("tiny+")]
    code, out, _ = ablate(capsys, "run", overridden, "--studies", studies, "--no-progress")
    assert code == 0 and "4 cached" in out, out  # the overrides it was run with, from study.json


def test_a_name_with_no_results_says_so_in_every_reading_command(finished, capsys, write_study):
    studies, results, _ = finished
    write_study("other")
    for command in ("report", "doctor", "export"):
        one_line(
            capsys, _command(command, "other", studies, results), "no results of 'other'", "ablate run other"
        )
    one_line(capsys, _command("report", "tinny", studies, results), "unknown study 'tinny'", "'tiny'")
