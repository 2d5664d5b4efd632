"""`ablate results [STUDY]`: what the results folder holds, one line per study folder.

An overridden run lands in `results/<study>+<hash>` (suite.overrides); this listing is where a
researcher finds it again: its study, the overrides it ran with, how many of its trials are
done and in what state, and when they ran. It reads each folder's `study.json` and run table
only (suite.store), never a study file, so a folder whose study was since edited still lists.
"""

from __future__ import annotations

from pathlib import Path

from suite.overrides import SEPARATOR, describe
from suite.store import Store, StoreError


def folders(results_dir: Path, study: str | None = None) -> list[dict]:
    """One entry per results folder (those of `study` and its variations, if given), by name."""
    out = []
    for folder in (
        sorted(p for p in Path(results_dir).iterdir() if p.is_dir()) if Path(results_dir).is_dir() else []
    ):
        base = folder.name.split(SEPARATOR)[0]
        if study is not None and study not in (base, folder.name):
            continue
        if not (folder / "study.json").exists() and not (folder / "runs.parquet").exists():
            continue  # not a study's folder (figures, a user's own files)
        out.append({"folder": folder.name, "study": base, **_describe(Store(folder))})
    return out


def _describe(store: Store) -> dict:
    try:
        meta = store.meta()
        runs = store.runs()
    except (StoreError, OSError) as err:
        return {"overrides": "", "trials": "", "status": f"unreadable: {err}", "ran": ""}
    keys = meta.get("keys") or []
    if not runs.empty and keys:
        runs = runs[runs["key"].isin(keys)]
    counts = runs["status"].value_counts().to_dict() if "status" in runs else {}
    done = sum(counts.get(s, 0) for s in ("ok", "diverged"))
    expected = len(keys) or len(runs)
    states = [f"{counts[s]} {s}" for s in ("diverged", "failed", "skipped") if counts.get(s)]
    if expected > len(runs):
        states.append(f"{expected - len(runs)} not run")
    status = "empty" if not expected else ("complete" if done == expected else "")
    status = ", ".join(([status] if status else []) + states)
    times = runs["measured_at"].dropna().astype(str) if "measured_at" in runs else []
    ran = f"{min(times)[:16]} … {max(times)[:16]}".replace("T", " ") if len(times) else ""
    return {
        "overrides": describe(meta.get("overrides") or {}),
        "trials": f"{done}/{expected}",
        "status": status,
        "ran": ran,
    }


def listing(results_dir: Path, study: str | None = None) -> str:
    """The folders as a table, or a line saying there are none."""
    from tabulate import tabulate

    rows = folders(results_dir, study)
    if not rows:
        which = f" of study {study!r}" if study else ""
        return f"no results folders{which} under {results_dir}\n"
    headers = {
        "folder": "folder",
        "study": "study",
        "overrides": "overrides",
        "trials": "done",
        "status": "status",
        "ran": "ran (UTC)",
    }
    table = [[row[k] for k in headers] for row in rows]
    return tabulate(table, headers=list(headers.values()), tablefmt="simple") + "\n"
