"""Executors: serial, a process pool and a real local Ray cluster run the same
study to the same rows, and every fault ends as a recorded row in a finished study."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import faults  # noqa: F401  (registers the `fault` dataset here; workers import it via ABLATE_PLUGINS)
import pandas as pd
import pytest
import torch
from conftest import TINY_TRAINING

from suite.cli import main
from suite.executors import ExecutorError, ExecutorSpec, with_overrides
from suite.executors.worker import STOPPED
from suite.runner import run_study
from suite.store import Store
from suite.study import StudyError, load_study

TESTS = Path(__file__).resolve().parent
HAS_RAY = importlib.util.find_spec("ray") is not None
METRICS = ["final_loss", "best_loss", "final_accuracy", "best_accuracy", "params", "steps"]


@pytest.fixture(autouse=True)
def plugins(monkeypatch):
    monkeypatch.setenv("ABLATE_PLUGINS", "faults")


def run(study_path: Path, tmp_path: Path, **executor) -> pd.DataFrame:
    """Run a study on an executor; return its rows by key."""
    study = load_study(study_path)
    store = Store(tmp_path / "results" / f"{study.name}-{executor.get('kind', 'serial')}")
    counts = run_study(study, store, progress=False, executor=ExecutorSpec(**executor))
    runs = store.runs().set_index("key").sort_index()
    assert sum(counts.values()) - counts["cached"] == len(study.trials()) == len(runs)
    for key, row in runs.iterrows():  # every row names a log file that exists
        assert row["log"] == f"logs/{key}.log" and (store.dir / row["log"]).is_file()
    return runs


def faulty_study(
    write_study, tmp_path: Path, modes: list[str], wait_for: dict[str, str] | None = None
) -> Path:
    """One trial per mode; `wait_for` maps a mode to the mode whose first attempt it waits for."""
    datasets = [{"name": "fault", "mode": m, "marker": str(tmp_path / f"{m}.attempts")} for m in modes]
    for dataset in datasets:
        if dataset["mode"] in (wait_for or {}):
            dataset["wait_for"] = str(tmp_path / f"{wait_for[dataset['mode']]}.attempts")
    # One trial per unit, so each fault hits only its own trial (a vectorized unit shares one process).
    training = {**TINY_TRAINING, "vectorize": False}
    return write_study(
        f"faults_{len(modes)}", variants=["mean"], seeds=1, datasets=datasets, training=training
    )


def by_mode(runs: pd.DataFrame) -> dict[str, pd.Series]:
    return {json.loads(r["config"])["dataset_params"]["mode"]: r for _, r in runs.iterrows()}


def attempts(tmp_path: Path, mode: str) -> int:
    path = tmp_path / f"{mode}.attempts"
    return len(path.read_text().splitlines()) if path.exists() else 0


def log_text(row: pd.Series, tmp_path: Path) -> str:
    return next((tmp_path / "results").glob(f"*/{row['log']}")).read_text()


@pytest.fixture(scope="module")
def same_rows(tmp_path_factory):
    """A study with an unavailable device, and its rows run serially (the reference)."""
    import yaml
    from conftest import TINY_MEASURE, TINY_TRAINING

    directory = tmp_path_factory.mktemp("same") / "studies"
    directory.mkdir()
    path = directory / "same.yaml"
    spec = {
        "description": "Same rows whichever executor runs them.",
        "variants": ["mean", "attention"],
        "datasets": ["reversal"],
        "seeds": 2,
        "devices": ["cpu", "cuda"],
        "model": {"dim": 2},
        "training": TINY_TRAINING,
        "measure": TINY_MEASURE,
    }
    path.write_text(yaml.safe_dump(spec))
    return path, run(path, directory.parent)


def assert_same_rows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.index) == list(b.index)  # the executor is not part of a trial's key
    assert list(a["status"]) == list(b["status"])
    ok = a["status"] == "ok"
    assert ok.sum() == (8 if torch.cuda.is_available() else 4)  # the cuda rows are skipped without one
    pd.testing.assert_frame_equal(a.loc[ok, METRICS], b.loc[ok, METRICS], rtol=1e-5)


# --- the study key and the command line ---------------------------------------------


def test_executor_key_is_validated_and_not_part_of_the_trial_key(write_study):
    serial = load_study(write_study("a"))
    pooled = load_study(write_study("a", executor={"kind": "processes", "workers": 2}))
    assert pooled.spec.executor.kind == "processes" and serial.spec.executor == ExecutorSpec()
    assert [t.key for t in serial.trials()] == [t.key for t in pooled.trials()]
    with pytest.raises(StudyError, match=r"executor\.kind.*'threads'"):
        load_study(write_study("b", executor={"kind": "threads"}))
    with pytest.raises(StudyError, match=r"executor\.start_method.*'fork'"):
        load_study(write_study("c", executor={"kind": "processes", "start_method": "fork"}))
    with pytest.raises(StudyError, match=r"executor\.nodes: unknown key; allowed keys: kind, workers"):
        load_study(write_study("d", executor={"nodes": 3}))


def test_command_line_overrides_the_study(write_study, tmp_path, capsys):
    spec = ExecutorSpec(kind="processes", workers=4, timeout_s=60)
    assert with_overrides(spec, kind="ray", workers=2) == ExecutorSpec(kind="ray", workers=2, timeout_s=60)
    with pytest.raises(ExecutorError, match="--workers needs a parallel executor"):
        with_overrides(ExecutorSpec(), workers=2)
    with pytest.raises(ExecutorError, match="--address names a Ray cluster"):
        with_overrides(ExecutorSpec(), address="head:6379")
    with pytest.raises(ExecutorError, match="--workers: Input should be greater than or equal to 1"):
        with_overrides(ExecutorSpec(), kind="processes", workers=-1)
    path = write_study(seeds=1, variants=["mean"])
    args = ["run", "tiny", "--studies", str(path.parent), "--results", str(tmp_path / "r"), "--no-progress"]
    assert main([*args, "--workers", "2"]) == 2
    assert "--executor processes" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # refused before anything was written


# --- serial -------------------------------------------------------------------------


def test_serial_keeps_output_and_failures_as_rows(write_study, tmp_path):
    runs = by_mode(run(faulty_study(write_study, tmp_path, ["none", "raise", "print"]), tmp_path))
    assert runs["none"]["status"] == "ok" and runs["print"]["status"] == "ok"
    assert runs["raise"]["status"] == "failed" and "RuntimeError: injected fault" in runs["raise"]["error"]
    log = log_text(runs["print"], tmp_path)
    assert "python stdout line" in log and "python stderr line" in log
    assert log.startswith("[ablate]") and runs["print"].name in log


# --- processes ----------------------------------------------------------------------


@pytest.mark.slow
def test_processes_give_the_serial_rows(same_rows, tmp_path):
    path, serial = same_rows
    args = ["run", "same", "--studies", str(path.parent), "--results", str(tmp_path), "--no-progress"]
    assert main([*args, "--executor", "processes", "--workers", "2"]) == 0
    pooled = Store(tmp_path / "same").runs().set_index("key").sort_index()
    assert_same_rows(serial, pooled)
    assert set(pooled.loc[pooled["status"] == "ok", "threads"]) == {1}  # 2 cores ÷ 2 workers
    skipped = pooled[pooled["device"] == "cuda"]
    assert (skipped["status"] == "skipped").all() and skipped["error"].str.contains("CUDA").all()


def test_a_pool_starts_a_worker_per_core_and_none_beyond_its_trials_but_keeps_their_threads():
    """Each worker imports torch: the pool starts one per core (more would contend for the cores
    while the driver plans) and never more than the trials to run. Its threads stay those of the
    configured pool, so a trial is measured alike however many remain."""
    from suite.executors.processes import ProcessExecutor

    spec = ExecutorSpec(kind="processes", workers=4)
    cores = os.cpu_count() or 1
    small, full = ProcessExecutor(spec, at_most=1), ProcessExecutor(spec)
    assert (small.workers, full.workers) == (1, 4)
    assert small.threads == full.threads == max(1, cores // 4)
    assert ProcessExecutor(spec, at_most=9).workers == 4
    with small as pool:
        assert len(pool._workers()) == 1
    with full as pool:
        assert len(pool._workers()) == min(4, cores)


@pytest.mark.slow
def test_processes_survive_raises_exits_and_sigkills(write_study, tmp_path):
    modes = ["none", "raise", "exit", "sigkill", "exit_once", "print"]
    runs = by_mode(
        run(
            faulty_study(write_study, tmp_path, modes),
            tmp_path,
            kind="processes",
            workers=2,
            start_method="forkserver",
        )
    )
    # an innocent bystander, run again if another death stopped it
    assert runs["none"]["status"] == "ok", runs["none"]["error"]
    assert runs["raise"]["status"] == "failed" and "RuntimeError: injected fault" in runs["raise"]["error"]
    for mode in ("exit", "sigkill"):
        assert runs[mode]["status"] == "failed" and runs[mode]["error"].startswith("worker died"), mode
        log = log_text(runs[mode], tmp_path)
        # Retried once, never more; an attempt that the other one's death stopped is run again for
        # free (it may have been stopped before its worker started it, or after it loaded its data).
        stops = log.count("stopped because another unit's worker died")
        assert 2 <= attempts(tmp_path, mode) <= 2 + stops, f"{mode}:\n{log}"
        assert 2 <= log.count("[ablate] start ") <= 2 + stops, f"{mode}:\n{log}"
        assert log.count("running it again, once") == 1, f"{mode}:\n{log}"
    # died once, ran again and finished (a third load if another unit's death stopped it)
    assert runs["exit_once"]["status"] == "ok" and attempts(tmp_path, "exit_once") >= 2
    assert "C-level stderr line" in log_text(runs["print"], tmp_path)


@pytest.mark.slow
def test_a_bystander_deaf_to_sigterm_is_killed_after_the_grace_and_run_again_free(
    write_study, tmp_path, monkeypatch
):
    """Its worker notes no stop (no handler ran) and is alive when the grace ends: it was stopped
    with the pool, not dead, so its unit is not charged the one retry that a death costs."""
    import suite.executors.processes as processes

    monkeypatch.setattr(processes, "STOP_GRACE_S", 1.0)
    path = faulty_study(write_study, tmp_path, ["deaf_once", "exit"], wait_for={"exit": "deaf_once"})
    runs = by_mode(run(path, tmp_path, kind="processes", workers=2, start_method="forkserver"))
    log = log_text(runs["deaf_once"], tmp_path)
    assert runs["deaf_once"]["status"] == "ok", log
    assert "stopped because another unit's worker died" in log and "running it again, once" not in log, log
    first_attempt = log.split("stopped because another unit's worker died")[0]
    assert first_attempt.startswith("[ablate] start ") and STOPPED not in first_attempt, log
    assert runs["exit"]["status"] == "failed" and attempts(tmp_path, "exit") >= 2


def test_a_sigterm_from_the_moment_the_spool_is_open_leaves_the_stop_note(tmp_path):
    """The note is the worker's own account of a stop; it covers the start line's writing too."""
    spool = tmp_path / "unit.log"
    script = (
        "import os, signal\n"
        "from suite.executors import worker\n"
        "worker.init_pool_worker(1)\n"
        "def header(unit):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return '[ablate] start'\n"
        "worker.header = header\n"
        f"worker.run_logged([], {str(spool)!r}, 1)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert STOPPED in spool.read_text()


@pytest.mark.slow
def test_units_of_several_trials_succeed_and_die_together(write_study, tmp_path, monkeypatch):
    """A unit may hold several trials (seeds trained together): each gets its row
    and the unit's log, and when its worker dies every one is recorded failed."""
    import suite.train_run as runner

    def pairs(trials):
        return [trials[i : i + 2] for i in range(0, len(trials), 2)]

    monkeypatch.setattr(runner, "plan", pairs)
    path = faulty_study(write_study, tmp_path, ["none", "print", "exit", "raise"])
    runs = by_mode(run(path, tmp_path, kind="processes", workers=2, start_method="forkserver"))
    assert runs["none"]["status"] == runs["print"]["status"] == "ok"
    assert "python stdout line" in log_text(runs["none"], tmp_path)  # the unit's output, in both logs
    assert runs["exit"]["status"] == runs["raise"]["status"] == "failed"
    assert runs["exit"]["error"] == runs["raise"]["error"] and runs["raise"]["error"].startswith(
        "worker died"
    )
    assert attempts(tmp_path, "exit") == 2 and attempts(tmp_path, "raise") == 0  # the unit died before it


@pytest.mark.slow
def test_processes_stop_a_unit_past_its_timeout(write_study, tmp_path):
    path = faulty_study(write_study, tmp_path, ["hang"])
    runs = by_mode(run(path, tmp_path, kind="processes", workers=2, timeout_s=2, start_method="forkserver"))
    assert runs["hang"]["status"] == "failed" and runs["hang"]["error"].startswith("timed out")
    log = log_text(runs["hang"], tmp_path)
    assert log.startswith("[ablate] start ") and "its worker was killed" in log


# --- ray ----------------------------------------------------------------------------

needs_ray = pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (pip install '.[ray]')")
ON_RAY = {"kind": "ray", "runtime_env": {"env_vars": {"PYTHONPATH": str(TESTS)}}}


@pytest.fixture(scope="module")
def ray_cluster():
    """A real local Ray cluster with 2 CPUs, shared by this module's Ray tests."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024**2, log_to_driver=False)
    yield ray
    ray.shutdown()


@needs_ray
@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_ray_gives_the_serial_rows_and_refuses_cuda_without_gpus(same_rows, tmp_path, ray_cluster):
    path, serial = same_rows
    on_ray = run(path, tmp_path, **ON_RAY)
    assert_same_rows(serial, on_ray)
    skipped = on_ray[on_ray["device"] == "cuda"]
    assert (skipped["status"] == "skipped").all()
    assert skipped["error"].str.contains("the Ray cluster has 0 GPU").all()
    with pytest.raises(ExecutorError, match=r"cpus_per_unit: 4 asked for, but the Ray cluster has 2 CPU"):
        run(path, tmp_path, **ON_RAY, cpus_per_unit=4)


@needs_ray
@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_ray_survives_raises_exits_sigkills_and_hangs(write_study, tmp_path, ray_cluster):
    modes = ["raise", "exit", "sigkill", "exit_once"]
    runs = by_mode(run(faulty_study(write_study, tmp_path, modes), tmp_path, **ON_RAY))
    assert runs["raise"]["status"] == "failed" and "RuntimeError: injected fault" in runs["raise"]["error"]
    for mode in ("exit", "sigkill"):
        assert runs[mode]["status"] == "failed" and runs[mode]["error"].startswith("worker died"), mode
        assert attempts(tmp_path, mode) == 2, mode  # max_retries=1
    assert runs["exit_once"]["status"] == "ok" and attempts(tmp_path, "exit_once") == 2
    hung = by_mode(run(faulty_study(write_study, tmp_path, ["hang"]), tmp_path, **ON_RAY, timeout_s=2))
    assert hung["hang"]["status"] == "failed" and hung["hang"]["error"].startswith("timed out")


def test_ray_missing_is_a_clear_error(monkeypatch):
    import builtins

    from suite import executors

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("no ray here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ExecutorError, match=r"pip install 'ablate\[ray\]'"):
        with executors.create(ExecutorSpec(kind="ray")):
            pass
