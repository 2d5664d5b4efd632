"""Reports: a study's results folder → report.md and figures.

A report reads only what the store wrote under results/<study>/ (runs, history,
artifacts, predictions, study.json); it never reaches back into the study spec, a
model or the runner. Each study kind has its writer, chosen by the `kind` its meta
records (suite.kinds); a kind without one gets the generic status table.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from suite.store import Store

# study kind → "module:function" writing its report (imported when used)
WRITERS = {
    "train": "suite.report.training:write_training_report",
    "kernels": "suite.report.kernels:write_kernels_report",
}


def write_report(results_dir: str | Path) -> Path:
    """Write report.md (and figures) for the study whose results are in results_dir."""
    results_dir = Path(results_dir)
    kind = Store(results_dir).meta().get("kind", "train")
    module, _, function = WRITERS.get(kind, "suite.report.generic:write_generic_report").partition(":")
    return getattr(importlib.import_module(module), function)(results_dir)
