import json

import pytest

from suite import overrides
from suite.cli import main
from suite.study import StudyError, load_study


def test_values_are_read_as_yaml():
    got = overrides.parse(["training.lr=0.1", "grid.dim=[16, 32]", "training.steps=null", "devices=[cpu]"], 4)
    assert got == {
        "training.lr": 0.1,
        "grid.dim": [16, 32],
        "training.steps": None,
        "devices": ["cpu"],
        "seeds": 4,
    }
    with pytest.raises(overrides.OverrideError, match="KEY.PATH=VALUE"):
        overrides.parse(["training.lr"])
    with pytest.raises(overrides.OverrideError, match="KEY.PATH=VALUE"):
        overrides.parse(["training..lr=1"])
    with pytest.raises(overrides.OverrideError, match=r"not valid YAML: .* at line 1, column 4") as err:
        overrides.parse(["training.lr=[1,"])
    assert "\n" not in str(err.value)  # PyYAML's own message spans several lines


def test_an_override_gives_the_same_trials_as_the_edited_file(write_study):
    path = write_study()
    changed = overrides.load(path, {"training.lr": 0.5, "seeds": 3, "model.dim": 4})
    edited = load_study(
        write_study(
            "edited",
            training={"optimizer": "adam", "lr": 0.5, "epochs": 20, "history_every": 5},
            seeds=3,
            model={"dim": 4},
        )
    )
    assert [t.key for t in changed.trials()] == [t.key for t in edited.trials()]
    assert changed.name.startswith("tiny+") and changed.overrides == {
        "training.lr": 0.5,
        "seeds": 3,
        "model.dim": 4,
    }
    again = overrides.load(path, {"training.lr": 0.5, "seeds": 3, "model.dim": 4})
    assert again.name == changed.name  # the same overrides, the same results folder
    assert overrides.load(path, {}).name == "tiny"


@pytest.mark.parametrize(
    "given, message",
    [
        ({"training.lrr": 1}, r"override training.lrr: 'lrr' is not a key of training; did you mean 'lr'\?"),
        (
            {"grid.dimm": [2]},
            r"override grid.dimm: 'dimm' is not a key of grid; did you mean 'dim'\? allowed: ",
        ),
        ({"grid.trainig.lr": [2]}, r"'trainig' is not a key of grid; did you mean 'training'"),
        ({"model.hiden": 3}, r"did you mean 'hidden'"),
        ({"seed": 3}, r"'seed' is not a key of the study; did you mean 'seeds'\?"),
        ({"trainig.lr": 3}, r"'trainig' is not a key of the study; did you mean 'training'\?"),
        ({"datasets.0.T": 3}, r"datasets is not a section of keys; set it whole"),
    ],
)
def test_unknown_keys_get_close_matches(write_study, given, message):
    path = write_study()
    with pytest.raises(StudyError, match=message) as err:
        overrides.load(path, given)
    assert str(path) in str(err.value)


def test_bad_values_get_the_files_message(write_study):
    """The schema checks an overridden value: the same message as the value in the file."""
    from_file = write_study("bad", training={"lr": -1})
    with pytest.raises(StudyError) as in_file:
        load_study(from_file)
    with pytest.raises(StudyError) as overridden:
        overrides.load(write_study(), {"training.lr": -1})
    detail = str(in_file.value).split(": ", 1)[1]
    assert detail in str(overridden.value) and "with the overrides training.lr=-1" in str(overridden.value)


def test_grid_keys_in_files_get_close_matches_too(write_study):
    with pytest.raises(
        StudyError, match=r"grid.dimm: unknown model parameter or training knob; did you mean 'dim'\?$"
    ):
        load_study(write_study(grid={"dimm": [2]}))


def test_run_with_overrides_writes_its_own_folder_and_records_them(write_study, tmp_path, capsys):
    path = write_study(variants=["mean"])
    results = tmp_path / "results"
    code = main(
        [
            "run",
            "tiny",
            "training.epochs=5",
            "--seeds",
            "1",
            "--studies",
            str(path.parent),
            "--results",
            str(results),
            "--no-progress",
        ]
    )
    assert code == 0
    (folder,) = results.iterdir()
    assert folder.name.startswith("tiny+")
    meta = json.loads((folder / "study.json").read_text())
    assert meta["overrides"] == {"training.epochs": 5, "seeds": 1}
    assert meta["spec"]["training"]["epochs"] == 5
    assert folder.name in capsys.readouterr().out
    assert main(["report", folder.name, "--results", str(results)]) == 0
    assert (folder / "report.md").is_file()


def test_a_bad_override_on_the_command_line_is_one_line(write_study, tmp_path, capsys):
    path = write_study()
    code = main(
        ["run", "tiny", "training.lrr=0.1", "--studies", str(path.parent), "--results", str(tmp_path / "r")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'lr'?" in err
    assert not (tmp_path / "r").exists()


def test_overrides_may_follow_options(write_study, tmp_path, capsys):
    path = write_study()
    assert main(["check", str(path), "--seeds", "1", "training.epochs=5", "--results", str(tmp_path)]) == 0
    assert "tiny+" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["check", str(path), "--bogus"])


def test_min_effect_takes_a_metric_by_key_path_checked_by_the_schema(write_study):
    study = overrides.load(write_study(), {"min_effect.accuracy": 0.02})
    assert study.spec.min_effect == {"accuracy": 0.02}
    with pytest.raises(StudyError, match="did you mean 'accuracy'"):
        overrides.load(write_study(), {"min_effect.accurcy": 0.02})
    with pytest.raises(StudyError, match="training.lr=<a YAML value>"):
        overrides.load(write_study(), {"training.lr.x": 1})


def test_a_one_line_override_sweeps_the_learning_rate(write_study):
    """`grid.training.lr=[...]` (nested by the override) is the axis `training.lr` of the file."""
    path = write_study(variants=["mean"])
    given = overrides.parse(["grid.training.lr=[1e-3, 3e-3, 1e-2]"])
    swept = overrides.load(path, given)
    assert sorted({t.variant for t in swept.trials()}) == [
        "mean[lr=0.001]",
        "mean[lr=0.003]",
        "mean[lr=0.01]",
    ]
    in_file = load_study(write_study("file", variants=["mean"], grid={"training.lr": [1e-3, 3e-3, 1e-2]}))
    assert [t.key for t in swept.trials()] == [t.key for t in in_file.trials()]
    assert overrides.load(path, {"grid.lr": [1e-3, 3e-3, 1e-2]}).trials()[0].training["lr"] == 1e-3
