"""What every executor shares: the `Finished` record and rows for units that never returned."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from suite.kinds import Trial, TrialResult
from suite.lazy import lazy_import
from suite.measure import provenance

torch = lazy_import("torch")  # imported when a unit runs: a run with every trial cached needs none

POLL_S = 0.5  # how long the driver waits for a result before it checks timeouts again
STARTUP_GRACE_S = 60.0  # a unit not started this long after its timeout is overdue too (a wedged worker)

WORKER_DIED = "worker died"
START = b"[ablate] start "  # the first line of each attempt in a spool file


@dataclass
class Finished:
    """One unit's outcome: a result per trial, and the output the unit wrote."""

    unit: list[Trial]
    results: list[TrialResult]
    log: str


@dataclass
class Job:
    """A unit in the driver's hands. An attempt has started once its worker has
    written its `start` line to the spool file; the timeout counts from the latest."""

    unit: list[Trial]
    spool: Path
    submitted: float = 0.0
    started: float | None = None
    deaths: int = 0  # times its own worker died under it
    stops: int = 0  # times its worker was stopped by a death that no unit in flight owned
    timed_out: bool = False
    _spooled: int = 0  # bytes in the spool file when submitted (an earlier attempt's output)
    _scanned: int = 0  # bytes read while looking for start lines
    _tail: bytes = b""

    def submit(self) -> None:
        self.submitted, self.started = time.monotonic(), None
        self._spooled = self._scanned = self.spool.stat().st_size if self.spool.exists() else 0
        self._tail = b""

    def overdue(self, timeout_s: float) -> bool:
        now = time.monotonic()
        if self._new_start():
            self.started = now  # Ray reruns a dead task itself: each attempt gets the full timeout
        if self.started is not None:
            return now - self.started > timeout_s
        return now - self.submitted > timeout_s + STARTUP_GRACE_S

    def _new_start(self) -> bool:
        if not self.spool.exists():
            return False
        with open(self.spool, "rb") as f:
            f.seek(self._scanned)
            chunk = f.read()
        self._scanned += len(chunk)
        seen = self._tail + chunk
        self._tail = seen[-len(START) :]
        return START in seen

    def output(self) -> str:
        """What the unit's workers wrote so far (on this machine)."""
        return self.spool.read_text(errors="replace") if self.spool.exists() else ""

    def attempt_output(self) -> str:
        """What the latest attempt wrote (empty if it never started)."""
        if not self.spool.exists():
            return ""
        with open(self.spool, "rb") as f:
            f.seek(self._spooled)
            return f.read().decode(errors="replace")

    def note(self, line: str) -> None:
        with open(self.spool, "a") as f:
            f.write(f"[ablate] {line}\n")


def results_without_run(unit: list[Trial], status: str, error: str) -> list[TrialResult]:
    """Rows for trials that never returned from a worker (it died, timed out, or was refused)."""
    results = []
    for trial in unit:
        row = trial.base_row()
        row.update(status=status, error=error)
        row.update(provenance(torch.device("cpu")) | {"device_name": None})
        results.append(TrialResult(row, []))
    return results


SPOOL_PREFIX = "ablate-spool-"  # then the driver's pid: a folder whose driver is gone is stale


def remove_stale_spools() -> None:
    """Remove the spool folders of drivers that died without cleaning up (kill -9)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SPOOL_PREFIX}*"):
        match = re.match(rf"{SPOOL_PREFIX}(\d+)-", folder.name)
        if not match or int(match[1]) == os.getpid():
            continue
        try:
            os.kill(int(match[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # another user's driver, alive
