"""Trial identity: which resolved fields make a trial's key, decided here and nowhere else.

A trial's key is a hash of the canonical JSON of its identity. Results are stored and
found by key, so the rule must keep the keys of committed results while the schemas grow:

1. How a trial runs is not what it computes: the study kind leaves out executor, threads,
   vectorization and the study's name before calling `identity`.
2. A field a section has always keyed (its `baseline`: the fields it had when its first
   results were committed) is keyed at every value.
3. Any later field is keyed only away from its schema default: adding a knob never
   changes an existing key, and setting it always does.
4. A location (a path or folder, marked `Location` in a dataset's signature) is keyed as
   null: moving data never reruns a study. What a `content` location holds is keyed
   instead, by a fingerprint of its bytes; a `cache` location holds downloads whose
   checksums the code pins, so it adds nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

MISSING = object()


@dataclass(frozen=True)
class Location:
    """Marks a parameter as a place on disk (`Annotated[str | None, Location("content")]`)."""

    holds: Literal["content", "cache"]


def key(identity_: Mapping[str, Any]) -> str:
    """A trial's key: a hash of the canonical JSON of its identity."""
    canonical = json.dumps(identity_, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def at_default(value: Any, default: Any) -> bool:
    """Equal to the default and of its type (0 is not the default 0.0, nor False 0)."""
    return default is not MISSING and value == default and type(value) is type(default)


def section(
    values: Mapping[str, Any],
    defaults: Mapping[str, Any],
    baseline: Iterable[str] = (),
    locations: Mapping[str, Location] | None = None,
) -> dict[str, Any]:
    """One section's keyed fields (rules 2 to 4): `defaults` are the schema's, `baseline` the
    fields keyed at every value, `locations` the fields that name a place on disk."""
    baseline, locations = set(baseline), locations or {}
    out = {}
    for name, value in values.items():
        if name in locations:
            continue
        if name in baseline or not at_default(value, defaults.get(name, MISSING)):
            out[name] = value
    for name, where in locations.items():
        if name not in values:
            continue
        out[name] = None  # keyed as null, as committed results have it
        if where.holds == "content" and values[name] is not None:
            out[f"{name}_content"] = fingerprint(values[name])
    return out


def fingerprint(path: str | os.PathLike) -> str:
    """sha256 of what a file holds, or of a folder's files (relative names and bytes)."""
    path = Path(path).expanduser()
    if not path.exists():
        return "missing"  # the trial is skipped and says why; a later copy gets its own key
    stat = path.stat()
    return _fingerprint(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _fingerprint(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    for file in files:
        if root.is_dir():
            digest.update(str(file.relative_to(root)).encode())
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
