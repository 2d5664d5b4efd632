"""The training study kind: load a training study (suite.study), expand its tuning (suite.tune),
and hand its units to suite.train_run, imported when a unit is first planned or run: loading,
listing and checking training studies need no torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from suite import models, study, tune
from suite.kinds import TrialResult, register_kind
from suite.study import Trial


@register_kind("train")
class TrainKind:
    """Training studies (suite.study), run by suite.train_run. Methods look its functions up when
    called, so a benchmark may wrap them (suite.bench.scale)."""

    @property
    def sections(self) -> dict[tuple, Any]:
        """Key path → its schema, the names a free mapping takes, or None (any key): for overrides.
        Read when asked, so an encoder registered later (a plugin) brings its knobs."""
        return {
            **study.SECTIONS,
            ("model",): models.config.field_names(),
            # an axis: a model or training knob, or a section whose keys the study's schema checks
            ("grid",): [*study.GRID_SECTIONS, *study.grid_knobs("model"), *study.grid_knobs("training")],
            (
                "tune",
                "grid",
            ): None,  # knob → values: its keys are checked where the grid is (study.check_grid)
            ("min_effect",): None,
        }

    def load(self, raw: dict[str, Any], path: Path, name: str, **options: Any) -> study.Study:
        loaded = study.load(raw, path, name, **options)
        if loaded.spec.tune is not None:  # its plan's trials replace the untuned; tuning adds the chosen ones
            loaded.tuning = tune.expand(loaded.spec.tune, loaded.untuned, loaded.own_tune, loaded.seeds, path)
        return loaded

    def run_passes(self, loaded: study.Study, store, run_pass) -> dict[str, int]:
        return run_pass() if loaded.tuning is None else tune.run(loaded, store, run_pass)

    def pending(self, loaded: study.Study, store) -> str:
        if loaded.tuning is None:
            return ""
        tune.resolve(loaded, store)
        return tune.pending_note(loaded)

    def plan(self, trials: list[Trial]) -> list[list[Trial]]:
        from suite import train_run

        return train_run.plan(trials)

    def run_unit(self, unit: list[Trial]) -> list[TrialResult]:
        from suite import train_run

        return train_run.run_unit(unit)
