"""What runs inside a worker process (a pool worker or a Ray task).

A worker is told only the unit (configs, never models), where to spool its
output and how many threads to use. It appends everything the unit writes to
stdout and stderr — C-level output and a crash's Python traceback included — to
the spool file, so the output of a worker that dies is still there for the driver.
"""

from __future__ import annotations

import atexit
import datetime as dt
import faulthandler
import importlib
import os
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

PLUGINS_ENV = "ABLATE_PLUGINS"
STOPPED = "[ablate] worker stopped (SIGTERM) before the unit finished"

_spool = None  # the spool file of the unit this process is running, if any


class PluginError(ImportError):
    """A module named in $ABLATE_PLUGINS that cannot be imported."""


def import_plugins() -> None:
    """Import the modules named in $ABLATE_PLUGINS (comma-separated): they register
    extra variants or datasets, which a worker must know before it runs a unit."""
    for name in os.environ.get(PLUGINS_ENV, "").split(","):
        if name.strip():
            try:
                importlib.import_module(name.strip())
            except Exception as err:
                raise PluginError(
                    f"${PLUGINS_ENV} names {name.strip()!r}, which cannot be imported "
                    f"({type(err).__name__}: {err}); fix the module or remove it from ${PLUGINS_ENV}"
                ) from err


def set_threads(threads: int) -> None:
    """torch threads for this worker; OMP_NUM_THREADS for anything it starts.
    Called first thing in a worker, before torch has run anything."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


def init_pool_worker(threads: int, driver: int | None = None) -> None:
    """Process-pool initializer. When one worker dies the pool stops the others
    with SIGTERM; each then marks its spool, so the driver can tell the unit
    whose worker died from the units that were merely stopped with it.
    Ctrl-C is the driver's to handle (it stops the workers); a worker whose
    driver dies exits at once (see `exit_with_driver`)."""
    set_threads(threads)
    # A pool worker that exits through atexit exits 0 (a failure is a signal, or a result): skip the
    # 0.7 s of tearing down a process with torch loaded, for which the driver's shutdown waits.
    atexit.register(os._exit, 0)
    signal.signal(signal.SIGTERM, _stopped)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if driver is not None:
        exit_with_driver(driver)


def preload() -> None:
    """What the built-in kinds' units import (torch, the models), imported by each worker as its
    pool starts, so that it overlaps the driver's planning instead of delaying the first unit."""
    from suite import kinds

    for name in kinds.RUN_MODULES:
        importlib.import_module(name)


def exit_with_driver(driver: int, every_s: float = 0.5) -> None:
    """End this process when the driver process dies, however it dies (kill -9 included).

    On Linux the kernel sends SIGKILL when the parent dies (PR_SET_PDEATHSIG); everywhere a
    daemon thread also checks every `every_s` that the parent is still the one this worker
    started under and that the driver is alive (a forkserver's workers are not the driver's
    children, but the forkserver exits with the driver, which reparents them)."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def orphaned() -> bool:
        if os.getppid() != parent:
            return True
        try:
            os.kill(driver, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False

    if orphaned():  # the driver died before the watch began
        os._exit(1)

    def watch() -> None:
        while not orphaned():
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, name="ablate-driver-watch", daemon=True).start()


def _stopped(signum, frame) -> None:
    if _spool is not None:
        _spool.write(f"\n{STOPPED}\n".encode())
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def header(unit) -> str:
    import torch

    keys = ", ".join(t.key for t in unit)
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return (
        f"[ablate] start {when}: unit of {len(unit)} trial(s) [{keys}] on {socket.gethostname()}, "
        f"pid {os.getpid()}, {torch.get_num_threads()} torch thread(s)\n"
    )


def pid_file(spool: Path) -> Path:
    """Where the worker running a unit says which process it is (its driver may have to stop it)."""
    return spool.with_name(spool.name + ".pid")


def write_pid(spool: Path) -> None:
    """Name this process as the one running the unit spooled to `spool` (each attempt anew)."""
    target = pid_file(spool)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(str(os.getpid()))
    os.replace(tmp, target)


def worker_pid(spool: Path) -> int | None:
    """The process running the unit's latest attempt, or None if none has started."""
    try:
        return int(pid_file(spool).read_text())
    except (FileNotFoundError, ValueError):
        return None


def run_logged(unit, spool: str, threads: int) -> tuple[list, str]:
    """Run one unit with this process's output appended to `spool`; return the
    results and everything the spool holds (earlier attempts included)."""
    global _spool
    from suite import kinds

    set_threads(threads)
    path = Path(spool)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_pid(path)
    with open(path, "ab", buffering=0) as log:
        # Marked from before the start line until the spool is gone: a SIGTERM at any moment in
        # between leaves STOPPED after whatever this attempt wrote (see `_stopped`).
        _spool = log
        try:
            log.write(header(unit).encode())
            with _output_to(log):
                import_plugins()
                results = kinds.run_unit(unit)
            text = path.read_text(errors="replace")
            path.unlink(missing_ok=True)
            pid_file(path).unlink(missing_ok=True)
        finally:
            _spool = None
    return results, text


@contextmanager
def _output_to(log):
    """Point file descriptors 1 and 2 (and faulthandler) at `log` for a while."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    was_enabled = faulthandler.is_enabled()
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    faulthandler.enable(file=log)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        faulthandler.disable()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        if was_enabled:
            faulthandler.enable()
