"""Command-line overrides of a study: `ablate run STUDY training.lr=0.1 grid.dim=[16,32] --seeds 5`,
or a sweep reported as a factorial: `ablate run STUDY grid.training.lr=[1e-3,3e-3,1e-2]`.

An override sets one key path of the study's YAML mapping; its value is read as YAML
(`0.1` a float, `[16, 32]` a list, `null` None). The changed mapping is validated by the
same schema as the file, so a bad value gets the same message, plus the overrides that
were applied. An overridden study is its own study: its name (and results folder) is the
file's name plus a hash of the overrides, so variations never mix with the study's own results.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from suite.spec import yaml_problem

SEPARATOR = "+"  # results/<study>+<hash of the overrides>
# Overrides of what a run keeps, not of what it computes: they leave the results folder as it is, so
# `ablate run STUDY measure.checkpoint=true` adds checkpoints to the study's own trials.
UNNAMED = ("measure.checkpoint",)


class OverrideError(ValueError):
    """An override that cannot be applied; the message names it and what is allowed."""


def parse(items: list[str], seeds: int | None = None) -> dict[str, Any]:
    """`key.path=value` strings (and --seeds) as {key path: value}, in the order given."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise OverrideError(f"override {item!r}: write KEY.PATH=VALUE, e.g. training.lr=0.01 or seeds=5")
        try:
            out[key] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as err:
            raise OverrideError(
                f"override {item!r}: the value is not valid YAML: {yaml_problem(err)}"
            ) from None
    if seeds is not None:
        out["seeds"] = seeds
    return out


def apply(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of the study mapping `raw` with each key path set; unknown keys answered with close matches."""
    out = copy.deepcopy(raw)
    for key, value in overrides.items():
        _check_key(key, out)
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise OverrideError(
                    f"override {key}: {part!r} holds {type(child).__name__}, not a mapping of keys"
                )
            node = child
        node[parts[-1]] = value
    return out


def _check_key(key: str, raw: dict[str, Any]) -> None:
    """Refuse a key the schema does not know, naming the closest ones; values are left to the schema."""
    from suite import kinds
    from suite.spec import StudyError

    try:
        sections = kinds.kind_of(raw, Path("study")).sections
    except StudyError:
        return  # an unknown kind: loading the study says so
    parts = key.split(".")
    for depth, part in enumerate(parts):
        section = sections[tuple(parts[:depth])]
        if section is None:
            return  # a mapping of any keys (a metric name): the schema's validator checks it
        where = ".".join(parts[:depth]) or "the study"
        if isinstance(section, list):  # the names of a free mapping (model parameters)
            _known(key, part, section, f"a key of {where}")
            return
        _known(key, part, list(section.model_fields), f"a key of {where}")
        if depth < len(parts) - 1 and tuple(parts[: depth + 1]) not in sections:
            raise OverrideError(
                f"override {key}: {'.'.join(parts[: depth + 1])} is not a section of keys; "
                f"set it whole, e.g. {'.'.join(parts[: depth + 1])}=<a YAML value>"
            )


def _known(key: str, name: str, allowed: list[str], what: str) -> None:
    if name in allowed:
        return
    close = difflib.get_close_matches(name, allowed, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
    raise OverrideError(f"override {key}: {name!r} is not {what}; {hint}allowed: {', '.join(allowed)}")


def suffix(overrides: dict[str, Any]) -> str:
    """A short, stable hash of the overrides: the same overrides give the same results folder."""
    canonical = json.dumps(overrides, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


def describe(overrides: dict[str, Any]) -> str:
    return " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in overrides.items())


def load(path: str | Path, overrides: dict[str, Any], *, vectorize: bool | None = None):
    """Load the study at `path` with `overrides` applied; without overrides this is `load_study`."""
    from suite.kinds import load_study, study_from_mapping
    from suite.spec import StudyError, read_study_file

    if not overrides:
        return load_study(path, vectorize=vectorize)
    path = Path(path)
    raw = read_study_file(path)
    try:
        changed = apply(raw, overrides)
    except OverrideError as err:
        raise StudyError(f"{path}: {err}") from None
    named = {k: v for k, v in overrides.items() if k not in UNNAMED}
    name = f"{path.stem}{SEPARATOR}{suffix(named)}" if named else path.stem
    try:
        study = study_from_mapping(changed, path, name, vectorize=vectorize)
    except StudyError as err:
        raise StudyError(f"{err} (with the overrides {describe(overrides)})") from None
    study.overrides = dict(overrides)
    return study
