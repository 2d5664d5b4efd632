"""Fault catalogue, continued: mistakes a user makes beside results that already exist. Each
ends as one clear line and a non-zero exit (no traceback), and nothing already written changes:
every file under the results folder keeps its bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from conftest import one_line

from suite.cli import NOTHING_FINISHED, main
from suite.store import Store


def snapshot(results: Path) -> dict[str, str]:
    """Every file under the results folder (logs aside), by content."""
    return {
        str(p.relative_to(results)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(results.rglob("*"))
        if p.is_file() and "logs" not in p.parts and p.name != ".lock"
    }


def rewrite(studies: Path, **changes) -> None:
    path = studies / "tiny.yaml"
    spec = yaml.safe_load(path.read_text())
    spec.update(changes)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


@pytest.mark.parametrize(
    ("changes", "needles"),
    [
        ({"variants": ["mean", "atention"]}, ["atention", "attention"]),  # a typo: close matches
        ({"datasets": ["reversall"]}, ["reversall", "reversal"]),
        ({"trainig": {"lr": 0.1}}, ["trainig", "training"]),
        ({"training": {"lr": -0.1}}, ["training.lr"]),
        ({"training": {"epochs": 0}}, ["training.epochs"]),
        ({"seeds": "three"}, ["seeds", "'three'"]),
        ({"model": {"dim": "wide"}}, ["dim"]),
        ({"datasets": [{"name": "reversal", "Q": 3}]}, ["Q"]),
    ],
    ids=[
        "variant",
        "dataset",
        "top_key",
        "negative_lr",
        "zero_epochs",
        "seeds_text",
        "dim_text",
        "dataset_key",
    ],
)
def test_a_mistyped_study_beside_its_results_is_one_line_and_writes_nothing(
    finished, capsys, changes, needles
):
    studies, results, _ = finished
    before = snapshot(results)
    rewrite(studies, **changes)
    for command in ("check", "run"):
        one_line(capsys, [command, "tiny", "--studies", studies, "--results", results], *needles)
    assert snapshot(results) == before


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "tiny.yaml"),
        ("- mean\n- attention\n", "tiny.yaml"),
        ("variants: [mean\n", "line 2, column 1"),
        (b"variants: [mean]\ndescription: \xff\xfe\n", "tiny.yaml"),
    ],
    ids=["empty", "a_list", "yaml_syntax", "not_utf8"],
)
def test_a_broken_study_file_is_one_line_naming_it(finished, capsys, text, needle):
    studies, results, _ = finished
    before = snapshot(results)
    path = studies / "tiny.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    one_line(capsys, ["run", "tiny", "--studies", studies, "--results", results], needle)
    assert snapshot(results) == before


def test_an_unknown_study_name_is_one_line_with_close_matches(finished, capsys):
    studies, results, _ = finished
    before = snapshot(results)
    for command in ("run", "check", "report"):
        one_line(capsys, [command, "tinny", "--studies", studies, "--results", results], "tinny", "tiny")
    assert snapshot(results) == before


def test_a_study_path_that_is_a_folder_is_one_line(write_study, capsys):
    studies = write_study().parent
    one_line(capsys, ["check", str(studies), "--studies", studies], str(studies))


def test_report_of_a_study_never_run_is_one_line(write_study, tmp_path, capsys):
    path = write_study()
    one_line(capsys, ["report", "tiny", "--studies", path.parent, "--results", tmp_path / "none"], "tiny")
    assert not (tmp_path / "none").exists() or not any((tmp_path / "none").rglob("*.parquet"))


@pytest.mark.parametrize("damage", ["empty", "garbage"])
def test_a_runs_table_that_is_not_parquet_is_set_aside_and_its_trials_rerun(finished, capsys, damage):
    studies, results, _ = finished
    runs = results / "tiny" / "runs.parquet"
    runs.write_bytes(b"" if damage == "empty" else b"this is not a parquet file\n" * 40)
    code = main(["run", "tiny", "--studies", str(studies), "--results", str(results), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err, err
    assert "runs.parquet" in err and "damaged" in err, err
    assert len(Store(results / "tiny").finished_keys()) == 4  # 2 variants × 2 seeds, rerun


def test_a_second_writer_is_refused_in_one_line_and_the_first_keeps_its_lock(finished, capsys):
    studies, results, _ = finished
    before = snapshot(results)
    store = Store(results / "tiny")
    with store.lock():
        one_line(
            capsys,
            ["run", "tiny", "--studies", studies, "--results", results, "--force"],
            "is being written by pid",
            code=3,
        )
    assert snapshot(results) == before


def test_a_study_json_that_is_not_an_object_is_one_line_in_report(finished, capsys):
    studies, results, _ = finished
    (results / "tiny" / "study.json").write_text("[1, 2, 3]\n")
    before = snapshot(results)
    one_line(capsys, ["report", "tiny", "--studies", studies, "--results", results], "study.json", code=2)
    assert snapshot(results) == before


def test_an_unknown_executor_is_refused_by_the_argument_parser(finished, capsys):
    studies, results, _ = finished
    before = snapshot(results)
    with pytest.raises(SystemExit) as exit_:
        main(["run", "tiny", "--studies", str(studies), "--results", str(results), "--executor", "slurm"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err, err
    assert "invalid choice: 'slurm'" in err.strip().splitlines()[-1], err  # argparse: usage, then the line
    assert snapshot(results) == before


def test_an_unavailable_device_is_a_recorded_status_not_an_error(write_study, tmp_path, capsys):
    path = write_study(devices=["cuda:7"])
    results = tmp_path / "r"
    code = main(["run", "tiny", "--studies", str(path.parent), "--results", str(results), "--no-progress"])
    err = capsys.readouterr().err
    assert code == NOTHING_FINISHED and "Traceback" not in err, err  # recorded; nothing finished
    rows = Store(results / "tiny").runs()
    assert set(rows["status"]) == {"skipped"} and rows["error"].str.contains("cuda").all()
