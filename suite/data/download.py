"""Data files on disk: where the cache is, how a file is recognised, and downloads
that never leave a half-written file behind.

Every file this package writes into the cache is written under a temporary name
in the same folder and renamed into place only once it is complete (and, for a
download, verified), so a reader sees either nothing or the whole file.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from http.client import HTTPException
from pathlib import Path
from typing import Annotated

from tqdm import tqdm

from suite.identity import Location

CACHE_ENV = "ABLATE_CACHE"
DATA_ENV = "ABLATE_DATA"  # a folder of local copies, one sub-folder per corpus (imdb/, glove/, …)
CHUNK = 1 << 20

# A dataset parameter that names a place on disk: where it lies never enters a trial's key (what
# a DataPath holds does, by fingerprint; a CacheDir holds checksummed downloads). See suite.identity.
DataPath = Annotated[str | None, Location("content")]
CacheDir = Annotated[str | None, Location("cache")]


class DataUnavailable(RuntimeError):
    """A data file is not here and cannot be fetched; the message says which file to place where."""


class DataError(ValueError):
    """A data file is here but damaged or not what it should be; the message names it."""


def cache_dir(override: str | Path | None = None) -> Path:
    """The cache folder: a study's `cache_dir`, else $ABLATE_CACHE, else ~/.cache/ablate
    (or $XDG_CACHE_HOME/ablate)."""
    if override:
        return Path(override).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ablate"


def data_root(subdir: str) -> Path | None:
    """$ABLATE_DATA/<subdir> if $ABLATE_DATA is set and holds that folder, else None: local copies
    are looked up there first, then in the cache, and only then downloaded."""
    root = os.environ.get(DATA_ENV)
    if not root:
        return None
    folder = Path(root).expanduser() / subdir
    return folder if folder.is_dir() else None


@dataclass(frozen=True)
class Remote:
    """A published file: where it comes from and how to recognise a good copy."""

    url: str
    filename: str
    digest: str  # hex digest of the whole file
    algorithm: str = "sha256"
    size: int | None = None  # bytes, where the publisher states it

    def describe(self) -> str:
        size = f"{self.size:,} bytes, " if self.size else ""
        return f"{self.filename} ({size}{self.algorithm} {self.digest}) from {self.url}"


def why_unavailable(locate: Callable[[], object]) -> str | None:
    """What a dataset's `locate` raises when its files are absent and cannot be fetched, or damaged
    (the message names the file and what to place where); None when they are there."""
    try:
        locate()
    except (DataUnavailable, DataError) as err:
        return str(err)
    return None


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's content (remembered while the file's size and mtime stay the same)."""
    stat = Path(path).stat()
    return _digest(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, algorithm)


@lru_cache(maxsize=1 << 17)
def _digest(path: str, size: int, mtime_ns: int, algorithm: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()


def problem(path: Path, remote: Remote) -> str | None:
    """What is wrong with `path` as a copy of `remote`, or None if it is a complete, unaltered copy."""
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        return f"{size:,} bytes where {remote.filename} has {remote.size:,} (truncated or another file)"
    got = file_digest(path, remote.algorithm)
    if got != remote.digest:
        return f"{remote.algorithm} checksum mismatch (got {got}, expected {remote.digest})"
    return None


def verify(path: Path, remote: Remote) -> None:
    """Raise DataError, naming the file and what a good copy is, unless `path` is one."""
    wrong = problem(path, remote)
    if wrong:
        raise DataError(f"{path}: {wrong}; delete it and place {remote.describe()}")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is fsynced and renamed
    to `path`, on any error it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    """One process at a time downloads a given file; the others wait, then find it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_FAILED: dict[tuple[str, str], str] = {}  # (url, destination) → why the download failed, per process


def place_message(remote: Remote, dest: Path) -> str:
    return (
        f"place {remote.filename} in {dest.parent} or in ${DATA_ENV}/{dest.parent.name} (or set "
        f"${CACHE_ENV} or the dataset's cache_dir to another folder, or data_path to a copy elsewhere); "
        f"expected {remote.describe()}"
    )


def fetch(
    remote: Remote,
    directory: Path,
    *,
    download: bool = True,
    opener: Callable | None = None,
    timeout: float = 30.0,
    progress: bool = True,
) -> Path:
    """The verified file `directory/remote.filename`, downloaded first if it is absent.

    `opener` defaults to urllib.request.urlopen (tests pass their own or a file:// URL).
    Raises DataUnavailable (saying which file to place where) when it is absent and
    cannot be downloaded, DataError when a copy is damaged. A download goes to a
    temporary name, is verified, and only then renamed into place.
    """
    dest = directory / remote.filename
    if dest.exists():
        verify(dest, remote)
        return dest
    if not download:
        raise DataUnavailable(f"{place_message(remote, dest)}; not downloading (download is off)")
    failed = _FAILED.get((remote.url, str(dest)))
    if failed:
        raise DataUnavailable(failed)
    with _lock(directory / f".{remote.filename}.lock"):
        if dest.exists():  # another process fetched it while this one waited
            verify(dest, remote)
            return dest
        try:
            with atomic_path(dest) as tmp:
                _download(remote, tmp, opener or urllib.request.urlopen, timeout, progress)
                wrong = problem(tmp, remote)
                if wrong:
                    raise DataError(
                        f"downloaded {remote.url} but it is incomplete or damaged ({wrong}); "
                        f"nothing was kept in {directory}"
                    )
        except (urllib.error.URLError, HTTPException, OSError) as err:
            message = f"{place_message(remote, dest)}; downloading it failed: {err}"
            _FAILED[(remote.url, str(dest))] = message
            raise DataUnavailable(message) from err
    return dest


def _download(remote: Remote, tmp: Path, opener: Callable, timeout: float, progress: bool) -> None:
    with opener(remote.url, timeout=timeout) as response, open(tmp, "wb") as out:
        length = response.headers.get("Content-Length") if response.headers else None
        total = int(length) if length else remote.size
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=remote.filename,
            disable=None if progress else True,
            leave=False,
        ) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
