"""The report of a study kind that has no writer of its own: what ran, and how it ended."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from suite.report.tables import provenance_line
from suite.store import Store

SKIP = ("key", "study", "config", "error", "log")  # columns too long or too internal for a table


def write_generic_report(results_dir: str | Path) -> Path:
    store = Store(Path(results_dir))
    meta, runs = store.meta(), store.runs()
    lines = [f"# {meta.get('name', store.dir.name)}", ""]
    if meta.get("description"):
        lines += [f"**Question.** {meta['description'].strip()}", ""]
    counts = runs["status"].value_counts().to_dict() if len(runs) else {}
    lines += [f"{len(runs)} trials: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ".", ""]
    if len(runs):
        shown = runs[[c for c in runs.columns if c not in SKIP]]
        lines += ["## Results", "", tabulate(shown, headers="keys", tablefmt="github", showindex=False), ""]
        lines += ["## Provenance", "", provenance_line(runs), ""]
    path = store.dir / "report.md"
    path.write_text("\n".join(lines))
    return path
