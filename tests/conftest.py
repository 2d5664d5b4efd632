from pathlib import Path

import pytest
import torch
import yaml

# `make test` runs two pytest workers on two cores: one torch thread each, or tiny
# models spend their time waiting on each other's threads.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _no_local_data(monkeypatch):
    """Tests never see the Makefile's $ABLATE_DATA (the real corpora): each makes its own files."""
    monkeypatch.delenv("ABLATE_DATA", raising=False)


TINY_TRAINING = {"optimizer": "adam", "lr": 0.01, "epochs": 20, "history_every": 5}
TINY_MEASURE = {"repeats": 2, "warmup": 1}


@pytest.fixture
def write_study(tmp_path):
    """Write a study YAML into a temporary studies folder; return its path."""

    def write(name: str = "tiny", **spec) -> Path:
        base = {
            "description": "A tiny study for tests.",
            "variants": ["mean", "attention"],
            "datasets": ["reversal"],
            "seeds": 2,
            "model": {"dim": 2},
            "training": dict(TINY_TRAINING),
            "measure": dict(TINY_MEASURE),
        }
        base.update(spec)
        directory = tmp_path / "studies"
        directory.mkdir(exist_ok=True)
        path = directory / f"{name}.yaml"
        path.write_text(yaml.safe_dump(base, sort_keys=False))
        return path

    return write


@pytest.fixture
def finished(write_study, tmp_path, capsys):
    """A finished tiny study, for faults met beside results: (studies dir, results dir, its store)."""
    from suite.cli import main
    from suite.store import Store

    path = write_study(training={"optimizer": "adam", "lr": 0.01, "epochs": 3, "history_every": 3})
    results = tmp_path / "r"
    assert (
        main(["run", "tiny", "--studies", str(path.parent), "--results", str(results), "--no-progress"]) == 0
    )
    capsys.readouterr()
    return path.parent, results, Store(results / "tiny")


def ablate(capsys, *args) -> tuple[int, str, str]:
    """The `ablate` command in this process: (exit code, stdout, stderr)."""
    from suite.cli import main

    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(capsys, args, *needles, code: int = 2) -> str:
    """`ablate args` fails with one line that names every needle, and no traceback; returns it."""
    got, _, err = ablate(capsys, *args)
    assert got == code, (got, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


TUNE = {"grid": {"lr": [0.01, 0.03]}, "seeds": 1}


def tuned(write_study, **spec):
    """A loaded tiny study with `tune:` (a variant with its own grid beside the study's); `spec` overrides."""
    from suite.study import load_study

    base = {
        "variants": ["mean", {"name": "ngram_linear", "tune": {"lr": [0.3], "dropout": [0.0, 0.5]}}],
        "datasets": ["order"],
        "seeds": 2,
        "training": {"optimizer": "adam", "lr": 0.01, "epochs": 2, "history_every": 1},
        "measure": {"repeats": 1, "warmup": 0, "memory": False},
        "tune": TUNE,
    }
    return load_study(write_study(**{**base, **spec}))


def training_dict(**knobs) -> dict:
    """The training section as a trial carries it (every knob resolved), with `knobs` set."""
    from suite.study import TrainingSpec

    return TrainingSpec(**knobs).model_dump(exclude={"vectorize"})
