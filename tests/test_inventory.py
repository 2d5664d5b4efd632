"""`ablate results`: result folders with their study, overrides, counts, status and dates."""

from suite.cli import main


def test_results_lists_a_study_and_its_overridden_variation(write_study, tmp_path, capsys):
    path = write_study(variants=["mean"], seeds=1)
    results = tmp_path / "results"
    common = ["--studies", str(path.parent), "--results", str(results)]
    assert main(["run", "tiny", "--no-progress", *common]) == 0
    assert main(["run", "tiny", "training.epochs=1", "--no-progress", *common]) == 0
    (results / "notes").mkdir()  # not a study's folder: not listed
    capsys.readouterr()
    assert main(["results", "tiny", "--results", str(results)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["folder", "study", "overrides", "done", "status", "ran", "(UTC)"]
    plain, varied = lines[2].split(), lines[3].split()
    assert plain[:4] == ["tiny", "tiny", "1/1", "complete"]
    assert varied[0].startswith("tiny+") and varied[1:5] == ["tiny", "training.epochs=1", "1/1", "complete"]
    assert all(line.split()[-2][:2] == "20" for line in lines[2:])  # when each ran (its last date)
    assert main(["results", "other", "--results", str(results)]) == 0
    assert "no results folders of study 'other'" in capsys.readouterr().out
