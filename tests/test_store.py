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


def test_each_unit_is_one_fragment_and_compaction_keeps_what_readers_saw(tmp_path):
    store = Store(tmp_path / "s")
    store.write_many([(row("a", 1.0), [{"key": "a", "step": 0, "loss": 1.0}], [])])
    store.write_many([(row("b", 2.0), [{"key": "b", "step": 0, "loss": 2.0}], [])])
    assert not store.runs_path.exists()  # nothing rewritten: two fragments
    assert len(list(store.fragments_dir.glob("*.unit"))) == 2  # one file per unit
    before = (store.runs(), store.history())
    store.compact()
    assert not list(store.fragments_dir.iterdir())
    pd.testing.assert_frame_equal(before[0], store.runs())
    pd.testing.assert_frame_equal(before[1], store.history())
    assert pd.read_parquet(store.runs_path)["key"].tolist() == ["a", "b"]


def test_a_write_reads_nothing(tmp_path, monkeypatch):
    """A write's cost cannot grow with the study: it reads neither the tables nor the fragments."""
    import pyarrow.parquet as pq

    import suite.store

    store = Store(tmp_path / "s")
    for i in range(3):
        store.write(row(f"k{i}", 1.0), [{"key": f"k{i}", "step": 0, "loss": 1.0}])
    store.compact()
    store.write(row("x", 1.0), [])

    def refuse(*args, **kwargs):
        raise AssertionError("a write read a table")

    monkeypatch.setattr(pq, "read_table", refuse)
    monkeypatch.setattr(pq, "ParquetFile", refuse)
    monkeypatch.setattr(suite.store, "_read_unit", refuse)
    store.write(row("y", 1.0), [{"key": "y", "step": 0, "loss": 1.0}])


def test_any_table_rides_along_and_is_replaced_with_its_trial(tmp_path):
    store = Store(tmp_path / "s")
    store.write_many([{"runs": row("a", 1.0), "history": [], "predictions": [{"key": "a", "p": 0.1}]}])
    store.write_many([(row("b", 1.0), [], [], [{"key": "b", "p": 0.2}])])  # a 4-tuple: predictions
    assert sorted(store.table("predictions")["key"]) == ["a", "b"]
    with store.lock():
        pass  # compacts
    assert (store.dir / "predictions.parquet").exists() and "predictions" in store.tables()
    store.write(row("a", 0.5), [])  # rerun of a without predictions: its stale ones go
    assert store.table("predictions")["key"].tolist() == ["b"]


def test_a_unit_half_written_by_a_dead_writer_does_not_count_and_is_swept(tmp_path):
    store = Store(tmp_path / "s")
    store.write(row("a", 1.0), [{"key": "a", "step": 0, "loss": 1.0}])
    (unit,) = store.fragments_dir.iterdir()
    half = store.fragments_dir / f".{unit.name}.123.tmp"  # a writer killed while writing a unit
    half.write_bytes(unit.read_bytes()[:-10])
    (store.dir / ".runs.parquet.123.tmp").write_bytes(b"half")
    assert set(store.history()["key"]) == {"a"} and store.finished_keys() == {"a"}
    assert not store.check().ok
    with store.lock():
        assert not half.exists() and not (store.dir / ".runs.parquet.123.tmp").exists()
    assert store.check().ok


def test_a_damaged_unit_file_is_one_line_for_readers_and_dropped_by_a_writer(tmp_path):
    from suite.store import StoreError

    store = Store(tmp_path / "s")
    store.write(row("a", 1.0), [{"key": "a", "step": 0, "loss": 1.0}])
    store.write(row("b", 1.0), [{"key": "b", "step": 0, "loss": 1.0}])
    damaged = sorted(store.fragments_dir.iterdir())[-1]
    damaged.write_bytes(damaged.read_bytes()[:40])  # e.g. a power cut: the file was never synced
    with pytest.raises(StoreError, match="is damaged .*ablate doctor s --fix"):
        store.runs()
    lines = []
    with Store(store.dir, notify=lines.append).lock():
        pass
    assert any("was damaged; its unit's trials run again" in line for line in lines)
    assert store.finished_keys() == {"a"}


def test_killed_in_the_middle_of_compaction_readers_see_the_same_rows(tmp_path, monkeypatch):
    store = Store(tmp_path / "s")
    store.write(row("a", 1.0), [{"key": "a", "step": 0, "loss": 1.0}])
    store.compact()
    store.write(row("a", 0.5), [{"key": "a", "step": 0, "loss": 0.5}])
    store.write(row("b", 2.0), [{"key": "b", "step": 0, "loss": 2.0}])
    expected = (store.runs(), store.history())
    real = store._write_file
    calls = []

    def dies_after_history(path, table):
        calls.append(path.name)
        if path.name == "runs.parquet":
            raise KeyboardInterrupt  # history is compacted, runs is not
        real(path, table)

    monkeypatch.setattr(store, "_write_file", dies_after_history)
    with pytest.raises(KeyboardInterrupt):
        store.compact()
    assert calls == ["history.parquet", "runs.parquet"]
    pd.testing.assert_frame_equal(expected[0], store.runs())
    pd.testing.assert_frame_equal(expected[1], store.history())
    monkeypatch.undo()
    store.compact()
    pd.testing.assert_frame_equal(expected[0], store.runs())
    pd.testing.assert_frame_equal(expected[1], store.history())


def test_compacted_tables_carry_their_schema_version(tmp_path):
    import pyarrow.parquet as pq

    from suite.store import SCHEMA_KEY, SCHEMA_VERSION

    store = Store(tmp_path / "s")
    store.write(row("a", 1.0), [{"key": "a", "step": 0, "loss": 1.0}])
    store.compact()
    for path in (store.runs_path, store.history_path):
        assert pq.read_schema(path).metadata[SCHEMA_KEY] == str(SCHEMA_VERSION).encode()


def test_two_store_objects_on_one_folder_do_not_overwrite_each_other(tmp_path):
    first, second = Store(tmp_path / "s"), Store(tmp_path / "s")
    first.write(row("a", 1.0), [])
    second.write(row("b", 1.0), [])
    first.write(row("c", 1.0), [])
    second.write(row("a", 0.5), [])  # the latest write of a trial wins
    runs = first.runs().set_index("key")
    assert sorted(runs.index) == ["a", "b", "c"] and runs.loc["a", "final_loss"] == 0.5
