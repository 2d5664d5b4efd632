"""Reports: a study's results folder → report.md and figures.

A report reads only what the store wrote under results/<study>/ (runs, history,
artifacts, predictions, study.json); it never reaches back into the study spec, a
model or the runner. Each study kind has its writer, chosen by the `kind` its meta
records (suite.kinds); a kind without one gets the generic status table.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from suite import kinds
from suite.store import Store

GENERIC = "suite.report.generic:write_generic_report"
# study kind → "module:function" writing its report (imported when used), from the kinds' one table
WRITERS = {name: kind.report for name, kind in kinds.BUILTINS.items() if kind.report}


def writer(kind: str) -> str:
    """A built-in kind's writer, a registered kind's own `report` (a plugin), or the generic table."""
    if kind in WRITERS:
        return WRITERS[kind]
    own = getattr(kinds.REGISTRY.create(kind), "report", None) if kind in kinds.REGISTRY else None
    return own if isinstance(own, str) else GENERIC


def write_report(results_dir: str | Path) -> Path:
    """Write report.md (and figures) for the study whose results are in results_dir."""
    results_dir = Path(results_dir)
    kind = Store(results_dir).meta().get("kind", "train")
    module, _, function = writer(kind).partition(":")
    return getattr(importlib.import_module(module), function)(results_dir)
