"""Result tables of one study: `runs.parquet` (a row per trial), `history.parquet` (curves),
`artifacts.parquet`, and any other table the runner hands over, by name.

Append-only. Each unit of work is written once, as one fragment file under
`.fragments/` (`<number>.unit`: each table's rows of the unit as an Arrow IPC stream,
ten times cheaper to write and read than parquet at this size), under a temporary
name and then renamed, so a unit is there whole or not at all. A write costs the
same at trial 10 and at trial 10,000. The committed
`<table>.parquet` files are compacted from the fragments when the write lock is
released (the end of every run, interrupted or not) and on demand
(`ablate doctor --fix`): each compacted file is replaced atomically (temporary
file, fsync, rename), runs last, and the fragments are removed after.

Readers see the compacted tables plus the fragments: for each trial the latest
fragment that holds it wins, for every table (a rerun's fragment drops stale
history, never duplicates it). A study killed at any moment leaves readable
tables and loses only the units in flight. One writer at a time: a lock file
held with flock, released by the kernel even after kill -9; whoever takes the
lock removes what dead writers left (`*.tmp`).

Tables check themselves: every file written carries a schema version in its
parquet metadata; on open a table must be readable and hold its required
columns. A damaged one is moved aside to `.damaged/` by a writer (the trials it
held run again); an older one gets its missing columns as nulls.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import struct
import sys
import time
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from suite import checkpoints
from suite.kinds import FINISHED

RUNS = "runs.parquet"
HISTORY = "history.parquet"
ARTIFACTS = "artifacts.parquet"  # position tables and attention weights, see suite.artifacts
META = "study.json"
FRAGMENTS = ".fragments"
DAMAGED = ".damaged"

SCHEMA_VERSION = 1
SCHEMA_KEY = b"ablate.schema"
# Columns a table cannot do without (refused if missing) and columns an older table may lack
# (added as nulls: a run row without a status is run again; the report shows no value).
REQUIRED = {"runs": ("key",), "history": ("key",), "artifacts": ("key",), "predictions": ("key",)}
# Columns every row of a table written with a schema version has: a versioned table without them is
# not this table (a valid parquet file of the wrong columns counts as damaged, as a truncated one does).
WRITTEN = {"runs": ("status",)}
WRITTEN_TRAINING = {  # in a folder whose study.json says kind "train"
    "history": ("step", "split"),
    "artifacts": ("kind", "values"),
    "predictions": ("index", "correct", "p_true"),
}
KNOWN = ("runs", "history", "artifacts", "predictions")  # found by name; others by their schema key
EXPECTED = {"runs": ("status", "error")}
EXPECTED_TRAINING = {"runs": ("final_loss", "final_accuracy", "best_loss", "best_accuracy")}  # not kernels
# Positions of a (row, history, artifacts, ...) tuple handed to `write_many`.
TUPLE_TABLES = ("runs", "history", "artifacts", "predictions")
_FRAGMENT = re.compile(r"^(\d{20})\.unit$")
_UNIT_MAGIC = b"ABLATE-UNIT-1\n"  # then the header's length (8 bytes), a JSON header, the streams


class StoreLocked(RuntimeError):
    pass


class StoreError(RuntimeError):
    """A results folder that cannot be read or written as it is; the message says what to do."""


@dataclass
class Health:
    """What `Store.check` found: one line per problem, and what a repair did or would do."""

    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _View:
    fragments: dict[int, dict[str, pa.Table]]  # number → {table: its rows in that unit}
    winner: dict[str, int]  # trial key → the latest fragment holding it
    owned: dict[int, list[str] | None]  # number → the keys it still holds; None: all of its own


class Store:
    def __init__(self, directory: str | Path, *, notify=None):
        self.dir = Path(directory)
        self._seq: int | None = None  # the next fragment number this writer uses
        self._locked = False
        self.notify = notify or (lambda line: print(f"ablate: {line}", file=sys.stderr))

    # -- paths -----------------------------------------------------------------------------------

    @property
    def runs_path(self) -> Path:
        return self.dir / RUNS

    @property
    def history_path(self) -> Path:
        return self.dir / HISTORY

    @property
    def artifacts_path(self) -> Path:
        return self.dir / ARTIFACTS

    @property
    def fragments_dir(self) -> Path:
        return self.dir / FRAGMENTS

    # -- the lock --------------------------------------------------------------------------------

    @contextmanager
    def lock(self):
        """Hold the study's write lock, or refuse at once if another run holds it. On entry,
        remove what dead writers left and set damaged tables aside; on exit, compact."""
        self._writable()
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
            self._locked = True
            try:
                self._sweep()
                for line in self.check(fix=True).repaired:
                    self.notify(line)
                yield self
            finally:
                try:
                    self.compact()
                except OSError as err:  # fragments stay readable; the next run compacts them
                    self._sweep()
                    self.notify(f"could not compact {self.dir} ({err.strerror}); its fragments are kept")
                finally:
                    self._locked = False
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def _writable(self) -> None:
        """Create the folder, or say in one line why results cannot be written there."""
        for parent in [self.dir, *self.dir.parents]:
            if parent.exists():
                if not parent.is_dir():
                    raise StoreError(f"cannot write results to {self.dir}: {parent} is a file, not a folder")
                if not os.access(parent, os.W_OK | os.X_OK):
                    raise StoreError(
                        f"cannot write results to {self.dir}: {parent} is not writable by this user"
                    )
                break
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot write results to {self.dir}: {err.strerror}") from None

    def _sweep(self) -> None:
        """Remove temporary files: only a dead writer leaves them."""
        for folder in (self.dir, self.fragments_dir, self.dir / checkpoints.FOLDER):
            for tmp in folder.glob(".*.tmp") if folder.is_dir() else ():
                tmp.unlink(missing_ok=True)

    # -- reading ---------------------------------------------------------------------------------

    def table(self, name: str) -> pd.DataFrame:
        """One table as readers see it: the compacted file plus the committed fragments."""
        for _ in range(20):  # a compaction may remove fragments while they are read
            try:
                return self._read(name)
            except FileNotFoundError:
                time.sleep(0.05)
        return self._read(name)

    def runs(self) -> pd.DataFrame:
        """One row per trial key: a rerun's row replaces the earlier one."""
        return self.table("runs")

    def history(self) -> pd.DataFrame:
        return self.table("history")

    def artifacts(self) -> pd.DataFrame:
        return self.table("artifacts")

    def predictions(self) -> pd.DataFrame:
        return self.table("predictions")  # per-example eval predictions, see suite.artifacts.predictions

    def tables(self, view: _View | None = None) -> list[str]:
        """The names of the store's tables in the folder, compacted or in fragments. Other
        parquet files beside them (the speed gate's bench_history) are not the store's."""
        names = set(self._compacted_names())
        for unit in (view or self._view()).fragments.values():
            names.update(unit)
        return sorted(names)

    def _compacted_names(self) -> list[str]:
        names = {n for n in KNOWN if (self.dir / f"{n}.parquet").exists()}
        for path in self.dir.glob("*.parquet"):
            name = path.name[: -len(".parquet")]
            if name not in names and _has_schema_key(path):
                names.add(name)
        return sorted(names)

    def finished_keys(self, statuses: tuple[str, ...] = FINISHED) -> set[str]:
        runs = self.runs()
        if runs.empty:
            return set()
        return set(runs.loc[runs["status"].isin(statuses), "key"])

    # -- checkpoints (suite.checkpoints): one file per trial, beside the tables ------------------

    def checkpoint_path(self, key: str) -> Path:
        return checkpoints.path_for(self.dir, key)

    def write_checkpoint(self, key: str, payload: bytes) -> None:
        """Keep a trial's weights, replacing an earlier file of the same trial atomically."""
        checkpoints.write(self.checkpoint_path(key), payload)

    def lacking_checkpoints(self, keys: Iterable[str]) -> set[str]:
        """Of these trials, those that finished `ok` without a usable checkpoint (none, or a damaged
        one): a run that keeps checkpoints trains them again. A diverged trial keeps none."""
        ok = self.finished_keys(("ok",))
        return {k for k in keys if k in ok and checkpoints.problem(self.checkpoint_path(k))}

    def _read(self, name: str) -> pd.DataFrame:
        table = self._read_arrow(name)
        return pd.DataFrame() if table is None else table.to_pandas()

    def _read_arrow(self, name: str, view: _View | None = None) -> pa.Table | None:
        view = view or self._view()
        base = self._read_compacted(name)
        if not view.fragments:
            return base
        parts = [] if base is None else [_drop_keys(base, view.winner)]
        for seq, unit in sorted(view.fragments.items()):
            part = unit.get(name)
            if part is not None:
                owned = view.owned[seq]
                if owned is not None:  # a later fragment reran some of its trials
                    part = part.filter(pc.is_in(part["key"], pa.array(owned, pa.string())))
                parts.append(part)
        nonempty = [p for p in parts if p.num_rows]
        if not nonempty:
            return parts[0] if parts else None
        return _concat(nonempty)

    def _view(self) -> _View:
        """The committed fragments, and for each the trials it still holds (a later one wins)."""
        fragments = {seq: self._read_unit(path) for seq, path in sorted(self._fragment_files().items())}
        keys = {seq: unit["runs"]["key"].to_pylist() for seq, unit in fragments.items()}
        winner = {key: seq for seq, held in keys.items() for key in held}
        owned: dict[int, list[str] | None] = {}
        for seq, held in keys.items():
            mine = [k for k in held if winner[k] == seq]
            owned[seq] = None if len(mine) == len(held) else mine
        return _View(fragments, winner, owned)

    def _read_unit(self, path: Path) -> dict[str, pa.Table]:
        try:
            return _read_unit(path)
        except FileNotFoundError:
            raise
        except (pa.ArrowException, OSError, ValueError) as err:
            raise StoreError(
                f"{path} is damaged ({_why(err)}); run `ablate doctor {self.dir.name} --fix` "
                f"(or `ablate run {self.dir.name}`) to drop it and rerun its trials"
            ) from None

    def _read_compacted(self, name: str) -> pa.Table | None:
        """The compacted table, migrated to the current schema; a clear error if it is damaged."""
        path = self.dir / f"{name}.parquet"
        if not path.exists():
            return None
        table, problem = _load_checked(path, name, self._declared_training())
        if problem:
            raise StoreError(
                f"{path} is damaged ({problem}); run `ablate doctor {self.dir.name} --fix` "
                f"(or `ablate run {self.dir.name}`) to move it aside and rerun the trials it held"
            )
        return _migrate(table, self._expected(name))[0]

    def pending(self) -> int:
        """How many written units wait to be compacted."""
        return len(self._fragment_files())

    def _fragment_files(self) -> dict[int, Path]:
        """Fragment files by number."""
        if not self.fragments_dir.is_dir():
            return {}
        out = {}
        for entry in os.scandir(self.fragments_dir):
            match = _FRAGMENT.match(entry.name)
            if match:
                out[int(match[1])] = Path(entry.path)
        return out

    # -- writing ---------------------------------------------------------------------------------

    def write(self, row: dict, history: list[dict], artifacts: list[dict] | None = None, **tables) -> None:
        """Keep one trial's result, replacing any earlier result of the same trial."""
        self.write_many([{"runs": [row], "history": history, "artifacts": artifacts or [], **tables}])

    def write_many(self, results: Iterable[tuple | Mapping[str, list[dict] | dict]]) -> None:
        """Keep a unit's results as one fragment. Each result is a tuple (row, history,
        artifacts[, predictions]) or a mapping {table name: rows} with its run row under
        "runs"; any table name rides along. Earlier results of these trials, in every table,
        are replaced, never duplicated."""
        rows: dict[str, list[dict]] = {}
        for result in results:
            named = result if isinstance(result, Mapping) else dict(zip(TUPLE_TABLES, result, strict=False))
            for name, value in named.items():
                if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                    raise ValueError(f"table name {name!r}: letters, digits and _ only")
                rows.setdefault(name, []).extend([value] if isinstance(value, dict) else value or [])
        if not rows.get("runs"):
            return
        self.fragments_dir.mkdir(parents=True, exist_ok=True)
        tables = {name: _with_version(_to_arrow(r)) for name, r in rows.items() if r}
        path = self.fragments_dir / f"{self._next_seq():020d}.unit"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            _write_unit(tmp, tables)
            os.replace(tmp, path)  # not fsynced: see _write_file
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _next_seq(self) -> int:
        """Fragment numbers grow: above every fragment there when this writer began, and from the
        clock, so that two Store objects writing one folder (tests do) cannot collide."""
        if self._seq is None:
            self._seq = max(self._fragment_files(), default=0) + 1
        seq = max(self._seq, time.time_ns())
        self._seq = seq + 1
        return seq

    def compact(self) -> None:
        """Fold the fragments into the committed tables, runs last, then remove them. Killed at
        any point, readers still see the same rows: a fragment wins over the compacted file."""
        fragments = self._fragment_files()
        if not fragments:
            return
        view = self._view()
        names = [n for n in self.tables(view) if n != "runs"] + ["runs"]
        for name in names:
            table = self._read_arrow(name, view)
            if table is not None:
                self._write_file(self.dir / f"{name}.parquet", table)
        for seq in view.fragments:
            fragments[seq].unlink(missing_ok=True)
        self._seq = None

    def _write_file(self, path: Path, table: pa.Table) -> None:
        """Write a compacted table under a temporary name, fsync it, rename it: a reader or a
        kill -9 never meets half a file. (Fragments are not fsynced, which would cost most of a
        write on a busy disk: a killed process keeps what the kernel has, and a fragment lost to
        a power cut is found damaged on the next open and its trials run again.)"""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            _write_table(_with_version(table), tmp)
            _fsync_and_rename(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a full disk must not stay full of our temporary file
            raise

    def write_meta(self, meta: dict) -> None:
        self._writable()
        _atomic_write_bytes(self.dir / META, json.dumps(meta, indent=2, sort_keys=True).encode())

    def meta(self) -> dict:
        path = self.dir / META
        if not path.exists():
            return {}
        try:
            meta = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise StoreError(
                f"{path} is damaged ({err}); `ablate run {self.dir.name}` writes it again "
                "(finished trials are kept)"
            ) from None
        if not isinstance(meta, dict):
            raise StoreError(
                f"{path} is damaged (not a JSON object); `ablate run {self.dir.name}` writes it again"
            )
        return meta

    def _training(self) -> bool:
        """Whether the folder holds a training study (a damaged study.json: assumed so)."""
        try:
            return self.meta().get("kind", "train") == "train"
        except StoreError:
            return True

    def _declared_training(self) -> bool:
        """Whether study.json says the folder holds a training study (whose tables' columns are known)."""
        try:
            return self.meta().get("kind") == "train"
        except StoreError:
            return False

    def _expected(self, name: str) -> tuple[str, ...]:
        """Columns an older table of this name may lack (training metrics only in training studies)."""
        return EXPECTED.get(name, ()) + (EXPECTED_TRAINING.get(name, ()) if self._training() else ())

    # -- health ----------------------------------------------------------------------------------

    def check(self, fix: bool = False) -> Health:
        """Check every table; with `fix` (needs the lock), move damaged ones aside to `.damaged/`,
        drop the finished runs rows whose other tables were lost (they run again), migrate
        older schemas in place and remove leftovers of dead writers."""
        health = Health()
        if not self.dir.is_dir():
            health.problems.append(f"{self.dir}: no such results folder")
            return health
        if fix and not self._locked:
            raise RuntimeError("Store.check(fix=True) needs the write lock")
        strays = [p for d in (self.dir, self.fragments_dir) if d.is_dir() for p in d.glob(".*.tmp")]
        if strays:
            health.problems.append(f"{self.dir}: {len(strays)} temporary file(s) left by a writer that died")
            if fix:
                self._sweep()
                health.repaired.append(f"removed leftovers of a dead writer in {self.dir}")
        self._check_meta(health, fix)
        for _, path in sorted(self._fragment_files().items()):
            try:
                _read_unit(path)
            except (pa.ArrowException, OSError, ValueError) as err:
                health.problems.append(f"{path} is damaged: {_why(err)}")
                if fix:
                    path.unlink(missing_ok=True)
                    health.repaired.append(f"{path} was damaged; its unit's trials run again")
        lost: dict[str, set[str]] = {}  # damaged table → keys it still holds in fragments
        for name in self._compacted_names():
            path = self.dir / f"{name}.parquet"
            table, problem = _load_checked(path, name, self._declared_training())
            if problem:
                health.problems.append(f"{path} is damaged: {problem}")
                if fix:
                    moved = self._set_aside(path)
                    lost[name] = set()
                    health.repaired.append(f"{path} was damaged ({problem}); moved to {moved}")
                continue
            expected = self._expected(name)
            if not _any_finished(table):  # metrics exist only once a trial has finished
                expected = EXPECTED.get(name, ())
            migrated, added = _migrate(table, expected)
            if added:
                health.problems.append(f"{path}: older schema, lacks column(s) {', '.join(added)}")
                if fix:
                    self._write_file(path, migrated)
                    health.repaired.append(
                        f"{path}: older schema migrated: added column(s) {', '.join(added)} as nulls"
                        + ("; trials without a status run again" if "status" in added else "")
                    )
        if fix and lost and "runs" not in lost:
            self._drop_orphaned_runs(lost, health)
        self._check_checkpoints(health)
        return health

    def _check_checkpoints(self, health: Health) -> None:
        """The weights of each `ok` trial whose study keeps them (study.json's `checkpoints`), and every
        checkpoint file present: read by header and length only (suite.checkpoints.problem), never
        loaded. A damaged file is a line of its own; the missing ones are one line. No repair here:
        `ablate run` trains a trial lacking a usable checkpoint again and replaces the file."""
        try:
            wanted = self.meta().get("checkpoints") or []
            ok = self.finished_keys(("ok",)) if wanted else set()
        except (StoreError, pa.ArrowException, OSError, ValueError, KeyError):
            return  # a damaged study.json or runs table is reported above
        folder = self.dir / checkpoints.FOLDER
        present = {p.name.removesuffix(checkpoints.SUFFIX) for p in folder.glob(f"*{checkpoints.SUFFIX}")}
        again = f"`ablate run {self.dir.name}` trains it again"
        for key in sorted(present):
            reason = checkpoints.problem(self.checkpoint_path(key))
            if reason:
                health.problems.append(f"{reason}; {again}")
        missing = [k for k in wanted if k in ok and k not in present]
        if missing:
            first = self.checkpoint_path(missing[0])
            health.problems.append(
                f"{len(missing)} of {len([k for k in wanted if k in ok])} trials that keep their weights have "
                f"no checkpoint (first: {first}); `ablate run {self.dir.name}` trains them again"
            )

    def _check_meta(self, health: Health, fix: bool) -> None:
        """study.json: readable, a JSON object. Set aside when damaged: the next run writes it again."""
        path = self.dir / META
        try:
            self.meta()
        except StoreError as err:
            problem = str(err).split(" is damaged (", 1)[-1].split(");", 1)[0].rstrip(")")
            health.problems.append(f"{path} is damaged: {problem}")
            if fix:
                moved = self._set_aside(path)
                health.repaired.append(
                    f"{path} was damaged; moved to {moved} (`ablate run {self.dir.name}` writes it again)"
                )
        except OSError as err:
            health.problems.append(f"{path} is damaged: {err.strerror or err}")

    def _set_aside(self, path: Path) -> Path:
        aside = self.dir / DAMAGED
        aside.mkdir(exist_ok=True)
        target = aside / f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}"
        os.replace(path, target)
        return target

    def _drop_orphaned_runs(self, lost: dict[str, set[str]], health: Health) -> None:
        """Finished runs rows whose rows in a damaged table are gone run again; the rest stay."""
        base, _ = _load_checked(self.runs_path, "runs") if self.runs_path.exists() else (None, None)
        if base is None:
            return
        runs = _migrate(base, self._expected("runs"))[0].to_pandas()
        keep = pd.Series(True, index=runs.index)
        for name in lost:
            surviving = set(self.table(name)["key"]) if name in self.tables() else set()
            keep &= ~runs["status"].isin(FINISHED) | runs["key"].isin(surviving)
        dropped = int((~keep).sum())
        if dropped:
            self._write_file(self.runs_path, pa.Table.from_pandas(runs[keep], preserve_index=False))
        health.repaired.append(
            f"kept {int(keep.sum())} run row(s) of {self.runs_path}; {dropped} trial(s) whose "
            f"{', '.join(sorted(lost))} rows were lost run again"
        )


def _to_arrow(rows: list[dict]) -> pa.Table:
    """Rows as a table with every column any row has (a failed trial's row has fewer)."""
    columns = list(dict.fromkeys(c for row in rows for c in row))
    try:
        return pa.table({c: pa.array([row.get(c) for row in rows]) for c in columns})
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in a column: let pandas settle them
        return pa.Table.from_pandas(pd.DataFrame(rows, columns=columns), preserve_index=False)


def _concat(tables: list[pa.Table]) -> pa.Table:
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a column changed type between writes
        frame = pd.concat([t.to_pandas() for t in tables], ignore_index=True)
        return pa.Table.from_pandas(frame, preserve_index=False)


def _with_version(table: pa.Table) -> pa.Table:
    return table.replace_schema_metadata(
        {**(table.schema.metadata or {}), SCHEMA_KEY: str(SCHEMA_VERSION).encode()}
    )


def _write_table(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path)


def _write_unit(path: Path, tables: dict[str, pa.Table]) -> None:
    """One unit's tables in one file: a JSON header of where each table's Arrow IPC stream lies."""
    bodies, header, offset = [], {}, 0
    for name, table in tables.items():
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        body = sink.getvalue().to_pybytes()
        header[name] = [offset, len(body)]
        bodies.append(body)
        offset += len(body)
    head = json.dumps(header).encode()
    _write_bytes(path, b"".join([_UNIT_MAGIC, struct.pack("<Q", len(head)), head, *bodies]))


def _write_bytes(path: Path, payload: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(payload)


def _read_unit(path: Path) -> dict[str, pa.Table]:
    try:
        return _parse_unit(path.read_bytes())
    except (KeyError, TypeError, struct.error) as err:
        raise ValueError(f"not a unit file ({type(err).__name__})") from None


def _parse_unit(data: bytes) -> dict[str, pa.Table]:
    start = len(_UNIT_MAGIC) + 8
    if not data.startswith(_UNIT_MAGIC) or len(data) < start:
        raise ValueError("not a whole unit file: truncated or overwritten")
    (size,) = struct.unpack_from("<Q", data, len(_UNIT_MAGIC))
    header = json.loads(data[start : start + size])
    base = start + size
    tables = {}
    for name, (offset, length) in header.items():
        body = data[base + offset : base + offset + length]
        if len(body) != length:
            raise ValueError("not a whole unit file: truncated")
        tables[name] = pa.ipc.open_stream(pa.py_buffer(body)).read_all()
    if "runs" not in tables:
        raise ValueError("a unit file without run rows")
    return tables


def _read_file(path: Path, columns: list[str] | None = None) -> pa.Table:
    """A parquet table without pandas' index metadata: the store's tables have no index."""
    table = pq.read_table(path, columns=columns)
    metadata = {k: v for k, v in (table.schema.metadata or {}).items() if k == SCHEMA_KEY}
    return table.replace_schema_metadata(metadata or None)


def _load_checked(path: Path, name: str, training: bool = True) -> tuple[pa.Table | None, str | None]:
    """The table in `path`, or None and why it cannot be used: unreadable, or not the columns
    its name promises (every table its key; a versioned one every column its writer always adds)."""
    try:
        table = _read_file(path)
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError, ValueError) as err:
        return None, _why(err)
    version = (table.schema.metadata or {}).get(SCHEMA_KEY)
    try:
        version = None if version is None else int(version)
    except ValueError:
        return None, f"an unreadable schema version {version[:20]!r}"
    if version is not None and version > SCHEMA_VERSION:
        return None, f"written by a newer ablate (schema {version} > {SCHEMA_VERSION})"
    required = REQUIRED.get(name, ("key",))
    if version is not None and table.num_rows:
        required += WRITTEN.get(name, ()) + (WRITTEN_TRAINING.get(name, ()) if training else ())
    missing = [c for c in required if c not in table.column_names]
    if missing:
        return None, f"no {', '.join(missing)} column{'s' if len(missing) > 1 else ''}"
    return table, None


def _has_schema_key(path: Path) -> bool:
    try:
        return SCHEMA_KEY in (pq.read_schema(path).metadata or {})
    except (pa.ArrowException, OSError):
        return False


def _why(err: Exception) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    if "magic bytes not found" in text:
        return "not a whole parquet file: truncated or overwritten"
    return re.sub(r"^Could not open Parquet input source '[^']*': ", "", text)


def _any_finished(table: pa.Table) -> bool:
    """Whether a table has a finished trial (a table without statuses is assumed to)."""
    if "status" not in table.column_names:
        return True
    return any(status in FINISHED for status in table.column("status").to_pylist())


def _migrate(table: pa.Table, expected: tuple[str, ...]) -> tuple[pa.Table, list[str]]:
    """Add the columns an older table (one without a schema version) lacks, as nulls; say which."""
    if SCHEMA_KEY in (table.schema.metadata or {}):
        return table, []
    added = [c for c in expected if c not in table.column_names]
    for column in added:
        kind = pa.string() if column in ("status", "error") else pa.float64()
        table = table.append_column(column, pa.nulls(table.num_rows, kind))
    return table, added


def _drop_keys(table: pa.Table, keys: Mapping[str, int]) -> pa.Table:
    if not keys:
        return table
    mask = pc.is_in(table["key"], pa.array(list(keys), pa.string()))
    return table.filter(pc.invert(mask))


def _atomic_write_bytes(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(payload)
        _fsync_and_rename(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_and_rename(tmp: Path, path: Path) -> None:
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def free_space(path: Path) -> str:
    """Free space on the file system holding `path`, for messages."""
    for candidate in [path, *path.parents]:
        if candidate.exists():
            free = shutil.disk_usage(candidate).free
            return f"{free / 2**20:.1f} MiB free"
    return "free space unknown"


def is_disk_full(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)
