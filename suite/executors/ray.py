"""Ray core tasks, on a local cluster or one that is already running (`address`).

One task per unit: core tasks, not Ray Tune, whose per-trial overhead was
measured at 22 s for 8 trials against 0.4 s for core tasks when this was chosen.
Each task reserves `cpus_per_unit` CPUs, and `gpus_per_unit` GPUs when its
trials are on CUDA; Ray picks the GPU, so name `cuda` (not `cuda:1`) in such
studies. A worker that dies is retried once by Ray (`max_retries=1`), then the
unit is recorded `failed`. A CUDA unit on a cluster without GPUs would wait
forever: it is recorded `skipped` with the cluster's resources instead. A local
cluster that this driver started ends with it, even when it is killed (`reaper.py`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import suite
from suite.executors.base import (
    POLL_S,
    SPOOL_PREFIX,
    WORKER_DIED,
    Finished,
    Job,
    remove_stale_spools,
    results_without_run,
)
from suite.executors.spec import ExecutorError, ExecutorSpec
from suite.executors.worker import PLUGINS_ENV, run_logged
from suite.kinds import Trial

MAX_RETRIES = 1  # Ray's default is 3; a unit whose worker died is run again once
GET_TIMEOUT_S = 300.0  # fetching a result that ray.wait reported ready
CONNECT_TIMEOUT_S = 10.0  # how long a cluster's address may take to answer


def _import_ray():
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # keep every worker line Ray forwards
    try:
        import ray
    except ImportError:
        raise ExecutorError(
            "the ray executor needs Ray: pip install 'ablate[ray]' (make setup installs it)"
        ) from None
    return ray


# The start of an HTTP/2 connection (the preface, then an empty SETTINGS frame): a gRPC server,
# as Ray's GCS is, answers it at once with a SETTINGS frame of its own.
HTTP2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
SETTINGS = 0x04


def _reachable(address: str | None) -> None:
    """Refuse at once an address where no Ray cluster answers: nothing listens, or something
    accepts connections but never completes a gRPC handshake (Ray itself retries for minutes)."""
    if not address or address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorError(f"executor.address: {address!r} is not HOST:PORT (or auto)")
    hint = "start one with `ray start --head` or drop --address"
    try:
        sock = socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S)
    except OSError as err:
        raise ExecutorError(
            f"executor.address: no Ray cluster answers at {address} ({err.strerror or err}, "
            f"after at most {CONNECT_TIMEOUT_S:g} s); {hint}"
        ) from None
    if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):  # a TLS handshake comes first
        sock.close()
        return
    with sock:
        try:
            sock.settimeout(CONNECT_TIMEOUT_S)
            sock.sendall(HTTP2_HELLO)
            head = sock.recv(9)  # the first frame's header: length (3 bytes), type, flags, stream
        except TimeoutError:
            raise ExecutorError(
                f"executor.address: {address} accepts connections but does not answer as a Ray cluster "
                f"(no gRPC handshake within {CONNECT_TIMEOUT_S:g} s); {hint}"
            ) from None
        except OSError as err:
            head, why = b"", err.strerror or str(err)
        else:
            why = "it closed the connection" if not head else "it does not speak gRPC"
        if len(head) < 4 or head[3] != SETTINGS:
            raise ExecutorError(f"executor.address: {address} is not a Ray cluster ({why}); {hint}") from None


def _start_reaper() -> subprocess.Popen | None:
    """A watcher that ends the local cluster's processes if this driver dies without shutting
    Ray down (kill -9): Ray's own agents outlive their driver by about a minute (suite.executors.reaper)."""
    if not sys.platform.startswith("linux"):
        return None
    script = Path(__file__).with_name("reaper.py")
    return subprocess.Popen(
        [sys.executable, str(script), str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _signal_handlers() -> dict:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}


def _restore(handlers: dict) -> None:
    for signum, handler in handlers.items():
        if handler is not None:  # None: set outside Python, nothing to put back
            signal.signal(signum, handler)


class RayExecutor:
    def __init__(self, spec: ExecutorSpec):
        self.spec = spec
        self.threads = spec.threads or max(1, int(spec.cpus_per_unit))
        self._started = False
        self._reaper: subprocess.Popen | None = None

    def __enter__(self) -> RayExecutor:
        self.ray = _import_ray()
        return self

    def _start(self) -> None:
        """Start or join Ray, only once there is something to run."""
        ray = self.ray
        if not ray.is_initialized():
            where = self.spec.address or "a new local cluster"
            _reachable(self.spec.address)
            if self.spec.address is None:
                self._reaper = _start_reaper()
            handlers = _signal_handlers()
            try:
                ray.init(
                    address=self.spec.address,
                    runtime_env=self._job_env(),
                    include_dashboard=False,
                    log_to_driver=True,
                )
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise ExecutorError(f"executor.address: cannot start or join Ray at {where}: {err}") from None
            finally:
                _restore(handlers)  # ray.init takes SIGTERM for sys.exit: it stops a run as Ctrl-C does
            self._started = True
        self._check_and_prepare()

    def _check_and_prepare(self) -> None:
        ray = self.ray
        self.resources = ray.cluster_resources()
        cpus = self.resources.get("CPU", 0)
        if self.spec.cpus_per_unit > cpus:
            raise ExecutorError(
                f"executor.cpus_per_unit: {self.spec.cpus_per_unit:g} asked for, but the Ray cluster "
                f"has {cpus:g} CPU(s) in all; a unit could never be scheduled"
            )
        self.capacity = self.spec.workers or max(1, int(cpus // self.spec.cpus_per_unit))
        common = dict(
            num_cpus=self.spec.cpus_per_unit,
            max_retries=MAX_RETRIES,
            retry_exceptions=False,
            runtime_env=self._task_env(),
        )
        task = ray.remote(run_logged)
        try:
            self._on_cpu = task.options(**common, num_gpus=0)
            self._on_cuda = task.options(**common, num_gpus=self.spec.gpus_per_unit)
        except ValueError as err:
            raise ExecutorError(f"executor.runtime_env: {err}") from None
        remove_stale_spools()
        self._spool = tempfile.TemporaryDirectory(prefix=f"{SPOOL_PREFIX}{os.getpid()}-")
        self._running: dict = {}

    def __exit__(self, exc_type, *exc) -> None:
        for ref in getattr(self, "_running", {}):
            self.ray.cancel(ref, force=True)
        if hasattr(self, "_spool"):
            self._spool.cleanup()
        if self._started:
            self.ray.shutdown()
            self._started = False
        if self._reaper is not None:  # its pipe closes: it ends whatever the shutdown left
            self._reaper.stdin.close()
            try:
                self._reaper.wait(timeout=30)
            except subprocess.TimeoutExpired:  # never let it replace the exception in flight
                self._reaper.kill()
            self._reaper = None

    def _job_env(self) -> dict:
        """The job's runtime_env: the user's, and this checkout's `suite` package
        when joining a cluster whose nodes may not have it (Ray uploads it)."""
        env = dict(self.spec.runtime_env)
        if self.spec.address is not None:
            env["py_modules"] = [*env.get("py_modules", []), str(Path(suite.__file__).parent)]
        return env

    def _task_env(self) -> dict:
        """Each task's runtime_env: threads and plugins (Ray merges env_vars with the
        job's); the user's other keys too when someone else started Ray."""
        env_vars = {"OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
        if os.environ.get(PLUGINS_ENV):
            env_vars[PLUGINS_ENV] = os.environ[PLUGINS_ENV]
        user = dict(self.spec.runtime_env)
        env_vars.update(user.pop("env_vars", {}))
        return {**({} if self._started else user), "env_vars": env_vars}

    def run(self, units: list[list[Trial]]) -> Iterator[Finished]:
        if not units:
            return
        self._start()
        ray, spool = self.ray, Path(self._spool.name)
        gpus = self.resources.get("GPU", 0)
        pending = deque(enumerate(units))
        running = self._running  # ref -> Job
        while pending or running:
            refused = []
            while pending and len(running) < self.capacity:
                i, unit = pending.popleft()
                on_cuda = any(t.device.startswith("cuda") for t in unit)
                if on_cuda and gpus < self.spec.gpus_per_unit:
                    refused.append(self._refuse(unit, gpus))
                    continue
                job = Job(unit, spool / f"unit-{i}.log")
                job.submit()
                task = self._on_cuda if on_cuda else self._on_cpu
                running[task.remote(unit, str(job.spool), self.threads)] = job
            yield from refused
            if not running:
                continue
            ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
            if ready:
                ready, _ = ray.wait(list(running), num_returns=len(running), timeout=0)
            outcomes = [self._outcome(ref, running.pop(ref)) for ref in ready]
            outcomes += self._stop_overdue(running)
            yield from outcomes

    def _refuse(self, unit: list[Trial], gpus: float) -> Finished:
        shown = ", ".join(
            f"{k} {v / 2**30:.1f} GiB" if "memory" in k else f"{k} {v:g}"
            for k, v in sorted(self.resources.items())
            if not k.startswith("node:")
        )
        reason = (
            f"the Ray cluster has {gpus:g} GPU(s) and a CUDA unit reserves {self.spec.gpus_per_unit:g}; "
            f"it would wait forever (cluster resources: {shown})"
        )
        return Finished(unit, results_without_run(unit, "skipped", reason), f"[ablate] not run: {reason}\n")

    def _outcome(self, ref, job: Job) -> Finished:
        ray = self.ray
        try:
            results, text = ray.get(ref, timeout=GET_TIMEOUT_S)
            return Finished(job.unit, results, text)
        except ray.exceptions.RayTaskError as err:  # the task itself raised
            error = str(err)
        except ray.exceptions.GetTimeoutError:
            error = f"its result was reported ready but could not be fetched within {GET_TIMEOUT_S:g} s"
        except ray.exceptions.RayError as err:  # the worker or its node died, after Ray's retry
            error = f"{WORKER_DIED} (Ray ran it {MAX_RETRIES + 1} times): {type(err).__name__}: {err}"
        text = job.output() or "[ablate] the dead worker's output stayed on its node\n"
        return Finished(
            job.unit, results_without_run(job.unit, "failed", error), text + f"[ablate] {error}\n"
        )

    def _stop_overdue(self, running: dict) -> list[Finished]:
        out = []
        for ref, job in list(running.items()):
            if job.overdue(self.spec.timeout_s):
                self.ray.cancel(ref, force=True)
                del running[ref]
                error = f"timed out: still running {self.spec.timeout_s:g} s after it started; its task was cancelled"
                out.append(
                    Finished(
                        job.unit,
                        results_without_run(job.unit, "failed", error),
                        job.output() + f"[ablate] {error}\n",
                    )
                )
        return out
