"""A local process pool: `concurrent.futures.ProcessPoolExecutor`, spawn or forkserver.

Workers get configs and build their models themselves; each uses
cores ÷ workers torch threads (2 workers × 2 threads oversubscribed a 2-core
machine 3–9×). At most `workers` units are in flight, so a unit handed to the
pool starts at once. A worker per core starts with the pool, the rest as units
need them: a run of few units (seeds trained together are one) starts few.

A worker that dies (segfault, `os._exit`, SIGKILL) breaks the whole pool: every
future fails with `BrokenProcessPool` and the pool stops its other workers with
SIGTERM, which they note in their units' spool files; one still running after
a grace is killed, and counts as stopped too. Once they have stopped, the pool
is rebuilt: a unit whose worker was merely stopped runs again at no cost; a unit
whose own worker died runs again once, and a second death records it `failed`
("worker died").
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
import traceback
import warnings
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import wait as wait_for_sentinels
from pathlib import Path

from suite import kinds
from suite.executors.base import (
    POLL_S,
    SPOOL_PREFIX,
    WORKER_DIED,
    Finished,
    Job,
    remove_stale_spools,
    results_without_run,
)
from suite.executors.spec import ExecutorSpec
from suite.executors.worker import STOPPED, init_pool_worker, pid_file, preload, run_logged, worker_pid
from suite.kinds import Trial

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
STOP_GRACE_S = 10.0  # how long stopped workers get to exit before they are killed
# A unit stopped this often by deaths that no unit in flight owned (a worker that died before it
# wrote anything) is given up. A stop whose culprit is known costs nothing: the culprit's own
# retries are bounded (one), so those stops are too.
MAX_STOPS = 3


QUIET = "import os; os.dup2(os.open(os.devnull, os.O_WRONLY), 2); "  # the child's stderr: /dev/null


def quiet_resource_tracker() -> None:
    """The pool's resource tracker (a child that unlinks leaked semaphores) prints nothing of its
    own: it starts with its stderr on /dev/null, and when it dies it is started again the same way
    without multiprocessing's warning (the new one would print a KeyError traceback for every
    semaphore the dead one had been told of). A run says what happened in its own words."""
    from multiprocessing import resource_tracker, util

    tracker = resource_tracker._resource_tracker
    if getattr(tracker, "_ablate_quiet", False):
        return
    original, spawn = tracker.ensure_running, util.spawnv_passfds

    def quiet_spawn(path, args, passfds):
        args = list(args)
        if "-c" in args:
            args[args.index("-c") + 1] = QUIET + args[args.index("-c") + 1]
        return spawn(path, args, passfds)

    def ensure_running() -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="resource_tracker: process died unexpectedly")
            util.spawnv_passfds = quiet_spawn
            try:
                original()
            finally:
                util.spawnv_passfds = spawn

    tracker.ensure_running = ensure_running
    tracker._ablate_quiet = True


class ProcessExecutor:
    def __init__(self, spec: ExecutorSpec, at_most: int | None = None):
        cores = os.cpu_count() or 1
        self.spec = spec
        configured = spec.workers or cores
        # Threads follow the configured pool, so a trial is measured alike however many remain;
        # the pool never holds more workers (each imports torch) than there are trials to run.
        self.threads = spec.threads or max(1, cores // configured)
        self.workers = min(configured, at_most or configured)
        self.cores = cores
        self.context = multiprocessing.get_context(spec.start_method)
        if spec.start_method == "forkserver":
            # The server imports torch once and never runs it; workers fork from it
            # in milliseconds, which makes rebuilding a pool after a death cheap.
            self.context.set_forkserver_preload(["suite.kinds", *kinds.BUILTIN.values(), *kinds.RUN_MODULES])
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> ProcessExecutor:
        quiet_resource_tracker()
        remove_stale_spools()
        self._spool = tempfile.TemporaryDirectory(prefix=f"{SPOOL_PREFIX}{os.getpid()}-")
        # Workers inherit the environment when they start: OpenMP reads it before torch runs.
        self._saved_env = {name: os.environ.get(name) for name in THREAD_ENV}
        os.environ.update({name: str(self.threads) for name in THREAD_ENV})
        self._children_before = {p.pid for p in multiprocessing.active_children()}
        # Start a worker per core now, each importing what units need (torch) while the driver plans
        # (more at once would only contend for the cores); the pool starts the rest as units need them.
        self._pool = self._new_pool()
        for _ in range(min(self.workers, self.cores)):
            self._pool.submit(preload)
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if self._pool is not None:
            if exc_type is not None:  # interrupted: stop the workers rather than let them finish
                for child in self._workers():
                    child.kill()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._spool.cleanup()

    def run(self, units: list[list[Trial]]) -> Iterator[Finished]:
        spool = Path(self._spool.name)
        queue = deque(Job(unit, spool / f"unit-{i}.log") for i, unit in enumerate(units))
        running: dict[Future, Job] = {}
        while queue or running:
            self._fill(queue, running)
            done, _ = wait(running, timeout=POLL_S, return_when=FIRST_COMPLETED)
            if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                outcomes = self._recover(running, queue)
            else:
                outcomes = [self._finished(running.pop(f), f) for f in done]
                self._stop_overdue(running)
            self._fill(queue, running)  # keep workers busy while results are written
            yield from outcomes

    def _fill(self, queue: deque, running: dict) -> None:
        if self._pool is None:
            self._pool = self._new_pool()
        while queue and len(running) < self.workers:
            job = queue.popleft()
            job.submit()
            pid_file(job.spool).unlink(missing_ok=True)  # an earlier attempt's worker is not this one's
            try:
                future = self._pool.submit(run_logged, job.unit, str(job.spool), self.threads)
            except BrokenProcessPool:  # a worker died while idle, or a death not yet seen
                queue.appendleft(job)
                if not running:  # nothing in flight to recover: start a new pool next time
                    self._pool.shutdown(wait=True)
                    self._pool = None
                return
            running[future] = job

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=self.context,
            initializer=init_pool_worker,
            initargs=(self.threads, os.getpid()),
        )

    def _finished(self, job: Job, future: Future) -> Finished:
        try:
            results, text = future.result()
            return Finished(job.unit, results, text)
        except Exception as err:  # the unit could not be sent, run or returned
            error = "".join(traceback.format_exception(err))
            return self._failed(job, error)

    def _recover(self, running: dict, queue: deque) -> list[Finished]:
        """After a worker died: let the pool's other workers stop, drop the pool,
        and sort each unit in flight into finished, to run again, or failed."""
        workers = self._workers()
        deadline = time.monotonic() + STOP_GRACE_S
        while workers and time.monotonic() < deadline:
            wait_for_sentinels([w.sentinel for w in workers], timeout=deadline - time.monotonic())
            workers = [w for w in workers if w.exitcode is None]
        for worker in workers:  # alive, so not the death: stopped, by us (stuck where no signal handler runs)
            worker.kill()
        self._pool.shutdown(wait=True)
        self._pool = None
        stragglers = {w.pid for w in workers}
        outcomes, again = [], []
        broken = [f for f in running if isinstance(f.exception(), BrokenProcessPool)]
        stopped = {f for f in broken if not running[f].timed_out and _stopped(running[f], stragglers)}
        culprit = len(stopped) < len(broken)  # a death that a unit in flight owns
        for future, job in running.items():
            if future not in broken:
                outcomes.append(self._finished(job, future))
                continue
            if job.timed_out:
                error = f"timed out: still running {self.spec.timeout_s:g} s after it started; its worker was killed"
                outcomes.append(self._failed(job, error))
            elif future in stopped:
                if not culprit:
                    job.stops += 1
                if job.stops > MAX_STOPS:
                    outcomes.append(
                        self._failed(job, f"{WORKER_DIED}: stopped {job.stops} times by deaths no unit owned")
                    )
                else:
                    job.note("stopped because another unit's worker died; running it again")
                    again.append(job)
            else:
                job.deaths += 1
                if job.deaths > 1:
                    error = (
                        f"{WORKER_DIED}: its worker process ended without returning (a crash, os._exit "
                        "or a signal), on the first run and on the one retry"
                    )
                    outcomes.append(self._failed(job, error))
                else:
                    job.note("its worker died before the unit finished; running it again, once")
                    again.append(job)
        running.clear()
        queue.extendleft(reversed(again))
        return outcomes

    def _failed(self, job: Job, error: str) -> Finished:
        return Finished(
            job.unit, results_without_run(job.unit, "failed", error), job.output() + f"[ablate] {error}\n"
        )

    def _stop_overdue(self, running: dict) -> None:
        """Kill the worker of each unit past its timeout; the pool breaks and recovers."""
        workers = {w.pid: w for w in self._workers()}
        for job in running.values():
            if job.timed_out or not job.overdue(self.spec.timeout_s):
                continue
            job.timed_out = True
            pid = worker_pid(job.spool)
            targets = [workers[pid]] if pid in workers else workers.values()
            for worker in targets:  # all of them if its worker is unknown (it never started)
                worker.kill()

    def _workers(self) -> list:
        return [p for p in multiprocessing.active_children() if p.pid not in self._children_before]


def _stopped(job: Job, stragglers: set[int]) -> bool:
    """A unit's attempt that another's death stopped: it never started, its worker noted the stop,
    or its worker was still alive at the end of the grace."""
    attempt = job.attempt_output()
    return not attempt or STOPPED in attempt or worker_pid(job.spool) in stragglers
