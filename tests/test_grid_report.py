"""A sweep of a training knob reads as a labelled dimension of the report: a newcomer's one-line
`grid.training.lr=[...]` gives a label per value and a figure against the axis."""

import json

from suite.cli import main


def test_a_one_line_learning_rate_sweep_is_reported_against_its_axis(write_study, tmp_path, capsys):
    path = write_study(variants=["mean"], seeds=3)
    results = tmp_path / "results"
    common = ["--studies", str(path.parent), "--results", str(results)]
    assert (
        main(
            [
                "run",
                "tiny",
                "grid.training.lr=[1e-3,1e-2,1e-1]",
                "training.epochs=2",
                "--no-progress",
                *common,
            ]
        )
        == 0
    )
    (folder,) = results.iterdir()
    meta = json.loads((folder / "study.json").read_text())
    assert meta["grid"] == {"training.lr": [0.001, 0.01, 0.1]}
    assert meta["factors"]["mean[lr=0.01]"] == {"variant": "mean", "training.lr": 0.01}
    capsys.readouterr()
    assert main(["report", folder.name, "--results", str(results)]) == 0
    report = (folder / "report.md").read_text()
    assert "mean[lr=0.001]" in report and "mean[lr=0.1]" in report
    assert "against the grid axis `training.lr`" in report and (folder / "figures" / "grid_0.png").is_file()
