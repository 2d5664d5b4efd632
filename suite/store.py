"""Result tables of one study: `runs.parquet` (a row per trial) and `history.parquet` (curves).

Every write replaces a whole file atomically (write a temporary file, fsync,
rename), history before runs, so a study killed at any moment leaves readable
tables; a trial whose run row is missing is simply run again, and its stale
history rows are replaced, never duplicated. One writer at a time: a lock file
held with flock, released by the kernel even after kill -9.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

RUNS = "runs.parquet"
HISTORY = "history.parquet"
ARTIFACTS = "artifacts.parquet"  # position tables and attention weights, see suite.artifacts
PREDICTIONS = "predictions.parquet"  # per-example eval predictions, see suite.artifacts.predictions
META = "study.json"
FINISHED = ("ok", "diverged")  # failed and skipped trials are tried again on a rerun


class StoreLocked(RuntimeError):
    pass


class Store:
    def __init__(self, directory: str | Path):
        self.dir = Path(directory)

    @property
    def runs_path(self) -> Path:
        return self.dir / RUNS

    @property
    def history_path(self) -> Path:
        return self.dir / HISTORY

    @contextmanager
    def lock(self):
        """Hold the study's write lock, or refuse at once if another run holds it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / ".lock"
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise StoreLocked(
                    f"{self.dir} is being written by {holder}; wait for that run to finish "
                    "(two runs of one study at once would race for the same rows)"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            try:
                yield self
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def runs(self) -> pd.DataFrame:
        return pd.read_parquet(self.runs_path) if self.runs_path.exists() else pd.DataFrame()

    def history(self) -> pd.DataFrame:
        return pd.read_parquet(self.history_path) if self.history_path.exists() else pd.DataFrame()

    @property
    def artifacts_path(self) -> Path:
        return self.dir / ARTIFACTS

    def artifacts(self) -> pd.DataFrame:
        return pd.read_parquet(self.artifacts_path) if self.artifacts_path.exists() else pd.DataFrame()

    @property
    def predictions_path(self) -> Path:
        return self.dir / PREDICTIONS

    def predictions(self) -> pd.DataFrame:
        path = self.predictions_path
        return pd.read_parquet(path) if path.exists() else pd.DataFrame()

    def finished_keys(self) -> set[str]:
        runs = self.runs()
        if runs.empty:
            return set()
        return set(runs.loc[runs["status"].isin(FINISHED), "key"])

    def write(self, row: dict, history: list[dict], artifacts: list[dict] | None = None) -> None:
        """Keep one trial's result, replacing any earlier result of the same trial."""
        self.write_many([(row, history, artifacts or [])])

    def write_many(self, results: list[tuple]) -> None:
        """Keep several trials' results (row, history, artifacts[, predictions]) with one atomic
        replace per table, so a unit of many trials costs one rewrite, not many."""
        if not results:
            return
        keys = {result[0]["key"] for result in results}
        self.dir.mkdir(parents=True, exist_ok=True)
        for path, read, index in (
            (self.predictions_path, self.predictions, 3),
            (self.artifacts_path, self.artifacts, 2),
            (self.history_path, self.history, 1),
        ):
            new = [r for result in results if len(result) > index for r in result[index]]
            if new or path.exists():
                self._replace(path, read(), keys, pd.DataFrame(new) if new else None)
        self._replace(self.runs_path, self.runs(), keys, pd.DataFrame([result[0] for result in results]))

    def write_meta(self, meta: dict) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        _atomic_write_bytes(self.dir / META, json.dumps(meta, indent=2, sort_keys=True).encode())

    def meta(self) -> dict:
        path = self.dir / META
        return json.loads(path.read_text()) if path.exists() else {}

    def _replace(self, path: Path, table: pd.DataFrame, keys: set[str], new: pd.DataFrame | None) -> None:
        if not table.empty:
            table = table[~table["key"].isin(keys)]
        parts = [t for t in (table, new) if t is not None and not t.empty]
        merged = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"key": []})
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        merged.to_parquet(tmp, index=False)
        _fsync_and_rename(tmp, path)


def _atomic_write_bytes(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(payload)
    _fsync_and_rename(tmp, path)


def _fsync_and_rename(tmp: Path, path: Path) -> None:
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
