"""What every study file shares, whatever its kind: safe YAML, one-line errors that name the
file, key and value, and the checks (devices, size) common to all kinds.

The kinds themselves (`suite.study` for training, `suite.kernels.study` for kernel
benchmarks) validate their own sections with pydantic and report through `format_validation`.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ValidationError

DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")
MAX_TRIALS = 100_000  # a study larger than this is refused before it is expanded ($ABLATE_MAX_TRIALS)
MAX_TRIALS_ENV = "ABLATE_MAX_TRIALS"
MAX_YAML_NODES = 100_000  # YAML aliases may not expand a study file past this many nodes
# No whole number in a study exceeds this (seeds go up to 2**32 - 1): larger ones would overflow
# torch's C sizes (ssize_t) deep in a trial instead of being named here.
MAX_INT = 2**32 - 1


class StudyError(ValueError):
    """A study that cannot run; the message names the file, key path and value."""


def check_devices(devices: list[str]) -> list[str]:
    """A study's device list: at least one, each cpu, cuda, cuda:N or mps, none twice."""
    for i, d in enumerate(devices):
        if not DEVICE_PATTERN.match(d):
            raise ValueError(f"device {d!r} is not one of cpu, cuda, cuda:N, mps")
        if d in devices[:i]:
            raise ValueError(f"device {d!r} is listed twice; each device's trials run once")
    if not devices:
        raise ValueError("list at least one device")
    return devices


Devices = Annotated[list[str], AfterValidator(check_devices)]  # a study's `devices:`


def read_study_file(path: Path) -> dict[str, Any]:
    """A study file's YAML mapping, loaded safely and not yet validated."""
    try:
        raw = load_yaml(path.read_text(), path)
    except FileNotFoundError:
        raise StudyError(f"{path}: no such study file") from None
    except UnicodeDecodeError:
        raise StudyError(f"{path}: not a text file (not UTF-8)") from None
    except yaml.YAMLError as err:
        raise StudyError(f"{path}: not valid YAML: {yaml_problem(err)}") from None
    if not isinstance(raw, dict):
        raise StudyError(f"{path}: a study must be a YAML mapping of keys, got {type(raw).__name__}")
    return raw


def yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's error in one line: what is wrong, and where (its own message spans several)."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def load_yaml(text: str, path: Path):
    """Safe YAML whose aliases cannot expand past MAX_YAML_NODES (an alias bomb is refused
    before it is built, where expanding it would take minutes and gigabytes)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > MAX_YAML_NODES:
            raise StudyError(
                f"{path}: its YAML aliases (*name) expand to more than {MAX_YAML_NODES:,} values; "
                "write the study out without nested aliases"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_size(node, memo: dict[int, int]) -> int:
    """Values a YAML node stands for once every alias is expanded (shared nodes counted each time)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a node that contains itself (a cycle) counts once
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[id(node)] = min(size, MAX_YAML_NODES + 1)
    return memo[id(node)]


def check_numbers(raw: Any, path: Path, at: str = "") -> None:
    """Refuse, naming the key, a number no machine could run: a whole number beyond MAX_INT or a
    float that is not finite (.inf as .nan). Every kind's mapping passes here before its schema."""
    if isinstance(raw, dict):
        for key, value in raw.items():
            check_numbers(value, path, f"{at}.{key}" if at else str(key))
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            check_numbers(value, path, f"{at}[{i}]")
    elif isinstance(raw, bool):
        return
    elif isinstance(raw, int) and abs(raw) > MAX_INT:
        raise StudyError(
            f"{path}: {at or 'value'}: {raw} is beyond what any machine could run "
            f"(whole numbers here are at most {MAX_INT:,})"
        )
    elif isinstance(raw, float) and not math.isfinite(raw):
        raise StudyError(f"{path}: {at or 'value'}: must be a finite number (got {raw})")


def max_trials() -> int:
    value = os.environ.get(MAX_TRIALS_ENV)
    try:
        return int(value) if value else MAX_TRIALS
    except ValueError:
        raise StudyError(f"${MAX_TRIALS_ENV}={value!r}: must be a whole number") from None


def format_validation(
    path: Path, err: ValidationError, sections: dict[tuple, type[BaseModel]], at: tuple = ()
) -> str:
    """pydantic's errors as one line each: file, key path, what is wrong, what is allowed.
    `sections` maps a key path (without list indices) to the schema that holds its keys; `at` is
    where in the file the validated mapping sits (a variant's own `training:`), () for the whole."""
    lines = []
    for e in err.errors():
        loc = (*at, *e["loc"])
        where = f"{path}: {key_path(loc)}" if key_path(loc) else str(path)  # a whole-file check: no key
        if e["type"] == "extra_forbidden":
            section = sections.get(tuple(p for p in loc[:-1] if isinstance(p, str)))
            allowed = f"; allowed keys: {', '.join(section.model_fields)}" if section else ""
            hint = did_you_mean(str(loc[-1]), list(section.model_fields)) if section else ""
            lines.append(f"{where}: unknown key{allowed}{hint}")
        elif e["type"] == "missing" or isinstance(e.get("input"), dict):  # the whole mapping: not shown
            lines.append(f"{where}: {_message(e)}")
        else:
            lines.append(f"{where}: {_message(e)} (got {e.get('input')!r})")
    return "\n".join(dict.fromkeys(lines))


def _message(error: dict) -> str:
    """pydantic's message, without the "Value error, " it puts before our validators' own words."""
    return error["msg"].removeprefix("Value error, ")


def did_you_mean(name: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=3, cutoff=0.6)
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""


def key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "int", "list[int]", "dict[str,any]") or "[" in str(part):
            continue  # pydantic's union-branch labels, not keys in the file
        else:
            out += f".{part}" if out else str(part)
    return out
