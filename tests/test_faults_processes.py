"""Fault catalogue: dying drivers, Ctrl-C and SIGTERM. No worker outlives its driver (the product
ends them within about a second; the tests wait up to GRACE, so a loaded machine cannot fail them),
no spool folder is left behind, and an interrupted run says what it kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from subprocess import DEVNULL, PIPE

import pytest
from conftest import TINY_TRAINING

from suite.executors.base import SPOOL_PREFIX, remove_stale_spools
from suite.store import Store

TESTS = Path(__file__).resolve().parent
GRACE = 60.0  # seconds a test waits for processes to end: a bound on a hang, not a timing


def _env(studies: Path) -> dict:
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "ABLATE_STUDIES": str(studies), "ABLATE_PLUGINS": "faults", "PYTHONPATH": path}


def _driver(study: Path, results: Path, *args: str, **popen) -> subprocess.Popen:
    """`ablate run` of the study file `study` in a child process, as a user starts it: from a
    terminal, where Ctrl-C is not ignored (pytest itself may have been started where it is,
    in the background of a script, and a child inherits an ignored signal)."""
    command = [sys.executable, "-m", "suite", "run", study.stem, "--results", str(results), "--no-progress"]
    return subprocess.Popen([*command, *args], env=_env(study.parent), preexec_fn=_sigint_default, **popen)


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the name (state, ppid, …), or None once it is gone.
    Split at the last ')': a process name may hold ') ' itself."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"  # a zombie has ended


def _gone_within(seconds: float, still_there, since: float | None = None) -> bool:
    """Poll `still_there()` until it is falsy or `seconds` after `since` (default: now) have passed."""
    deadline = (since or time.time()) + seconds
    while time.time() < deadline and still_there():
        time.sleep(0.1)
    return not still_there()


def _wait_for(check, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _communicate_or_explain(driver: subprocess.Popen, timeout: float) -> str:
    """The driver's stderr once it exits; if it does not within `timeout`, kill it and fail with
    what /proc said about it (signal masks, where it waits), so a rare hang can be diagnosed."""
    try:
        return driver.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        status = Path(f"/proc/{driver.pid}/status")
        wchan = Path(f"/proc/{driver.pid}/wchan")
        state = [
            line
            for line in (status.read_text().splitlines() if status.exists() else [])
            if line.startswith("Sig")
        ]
        where = wchan.read_text() if wchan.exists() else "?"
        driver.kill()  # its workers follow it (PR_SET_PDEATHSIG)
        _, err = driver.communicate()
        pytest.fail(
            f"the driver did not exit {timeout:g} s after the signal; waiting in {where}; {state}; "
            f"pytest's own SIGINT handler: {signal.getsignal(signal.SIGINT)}; stderr: {err[-2000:]}"
        )


def _hanging_study(write_study, tmp_path: Path, n: int = 2) -> tuple[Path, list[Path]]:
    markers = [tmp_path / f"hang{i}.pids" for i in range(n)]
    datasets = [{"name": "fault", "mode": "hang", "marker": str(m)} for m in markers]
    path = write_study(
        "hangs", variants=["mean"], seeds=1, datasets=datasets, training={**TINY_TRAINING, "vectorize": False}
    )
    return path, markers


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_no_worker_outlives_its_driver(write_study, tmp_path, signum):
    path, markers = _hanging_study(write_study, tmp_path)
    driver = _driver(
        path, tmp_path / "r", "--executor", "processes", "--workers", "2", stdout=PIPE, stderr=PIPE, text=True
    )
    _wait_for(lambda: all(m.exists() and m.read_text().strip() for m in markers))
    workers = [int(m.read_text().split()[0]) for m in markers]
    spools = list(Path(tempfile.gettempdir()).glob(f"{SPOOL_PREFIX}{driver.pid}-*"))
    assert spools and all(_alive(w) for w in workers)
    driver.send_signal(signum)
    died = time.time()
    _, err = driver.communicate(timeout=60)
    assert _gone_within(GRACE, lambda: any(_alive(w) for w in workers), since=died), (
        "a worker outlived its driver"
    )
    if signum == signal.SIGTERM:  # a graceful stop: one line, the spool removed at exit
        assert driver.returncode == 130 and "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("ablate: interrupted: 0 of 2 trials kept in")
        assert not any(s.exists() for s in spools)
    else:  # kill -9 leaves the spool; the next run removes it
        assert any(s.exists() for s in spools)
        remove_stale_spools()
        assert not any(s.exists() for s in spools)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_no_ray_process_outlives_its_killed_driver(write_study, tmp_path):
    """kill -9 of a driver that started a local Ray cluster: its agents (DashboardAgent,
    RuntimeEnvAgent), raylet and workers all end (suite.executors.reaper)."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'ablate[ray]')")
    from suite.executors.reaper import descendants

    path, markers = _hanging_study(write_study, tmp_path, n=1)
    driver = _driver(
        path, tmp_path / "r", "--executor", "ray", "--workers", "1", stdout=DEVNULL, stderr=DEVNULL
    )
    try:
        _wait_for(lambda: all(m.exists() and m.read_text().strip() for m in markers), timeout=240)
        time.sleep(2.0)  # the reaper notes the family every 0.5 s (a margin for a loaded machine)
        family = descendants(driver.pid)
        names = {pid: _name(pid) for pid in family}
        assert any("raylet" in n for n in names.values()), names
        driver.kill()
        driver.wait()
        assert _gone_within(GRACE, lambda: _survivors(family)), {
            pid: names[pid] for pid in _survivors(family)
        }
    finally:
        if driver.poll() is None:
            driver.kill()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_reaper_ends_a_killed_drivers_orphans(tmp_path):
    """The mechanism behind the Ray test, without Ray: a driver starts the reaper and a child
    that outlives it; kill -9 of the driver ends the orphan, and only it: a child the driver
    started before the reaper is not the reaper's."""
    from suite.executors import reaper

    marker, earlier = tmp_path / "orphan.pid", tmp_path / "earlier.pid"
    driver_code = (
        "import subprocess, sys, time\n"
        f"e = subprocess.Popen(['sleep', '120']); open({str(earlier)!r}, 'w').write(str(e.pid)); time.sleep(0.05)\n"
        f"r = subprocess.Popen([sys.executable, {str(Path(reaper.__file__))!r}, str(__import__('os').getpid())],"
        " stdin=subprocess.PIPE, start_new_session=True)\n"
        "c = subprocess.Popen(['sleep', '120'])\n"
        f"open({str(marker)!r}, 'w').write(str(c.pid))\n"
        "time.sleep(120)\n"
    )
    bystander = subprocess.Popen(["sleep", "120"])  # not the driver's: must survive
    driver = subprocess.Popen([sys.executable, "-c", driver_code])
    try:
        _wait_for(lambda: marker.exists() and marker.read_text().strip(), timeout=60)
        orphan = int(marker.read_text())
        time.sleep(2.0)  # the reaper notes the family every 0.5 s (a margin for a loaded machine)
        driver.kill()
        driver.wait()
        assert _gone_within(GRACE, lambda: _alive(orphan)), "the orphan outlived its driver"
        assert _alive(bystander.pid)
        assert _alive(int(earlier.read_text())), "the reaper ended a child the driver had before it"
    finally:
        bystander.kill()
        bystander.wait()
        if earlier.exists():
            os.kill(int(earlier.read_text()), signal.SIGKILL)
        if driver.poll() is None:
            driver.kill()


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
    except OSError:
        return "?"


def _survivors(family: dict[int, str]) -> list[int]:
    """The processes of `family` that are still running and still the same processes."""
    return [pid for pid, start in family.items() if (f := _stat(pid)) and f[0] != "Z" and f[19] == start]


def test_stale_spools_are_removed_and_live_ones_kept(tmp_path):
    dead = Path(tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}999999999-"))  # above Linux's pid_max
    live = Path(tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{os.getppid()}-"))
    try:
        remove_stale_spools()
        assert not dead.exists() and live.exists()
    finally:
        for folder in (dead, live):
            if folder.exists():
                folder.rmdir()


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_ctrl_c_is_one_line_exit_130_and_keeps_the_finished_trials(write_study, tmp_path, executor):
    markers = [tmp_path / "hang.pids"]
    datasets = ["reversal", {"name": "fault", "mode": "hang", "marker": str(markers[0])}]
    path = write_study(
        "mixed", variants=["mean"], seeds=1, datasets=datasets, training={**TINY_TRAINING, "vectorize": False}
    )
    args = ["--executor", "processes", "--workers", "1"] if executor == "processes" else []
    driver = _driver(
        path,
        tmp_path / "r",
        *args,
        stdout=PIPE,
        stderr=PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C reaches the whole foreground group, workers included
    )
    store = Store(tmp_path / "r" / "mixed")
    _wait_for(lambda: markers[0].exists() and len(store.runs()) == 1)
    before = store.runs()
    os.killpg(driver.pid, signal.SIGINT)
    err = _communicate_or_explain(driver, 60)
    assert driver.returncode == 130
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(
        f"ablate: interrupted: 1 of 2 trials kept in {tmp_path / 'r' / 'mixed'}; rerun to finish"
    )
    assert store.pending() == 0  # compacted on the way out
    after = store.runs()
    assert after[["key", "status", "final_loss"]].equals(before[["key", "status", "final_loss"]])


def _mixed(write_study, tmp_path) -> tuple[Path, Path]:
    """A study of two trials: one that finishes, one that hangs (its marker names its pid)."""
    marker = tmp_path / "hang.pids"
    datasets = ["reversal", {"name": "fault", "mode": "hang", "marker": str(marker)}]
    path = write_study(
        "mixed", variants=["mean"], seeds=1, datasets=datasets, training={**TINY_TRAINING, "vectorize": False}
    )
    return path, marker


EXECUTORS = {
    "serial": [],
    "processes": ["--executor", "processes", "--workers", "1"],
    "ray": ["--executor", "ray", "--workers", "1"],
}


@pytest.mark.slow
@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_sigterm_is_ctrl_c_on_every_executor(write_study, tmp_path, executor):
    """`kill PID` of the driver alone: it keeps what finished, says so in one line, exits 130."""
    if executor == "ray":
        pytest.importorskip("ray", reason="Ray is not installed (pip install 'ablate[ray]')")
    path, marker = _mixed(write_study, tmp_path)
    driver = _driver(path, tmp_path / "r", *EXECUTORS[executor], stdout=PIPE, stderr=PIPE, text=True)
    store = Store(tmp_path / "r" / "mixed")
    try:
        _wait_for(lambda: marker.exists() and len(store.runs()) == 1, timeout=240)
        driver.send_signal(signal.SIGTERM)
        err = _communicate_or_explain(driver, 120)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"ablate: interrupted: 1 of 2 trials kept in {tmp_path / 'r' / 'mixed'}"), err
    assert "Traceback" not in err and "Stack trace" not in err and "*** SIG" not in err, err
    assert store.runs()["status"].tolist() == ["ok"]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_resource_tracker_prints_nothing_of_its_own(write_study, tmp_path):
    """The pool's resource tracker, killed mid-run, is started again by multiprocessing, which
    then prints a KeyError traceback of its own for names it never saw: the run says nothing."""
    from suite.executors.reaper import descendants

    gate = tmp_path / "go"
    markers = [tmp_path / f"w{i}.pids" for i in range(2)]
    datasets = [{"name": "fault", "mode": "none", "marker": str(m), "wait_for": str(gate)} for m in markers]
    path = write_study(
        "tracked",
        variants=["mean"],
        seeds=1,
        datasets=datasets,
        training={**TINY_TRAINING, "vectorize": False},
    )
    driver = _driver(
        path, tmp_path / "r", "--executor", "processes", "--workers", "2", stdout=PIPE, stderr=PIPE, text=True
    )
    try:
        _wait_for(lambda: all(m.exists() and m.read_text().strip() for m in markers))
        cmdline = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in descendants(driver.pid)}
        trackers = [pid for pid, line in cmdline.items() if b"resource_tracker import main" in line]
        assert trackers, {pid: _name(pid) for pid in descendants(driver.pid)}
        for pid in trackers:
            os.kill(pid, signal.SIGKILL)
        gate.write_text("go")
        _, err = driver.communicate(timeout=240)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, err
    assert "Traceback" not in err and "KeyError" not in err and "resource_tracker" not in err, err
