import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from suite.store import Store, StoreLocked


def row(key, loss, status="ok"):
    return {"key": key, "status": status, "final_loss": loss}


def test_write_replaces_a_trial_and_never_duplicates(tmp_path):
    store = Store(tmp_path / "s")
    store.write(row("a", 1.0), [{"key": "a", "step": 0, "loss": 1.0}])
    store.write(row("b", 2.0), [{"key": "b", "step": 0, "loss": 2.0}])
    store.write(row("a", 0.5), [{"key": "a", "step": 0, "loss": 0.5}, {"key": "a", "step": 1, "loss": 0.4}])
    runs = store.runs().set_index("key")
    assert runs.loc["a", "final_loss"] == 0.5 and len(runs) == 2
    assert len(store.history()) == 3
    assert store.finished_keys() == {"a", "b"}
    store.write(row("b", float("nan"), status="failed"), [])
    assert store.finished_keys() == {"a"}  # failed trials are run again
    assert set(store.history()["key"]) == {"a"}


def test_second_writer_is_refused(tmp_path):
    store = Store(tmp_path / "s")
    with store.lock():
        with pytest.raises(StoreLocked, match="is being written by pid"):
            with Store(tmp_path / "s").lock():
                pass
    with store.lock():  # released afterwards
        pass


def _ablate(*args, env):
    return subprocess.Popen(
        [sys.executable, "-m", "suite", *args, "--no-progress"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_kill_9_then_rerun_equals_an_uninterrupted_run(write_study, tmp_path):
    path = write_study(
        seeds=3, variants=["mean", "positional"], training={"lr": 0.01, "epochs": 150, "history_every": 10}
    )
    env = {**os.environ, "ABLATE_STUDIES": str(path.parent)}
    killed, clean = tmp_path / "killed", tmp_path / "clean"

    proc = _ablate("run", "tiny", "--results", str(killed), env=env)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if len(Store(killed / "tiny").runs()) >= 2:  # readers see fragments as they are written
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the study finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = Store(killed / "tiny").runs()  # readable after kill -9
    assert 2 <= len(partial) < 6

    second = _ablate("run", "tiny", "--results", str(killed), env=env)
    assert second.wait(timeout=300) == 0, second.stderr.read()
    reference = _ablate("run", "tiny", "--results", str(clean), env=env)
    assert reference.wait(timeout=300) == 0, reference.stderr.read()

    cols = ["key", "variant", "seed", "status", "final_loss", "final_accuracy", "best_loss"]
    a = Store(killed / "tiny").runs()[cols].sort_values("key").reset_index(drop=True)
    b = Store(clean / "tiny").runs()[cols].sort_values("key").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    ha = Store(killed / "tiny").history().sort_values(["key", "step", "split"]).reset_index(drop=True)
    hb = Store(clean / "tiny").history().sort_values(["key", "step", "split"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(ha, hb)


def test_concurrent_run_is_refused_by_the_cli(write_study, tmp_path):
    path = write_study()
    env = {**os.environ, "ABLATE_STUDIES": str(path.parent)}
    with Store(tmp_path / "r" / "tiny").lock():
        proc = _ablate("run", "tiny", "--results", str(tmp_path / "r"), env=env)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3 and "is being written by" in err
    assert not (tmp_path / "r" / "tiny" / "runs.parquet").exists()
