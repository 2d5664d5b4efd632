"""A trial's selected weights as a safetensors file, with what rebuilds its model in the file's metadata.

`measure.checkpoint: true` keeps them: results/<study>/checkpoints/<trial key>.safetensors. The
format holds tensors and a string→string header only, so reading one never runs code (no pickle);
the header's "ablate" entry is JSON: the model's configuration, the dataset's name and parameters,
its shapes and task, the trial's variant and seed. `ablate predict` and `ablate sample` rebuild the
model from it through the variant registry, so a checkpoint needs no study file to be used.

A tied tensor (a language model's head sharing the embedding's matrix) is stored once, under its
first name; the others are listed in the header and filled by the module's own tie on load.
Written whole or not at all (temporary file, fsync, rename); `problem` reads only the header and
checks that the file is as long as its header says, so a truncated copy is found without loading it.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

from suite.lazy import lazy_import

torch = lazy_import("torch")

FOLDER = "checkpoints"
SUFFIX = ".safetensors"
FORMAT = 1  # bump when the header's meaning changes
HEADER_KEY = "ablate"
MAX_HEADER = 100 * 2**20  # safetensors' own limit on the JSON header


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message is one line naming the file."""


def path_for(study_dir: str | os.PathLike, key: str) -> Path:
    return Path(study_dir) / FOLDER / f"{key}{SUFFIX}"


def encode(model, meta: dict[str, Any]) -> bytes:
    """The model's weights (on the CPU, each tensor once) and `meta` as safetensors bytes."""
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    seen: dict[tuple, str] = {}
    tied: dict[str, str] = {}
    for name, tensor in model.state_dict().items():
        where = (tensor.device, tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tensor.shape)
        if where in seen:
            tied[name] = seen[where]
            continue
        seen[where] = name
        tensors[name] = tensor.detach().to("cpu").contiguous()
    header = {"format": FORMAT, **meta, "tied": tied}
    return save(tensors, metadata={HEADER_KEY: json.dumps(header, sort_keys=True)})


def write(path: str | os.PathLike, payload: bytes) -> None:
    """Put `payload` at `path` atomically: a reader sees the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _header(path: Path) -> dict:
    """The safetensors JSON header, checked against the file's length; CheckpointError if damaged."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{path}: damaged checkpoint (only {size} bytes)")
            (length,) = struct.unpack("<Q", head)
            if length > MAX_HEADER or 8 + length > size:
                raise CheckpointError(
                    f"{path}: damaged checkpoint (its header runs past the end of the file)"
                )
            header = json.loads(handle.read(length))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{path}: damaged checkpoint (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: damaged checkpoint (its header is not a table of tensors)")
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
    if 8 + length + max(ends, default=0) != size:
        raise CheckpointError(
            f"{path}: damaged checkpoint ({size} bytes, its header describes {8 + length + max(ends, default=0)})"
        )
    return header


def problem(path: str | os.PathLike) -> str | None:
    """Why the file at `path` is not a usable checkpoint (missing, damaged), or None."""
    path = Path(path)
    if not path.is_file():
        return f"{path}: no checkpoint"
    try:
        meta_of(_header(path), path)
    except CheckpointError as err:
        return str(err)
    except (OSError, KeyError, TypeError, IndexError) as err:
        return f"{path}: damaged checkpoint ({type(err).__name__}: {err})"
    return None


def meta_of(header: dict, path: Path) -> dict:
    raw = (header.get("__metadata__") or {}).get(HEADER_KEY)
    if raw is None:
        raise CheckpointError(f"{path}: not an ablate checkpoint (no {HEADER_KEY!r} entry in its metadata)")
    meta = json.loads(raw)
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: checkpoint format {meta.get('format')!r}; this ablate reads format {FORMAT}"
        )
    return meta


def read(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, meta) of a checkpoint; CheckpointError (one line) if it is missing or damaged."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    reason = problem(path)
    if reason:
        raise CheckpointError(reason)
    meta = meta_of(_header(path), path)
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: damaged checkpoint ({err})") from None
    return tensors, meta


def load_into(model, tensors: dict[str, torch.Tensor], meta: dict, path: str | os.PathLike = "") -> None:
    """Copy the weights into a freshly built model of the stored configuration; every tensor the
    model has must be there (or be tied to one that is), and of its shape."""
    tied = set(meta.get("tied", {}))
    try:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except RuntimeError as err:  # a shape that differs
        first = str(err).strip().splitlines()[-1].strip()
        raise CheckpointError(f"{path}: does not fit the model its configuration builds ({first})") from None
    missing = [k for k in missing if k not in tied]
    if missing or unexpected:
        what = f"lacks {missing[0]}" if missing else f"has {unexpected[0]}, which the model has not"
        raise CheckpointError(f"{path}: does not fit the model its configuration builds (it {what})")
