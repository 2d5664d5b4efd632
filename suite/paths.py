"""Where studies and results live, whether `ablate` runs from a checkout or a pip-installed wheel.

Studies are looked up in the user's folder first (`--studies`, else `$ABLATE_STUDIES`,
else `./studies` when it exists), then in the built-in catalogue: the top-level
`studies/` of a checkout, shipped inside the wheel as `suite/catalogue/`. Results go
to `--results`, else `$ABLATE_RESULTS`, else `./results` of the working directory:
never into the installed package. A study may also be named by its file's path.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
STUDY_SUFFIXES = (".yaml", ".yml")
PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@cache
def checkout_root() -> Path | None:
    """The source checkout this package runs from (an editable install or `python -m suite`
    in a clone), or None for an installed wheel."""
    root = PACKAGE.parent
    if (root / "pyproject.toml").is_file() and (root / "studies").is_dir():
        return root
    return None


@cache
def package_version() -> str:
    """The installed distribution's version; the source's version in a checkout run without install."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ablate")
    except PackageNotFoundError:
        from suite import __version__

        return __version__


def builtin_studies_dir() -> Path:
    """The catalogue that ships with ablate."""
    packaged = PACKAGE / "catalogue"
    if packaged.is_dir():
        return packaged
    root = checkout_root()
    return root / "studies" if root else packaged


def user_studies_dir(given: Path | None = None) -> Path | None:
    """The user's own folder of studies, if there is one."""
    if given is not None:
        return Path(given)
    env = os.environ.get("ABLATE_STUDIES")
    if env:
        return Path(env)
    local = Path.cwd() / "studies"
    return local if local.is_dir() else None


def studies_dirs(given: Path | None = None) -> list[Path]:
    """Folders searched for a study name, first match wins: the user's, then the catalogue."""
    dirs = [d for d in (user_studies_dir(given), builtin_studies_dir()) if d is not None]
    unique: dict[Path, Path] = {}
    for d in dirs:
        unique.setdefault(d.resolve(), d)
    return list(unique.values())


def results_dir(given: Path | None = None) -> Path:
    if given is not None:
        return Path(given)
    env = os.environ.get("ABLATE_RESULTS")
    return Path(env) if env else Path.cwd() / "results"


def find_all(given: Path | None = None) -> dict[str, Path]:
    """Every study name that resolves, with the file it resolves to (the user's shadow the catalogue's)."""
    found: dict[str, Path] = {}
    for directory in studies_dirs(given):
        for suffix in STUDY_SUFFIXES:
            for path in sorted(directory.glob(f"*{suffix}")):
                if not outside(path, directory):
                    found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


def outside(path: Path, directory: Path) -> bool:
    """A link in a studies folder that points out of it: never followed silently."""
    return path.is_symlink() and not path.resolve().is_relative_to(directory.resolve())


def links_outside(given: Path | None = None) -> list[Path]:
    """The study files skipped because they link out of their folder."""
    return [
        p
        for d in studies_dirs(given)
        for suffix in STUDY_SUFFIXES
        for p in sorted(d.glob(f"*{suffix}"))
        if outside(p, d)
    ]


def is_builtin(path: Path) -> bool:
    return path.resolve().parent == builtin_studies_dir().resolve()


def looks_like_path(text: str) -> bool:
    return text.endswith(STUDY_SUFFIXES) or "/" in text or os.sep in text


def resolve_study(name_or_path: str, given: Path | None = None) -> Path:
    """The file of a study named by a plain name (searched as above) or by a path to a YAML file."""
    from suite.spec import StudyError

    found = find_all(given)
    listing = ", ".join(found) or "none"
    if looks_like_path(name_or_path):
        path = Path(name_or_path).expanduser()
        if path.is_file():
            return path
        what = "no such study file" if not path.exists() and not path.is_symlink() else what_is(path)
        raise StudyError(f"{name_or_path}: {what}; available studies: {listing}")
    where = " or ".join(str(d) for d in studies_dirs(given))
    if not name_or_path or not PLAIN_NAME.fullmatch(name_or_path) or ".." in name_or_path:
        raise StudyError(
            f"study {name_or_path!r} is neither a plain name nor a path to a .yaml file; "
            f"available studies: {listing}"
        )
    if name_or_path not in found:
        import difflib

        for link in links_outside(given):
            if link.stem == name_or_path:
                raise StudyError(
                    f"{link} is a link to {link.resolve()}, outside {link.parent}; copy the study into "
                    f"{link.parent} to run it"
                )

        close = difflib.get_close_matches(name_or_path, found, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise StudyError(f"unknown study {name_or_path!r} in {where}{hint} (available studies: {listing})")
    return found[name_or_path]


def what_is(path: Path) -> str:
    """What `path` is, in a few words, for a message; found without opening it."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "no such file or folder"
    except OSError as err:
        return f"not readable ({err.strerror})"
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.stat(path)
        except OSError as err:
            if err.errno == errno.ELOOP:
                return "a symlink loop"
            return f"a broken link to {os.readlink(path)}"
        return f"a link to {os.path.realpath(path)}, {_kind(target.st_mode)}"
    return _kind(info.st_mode)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a file"
