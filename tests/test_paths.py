import tomllib
from pathlib import Path

import pytest

from suite import paths
from suite.cli import main
from suite.study import StudyError

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_ships_in_the_wheel():
    """pyproject lists the packages (the catalogue needs a mapping), so a new one must be listed."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "suite").rglob("__init__.py")}
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages in pyproject.toml"
    assert "suite.catalogue" in listed


def test_a_checkout_uses_its_studies_folder_as_the_catalogue():
    assert paths.checkout_root() == ROOT
    assert paths.builtin_studies_dir() == ROOT / "studies"
    assert paths.package_version()


def test_the_users_folder_comes_first_then_the_catalogue(write_study, monkeypatch, tmp_path):
    monkeypatch.delenv("ABLATE_STUDIES", raising=False)
    monkeypatch.chdir(tmp_path)  # write_study made ./studies here
    mine = write_study("heads")  # shadows the built-in study of the same name
    write_study("own")
    found = paths.find_all()
    assert found["heads"] == mine.relative_to(tmp_path) or found["heads"].resolve() == mine
    assert found["own"].resolve() == (tmp_path / "studies" / "own.yaml")
    assert found["ablation_positional"] == ROOT / "studies" / "ablation_positional.yaml"
    assert paths.resolve_study("own").resolve() == tmp_path / "studies" / "own.yaml"
    assert paths.resolve_study("ablation_positional") == ROOT / "studies" / "ablation_positional.yaml"


def test_a_study_named_by_its_path(write_study, tmp_path):
    path = write_study("by_path")
    assert paths.resolve_study(str(path)) == path
    with pytest.raises(StudyError, match="no such study file"):
        paths.resolve_study(str(tmp_path / "nope.yaml"))


def test_unknown_and_unsafe_names_are_answered_with_the_list(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StudyError, match=r"did you mean 'heads'\?.*available studies: .*ablation_positional"):
        paths.resolve_study("head")
    with pytest.raises(StudyError, match="neither a plain name nor a path"):
        paths.resolve_study("..")


def test_results_go_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("ABLATE_RESULTS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert paths.results_dir() == tmp_path / "results"
    assert paths.results_dir(Path("x")) == Path("x")
    monkeypatch.setenv("ABLATE_RESULTS", str(tmp_path / "env"))
    assert paths.results_dir() == tmp_path / "env"


def test_cli_checks_and_runs_a_study_given_by_path(write_study, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ABLATE_RESULTS", raising=False)
    path = write_study("walk", seeds=1, variants=["mean"])
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["check", str(path)]) == 0
    assert "1 trials" in capsys.readouterr().out
    assert main(["run", str(path), "--no-progress"]) == 0
    assert (work / "results" / "walk" / "runs.parquet").is_file()
    assert main(["report", "walk"]) == 0
    assert (work / "results" / "walk" / "report.md").is_file()


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"ablate {paths.package_version()}"


def test_provenance_names_the_version_and_only_a_checkouts_commit(monkeypatch):
    import torch

    from suite import measure

    row = measure.provenance(torch.device("cpu"))
    assert row["ablate_version"] == paths.package_version()
    measure.git_commit.cache_clear()
    monkeypatch.setattr(measure, "checkout_root", lambda: None)  # an installed wheel
    try:
        assert measure.git_commit() == "unknown"
    finally:
        measure.git_commit.cache_clear()
