"""The study-kind protocol: a new kind of study is one module (here, this test file) and
runs, checks and reports through the same runner, store and CLI as training."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from suite import identity, kinds
from suite.cli import main
from suite.kinds import TrialResult, register_kind
from suite.spec import StudyError, format_validation


# ── the whole of a new kind: a coin-flipping "study" ──────────────────────────────────────────
class CoinSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["coin"]
    description: str = "How often does a seeded coin land heads?"
    flips: int = Field(10, ge=1)
    seeds: int = Field(3, ge=1)


@dataclass(frozen=True)
class CoinTrial:
    kind: ClassVar[str] = "coin"
    study: str
    flips: int
    seed: int
    device: str = "cpu"
    threads: int | None = None

    @property
    def key(self) -> str:
        return identity.key({"kind": self.kind, "flips": self.flips, "seed": self.seed})

    @property
    def label(self) -> str:
        return f"coin · seed {self.seed}"

    def base_row(self) -> dict[str, Any]:
        return {"key": self.key, "study": self.study, "seed": self.seed, "status": "ok", "error": None}


@dataclass
class CoinStudy:
    kind: ClassVar[str] = "coin"
    name: str
    path: Path
    spec: CoinSpec
    serial_threads: ClassVar[None] = None
    shape: ClassVar[str] = ""

    @property
    def description(self) -> str:
        return self.spec.description

    def trials(self) -> list[CoinTrial]:
        return [CoinTrial(self.name, self.spec.flips, seed) for seed in range(self.spec.seeds)]

    def meta(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "description": self.description}


@register_kind("coin")
class CoinKind:
    sections = {(): CoinSpec}

    def load(self, raw: dict, path: Path, name: str, **options) -> CoinStudy:
        try:
            return CoinStudy(name, path, CoinSpec.model_validate(raw))
        except ValidationError as err:
            raise StudyError(format_validation(path, err, self.sections)) from None

    def plan(self, trials: list[CoinTrial]) -> list[list[CoinTrial]]:
        return [[t] for t in trials]

    def run_unit(self, unit: list[CoinTrial]) -> list[TrialResult]:
        out = []
        for trial in unit:
            rng = random.Random(trial.seed)
            heads = sum(rng.random() < 0.5 for _ in range(trial.flips))
            row = trial.base_row() | {"heads": heads, "measured_at": "now", "wall_seconds": 0.0}
            out.append(TrialResult(row))
        return out


# ── what the rest of the suite does with it ───────────────────────────────────────────────────
@pytest.fixture
def coin_study(tmp_path):
    (tmp_path / "studies").mkdir()
    path = tmp_path / "studies" / "coins.yaml"
    path.write_text(yaml.safe_dump({"kind": "coin", "flips": 20, "seeds": 4}))
    return tmp_path


def cli(root: Path, *args: str) -> int:
    return main([*args, "--studies", str(root / "studies"), "--results", str(root / "results")])


def test_a_new_kind_checks_runs_and_reports_through_the_same_cli(coin_study, capsys):
    assert cli(coin_study, "check", "coins") == 0
    assert "4 trials" in capsys.readouterr().out
    assert cli(coin_study, "run", "coins", "--no-progress") == 0
    assert "4 ok" in capsys.readouterr().out
    folder = coin_study / "results" / "coins"
    assert json.loads((folder / "study.json").read_text())["kind"] == "coin"
    assert cli(coin_study, "run", "coins", "--no-progress") == 0  # found by key: nothing reruns
    assert "4 cached" in capsys.readouterr().out
    assert cli(coin_study, "report", "coins") == 0
    report = (folder / "report.md").read_text()
    assert "4 trials: 4 ok" in report and "heads" in report


def test_a_new_kinds_schema_errors_and_overrides_come_from_its_sections(coin_study, capsys):
    assert cli(coin_study, "check", "coins", "flipz=3") == 2
    assert "'flipz' is not a key of the study" in capsys.readouterr().err
    path = coin_study / "studies" / "coins.yaml"
    path.write_text(yaml.safe_dump({"kind": "coin", "flips": 0}))
    with pytest.raises(StudyError, match=r"coins.yaml: flips: Input should be greater than or equal to 1"):
        kinds.load_study(path)


def test_an_unknown_kind_is_named_with_the_valid_ones(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("kind: kernals\n")
    with pytest.raises(StudyError, match=r"kind: 'kernals' is not a study kind; valid: .*kernels.*train"):
        kinds.load_study(path)


def test_a_kind_is_named_in_one_table_that_loader_pool_report_and_layers_read():
    from test_imports import LAYERS  # tests/ is on the path (pytest prepends it)

    from suite import report

    layer = dict(LAYERS)["study kinds"]
    for name, kind in kinds.BUILTINS.items():
        assert kinds.BUILTIN[name] == kind.module and kind.module in kind.modules
        assert set(kind.modules) <= set(layer) and set(kind.run) <= set(kinds.RUN_MODULES)
        assert report.writer(name) == (kind.report or report.GENERIC)
    assert report.writer("coin") == report.GENERIC  # registered in the test, with no writer of its own
    CoinKind.report = "suite.report.generic:write_generic_report"  # a plugin names its own
    try:
        assert report.writer("coin") == CoinKind.report
    finally:
        del CoinKind.report
