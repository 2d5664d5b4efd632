"""Measurements: wall time with warm-up and synchronisation, measured peak memory, provenance.

Timing: CUDA events on CUDA, `time.perf_counter` after a synchronise elsewhere;
repeated, and reported as the median. Peak memory: `torch.cuda.max_memory_allocated`
on CUDA; on CPU the profiler's allocation events, replayed in time order.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Hashable
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from suite.lazy import lazy_import
from suite.paths import checkout_root, package_version

torch = lazy_import("torch")  # imported on first use: the timing helpers load with a study


def device_available(device: str) -> str | None:
    """None if the device can run trials here, else the reason it cannot."""
    kind, _, index = device.partition(":")
    if kind == "cpu":
        return None
    if kind == "cuda":
        if not torch.cuda.is_available():
            return "CUDA is not available on this machine (torch.cuda.is_available() is False)"
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            return f"{device} asked for, but this machine has {count} CUDA device(s)"
        return None
    if kind == "mps":
        if not torch.backends.mps.is_available():
            return "MPS is not available on this machine (torch.backends.mps.is_available() is False)"
        return None
    return f"unknown device {device!r}"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class Stopwatch:
    """Elapsed seconds of a region, synchronised with the device (CUDA events on CUDA)."""

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self) -> Stopwatch:
        if self.device.type == "cuda":
            self._start = torch.cuda.Event(enable_timing=True)
            self._end = torch.cuda.Event(enable_timing=True)
            self._start.record()
        else:
            synchronize(self.device)
            self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self._end.record()
            self._end.synchronize()
            self.seconds = self._start.elapsed_time(self._end) / 1000.0
        else:
            synchronize(self.device)
            self.seconds = time.perf_counter() - self._t0


def time_fn(
    fn: Callable[[], object], device: torch.device, warmup: int = 3, repeats: int = 10
) -> list[float]:
    """Seconds per call of fn, `repeats` times after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        with Stopwatch(device) as sw:
            fn()
        times.append(sw.seconds)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def peak_memory(
    fn: Callable[[], object],
    device: torch.device,
    *,
    key: Hashable | None = None,
    setup: Callable[[], object] | None = None,
) -> int:
    """Peak bytes allocated while fn runs, above what was allocated when it started.

    `key`, if given, names everything that decides the sizes fn allocates (architecture,
    input shape, dtype, optimizer; not weight values or seeds): fn is then measured once
    per key and process, and later calls with that key return the same measurement.
    `setup` runs once, unmeasured, before fn is measured (never when the key's value is known)."""
    if key is not None and (device.type, key) in _PEAKS:
        return _PEAKS[device.type, key]
    if setup is not None:
        setup()
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
    elif device.type == "cpu":
        peak = _cpu_peak_memory(fn)
    else:
        raise NotImplementedError(f"peak memory is not measured on {device.type}")
    if key is not None:
        _PEAKS[device.type, key] = peak
    return peak


_PEAKS: dict[tuple[str, Hashable], int] = {}


def _cpu_peak_memory(fn: Callable[[], object]) -> int:
    """Replay the allocator's events, which the profiler records with `profile_memory`.

    The profiler is driven through its C++ entry points: `torch.profiler.profile.stop()` also
    turns every recorded op into a Python FunctionEvent, which costs more than the rest together
    and is not needed here. If those entry points change, the public class is used instead."""
    # The profiler's C++ side writes start/stop lines and allocator warnings straight
    # to file descriptor 2; keep them out of the user's terminal. Python exceptions
    # from fn still propagate.
    try:
        from torch._C._autograd import _disable_profiler, _enable_profiler, _prepare_profiler
        from torch._C._profiler import ProfilerActivity, ProfilerConfig, ProfilerState, _ExperimentalConfig

        config = ProfilerConfig(ProfilerState.KINETO, False, True, False, False, False, _ExperimentalConfig())
        activities = {ProfilerActivity.CPU}
    except (ImportError, TypeError, AttributeError):
        return _cpu_peak_memory_public(fn)
    with _stderr_silenced():
        _prepare_profiler(config, activities)
        _enable_profiler(config, activities)
        try:
            fn()
        finally:
            result = _disable_profiler()
    return _replay(result.events())


def _cpu_peak_memory_public(fn: Callable[[], object]) -> int:
    from torch.profiler import ProfilerActivity, profile

    prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
    with _stderr_silenced():
        prof.start()
        try:
            fn()
        finally:
            prof.stop()
    return _replay(prof.profiler.kineto_results.events())


def _replay(events) -> int:
    memory = [
        e for e in events if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU
    ]
    live = peak = 0
    for e in sorted(memory, key=lambda e: e.start_ns()):
        live += e.nbytes()  # positive for an allocation, negative for a free
        peak = max(peak, live)
    return peak


@contextmanager
def _stderr_silenced():
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return cpu_name()
    return device.type


@cache
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@cache
def git_commit() -> str:
    """HEAD's commit, with '-dirty' when tracked code differs from it; 'unknown' for an installed
    package (whose folder may sit inside someone else's repository) and outside git."""
    root = checkout_root()
    if root is None:
        return "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            # results/ is what a run writes, not code: rewriting it does not make the code dirty
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(device: torch.device) -> dict[str, object]:
    """Where and with what a result was measured; every result row carries it."""
    return {
        "device_name": device_name(device),
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "git_commit": git_commit(),
        "ablate_version": package_version(),
        "python_version": platform.python_version(),
        "host": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
