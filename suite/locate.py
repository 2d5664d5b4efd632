"""What a command's STUDY argument names: one rule for `run`, `check`, `report`, `doctor`, `export`
and `compare`.

STUDY is a study name (looked up as `suite.paths` says), a path to a study's YAML file, or a
results folder (one holding runs.parquet, study.json or fragments). A command that runs or
checks needs the YAML: a results folder leads to the file of the study it holds, with the
overrides it was run with. A command that reads results needs the folder: a name or a YAML
file leads to `<results>/<its name>`. Anything else gets the same one line from every command,
saying what the path is (a folder, a symlink loop, a FIFO, a link to /dev/zero...), without
opening it: reading a FIFO or a device would hang or never end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from suite import paths
from suite.paths import what_is
from suite.spec import StudyError

RULE = "STUDY is a study name (`ablate list studies`), a path to a .yaml file, or a results folder"
RESULT_FILES = ("runs.parquet", "study.json", ".fragments")
SEPARATOR = "+"  # a results folder of an overridden study: <study>+<hash of the overrides>


def is_results_folder(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in RESULT_FILES)


def _not_a_study(text: str, studies: Path | None) -> StudyError:
    listing = ", ".join(paths.find_all(studies)) or "none"
    return StudyError(f"{text}: {what_is(Path(text).expanduser())}; {RULE} (available studies: {listing})")


def _yaml_file(text: str) -> Path | None:
    """The study file a path names, if it is a regular file (a link to one included); else None."""
    path = Path(text).expanduser()
    return path if path.is_file() else None


def study_file(text: str, studies: Path | None = None) -> tuple[Path, dict[str, Any], Path | None]:
    """For `run` and `check`: the study's YAML file, the overrides a results folder was run with
    ({} otherwise), and that folder's parent (where its results go), or None."""
    path = Path(text).expanduser()
    if is_results_folder(path):
        meta = _meta(path)
        name = str(meta.get("name") or path.name).split(SEPARATOR)[0]
        overrides = meta.get("overrides") or {}
        return paths.resolve_study(name, studies), dict(overrides), path.parent
    if paths.looks_like_path(text) or path.is_symlink() or (path.exists() and not path.is_file()):
        found = _yaml_file(text)
        if found is None:
            raise _not_a_study(text, studies)
        return found, {}, None
    return paths.resolve_study(text, studies), {}, None


def results_folder(text: str, results: Path, studies: Path | None = None) -> Path:
    """For `report`, `doctor`, `export` and `compare`: the results folder STUDY names."""
    path = Path(text).expanduser()
    if is_results_folder(path):
        return path
    if paths.looks_like_path(text) or path.is_symlink() or (path.exists() and not path.is_file()):
        found = _yaml_file(text)
        if found is None:
            raise _not_a_study(text, studies)
        return _existing(results / found.stem, found.stem, text, results)
    if (results / text).is_dir():
        return results / text
    if SEPARATOR not in text:
        paths.resolve_study(text, studies)  # an unknown name: the list, with close matches
    return _existing(results / text, text, text, results)


def _existing(folder: Path, name: str, given: str, results: Path) -> Path:
    if folder.is_dir():
        return folder
    raise StudyError(f"no results of {name!r} in {results} yet: `ablate run {given}` first ({RULE})")


def _meta(folder: Path) -> dict:
    try:
        meta = json.loads((folder / "study.json").read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}
