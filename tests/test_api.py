import pytest

import suite as ablate
from suite.study import StudyError

TINY = {
    "description": "A tiny study from a notebook.",
    "variants": ["mean", "positional"],
    "datasets": ["reversal"],
    "seeds": 3,
    "model": {"dim": 2},
    "baseline": "mean",
    "training": {"epochs": 10, "history_every": 5},
    "measure": {"repeats": 1, "warmup": 0, "memory": False},
}


def test_load_a_dict_run_it_and_read_the_results(tmp_path):
    study = ablate.load(TINY, name="nb")
    assert study.name == "nb" and len(study.trials()) == 6
    results = ablate.run(study, results=tmp_path, progress=False)
    assert results.dir == tmp_path / "nb"
    runs = results.runs
    assert len(runs) == 6 and set(runs["status"]) == {"ok"}
    assert set(runs["variant"]) == {"mean", "positional"}
    history = results.history
    assert set(history["key"]) == set(runs["key"]) and {"loss", "accuracy", "split"} <= set(history.columns)
    report = results.report()
    assert report.is_file() and "tiny study from a notebook" in report.read_text()
    again = ablate.results("nb", results=tmp_path)
    assert len(again.runs) == 6 and again.meta["name"] == "nb"


def test_load_by_name_with_overrides_as_a_dict_or_strings():
    a = ablate.load("heads", {"training.epochs": 2}, seeds=2)
    b = ablate.load("heads", ["training.epochs=2"], seeds=2)
    assert a.name == b.name and a.name.startswith("heads+")
    assert [t.key for t in a.trials()] == [t.key for t in b.trials()]
    assert {t.seed for t in a.trials()} == {0, 1}
    assert a.spec.training.epochs == 2


def test_a_bad_dict_gets_the_files_messages():
    with pytest.raises(StudyError, match=r"<mine>: training.lr: Input should be greater than 0"):
        ablate.load({**TINY, "training": {"lr": -1}}, name="mine")
    with pytest.raises(ValueError, match="did you mean 'lr'"):
        ablate.load(TINY, {"training.lrr": 1})


def test_results_of_a_study_never_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the study first"):
        ablate.results("nothing", results=tmp_path)


def test_running_a_folder_that_another_run_is_writing_raises_and_keeps_its_rows(tmp_path):
    from suite.store import Store, StoreLocked

    study = ablate.load(TINY, name="nb")
    ablate.run(study, results=tmp_path, progress=False)
    before = ablate.results("nb", results=tmp_path).runs
    with Store(tmp_path / "nb").lock(), pytest.raises(StoreLocked, match="being written"):
        ablate.run(study, results=tmp_path, force=True, progress=False)
    after = ablate.results("nb", results=tmp_path).runs
    assert after.equals(before)
