"""Fault catalogue: damaged, old and unwritable result tables, a full disk. Each ends as one
line and a non-zero exit, or as a repair that says what it did; nothing already written is lost."""

from __future__ import annotations

import errno
import json
import os

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import ablate

from suite.store import DAMAGED, SCHEMA_KEY, Store


def halve(path):
    os.truncate(path, path.stat().st_size // 2)
    return path.read_bytes()


def test_a_truncated_runs_table_is_set_aside_and_its_trials_rerun(finished, capsys):
    studies, results, store = finished
    history = store.history()
    damaged = halve(store.runs_path)
    code, _, err = ablate(capsys, "report", "tiny", "--studies", studies, "--results", results)
    assert code == 2 and len(err.splitlines()) == 1
    assert "runs.parquet is damaged" in err and "ablate doctor tiny --fix" in err
    code, out, err = ablate(
        capsys, "run", "tiny", "--studies", studies, "--results", results, "--no-progress"
    )
    assert code == 0 and "Traceback" not in err
    assert "runs.parquet was damaged" in err and f"moved to {store.dir / DAMAGED}" in err
    assert "4 ok" in out  # rerun, not cached
    (aside,) = (store.dir / DAMAGED).iterdir()
    assert aside.read_bytes() == damaged  # the damaged file is kept as it was
    assert len(store.runs()) == 4 and store.check().ok
    pd.testing.assert_frame_equal(  # the same curves again: a rerun equals the first run
        history.drop(columns=[c for c in history if "seconds" in c])
        .sort_values(["key", "step"])
        .reset_index(drop=True),
        store.history()
        .drop(columns=[c for c in history if "seconds" in c])
        .sort_values(["key", "step"])
        .reset_index(drop=True),
    )


def test_run_force_on_a_damaged_table_repairs_before_training(finished, capsys):
    studies, results, store = finished
    halve(store.runs_path)
    code, out, err = ablate(
        capsys, "run", "tiny", "--force", "--studies", studies, "--results", results, "--no-progress"
    )
    assert code == 0 and "runs.parquet was damaged" in err and "4 ok" in out


def test_a_truncated_history_keeps_the_runs_rows_that_are_not_finished(finished, capsys):
    studies, results, store = finished
    runs = store.runs()
    failed = {**runs.iloc[0].to_dict(), "key": "f" * 16, "status": "failed", "error": "boom"}
    store.write(failed, [])
    store.compact()
    halve(store.history_path)
    code, _, err = ablate(capsys, "report", "tiny", "--studies", studies, "--results", results)
    assert code == 2 and "history.parquet is damaged" in err and len(err.splitlines()) == 1
    code, out, _ = ablate(capsys, "doctor", "tiny", "--results", results)
    assert code == 1 and "history.parquet is damaged" in out and "ablate doctor tiny --fix" in out
    code, out, _ = ablate(capsys, "doctor", "tiny", "--fix", "--results", results)
    assert code == 0 and "4 trial(s) whose history rows were lost run again" in out
    assert store.runs()["key"].tolist() == ["f" * 16]  # the unfinished row is kept
    code, out, _ = ablate(capsys, "run", "tiny", "--studies", studies, "--results", results, "--no-progress")
    assert code == 0 and "4 ok" in out and len(store.history()) == len(runs) * 2


@pytest.mark.parametrize("column", ["final_loss", "status"])
def test_an_older_runs_table_is_migrated(finished, capsys, column):
    studies, results, store = finished
    table = pq.read_table(store.runs_path).drop_columns([column]).replace_schema_metadata(None)
    pq.write_table(table, store.runs_path)  # as an older ablate wrote it: no column, no version
    code, out, _ = ablate(capsys, "doctor", "tiny", "--results", results)
    assert code == 1 and f"older schema, lacks column(s) {column}" in out
    runs = store.runs()  # readers get the column as nulls
    assert runs[column].isna().all() and len(runs) == 4
    code, out, err = ablate(
        capsys, "run", "tiny", "--studies", studies, "--results", results, "--no-progress"
    )
    assert code == 0 and f"added column(s) {column} as nulls" in err
    assert ("4 ok" in out) == (column == "status")  # a row without a status runs again
    assert pq.read_schema(store.runs_path).metadata[SCHEMA_KEY] == b"1"
    assert ablate(capsys, "report", "tiny", "--studies", studies, "--results", results)[0] == 0


def test_a_table_from_a_newer_ablate_is_refused(finished, capsys):
    studies, results, store = finished
    table = pq.read_table(store.runs_path)
    pq.write_table(
        table.replace_schema_metadata({**table.schema.metadata, SCHEMA_KEY: b"99"}), store.runs_path
    )
    before = store.runs_path.read_bytes()
    code, _, err = ablate(capsys, "report", "tiny", "--studies", studies, "--results", results)
    assert code == 2 and "written by a newer ablate (schema 99 > 1)" in err
    assert store.runs_path.read_bytes() == before


def test_a_truncated_study_json_is_one_line_in_report(finished, capsys):
    studies, results, store = finished
    meta = store.dir / "study.json"
    meta.write_text(meta.read_text()[:50])
    code, _, err = ablate(capsys, "report", "tiny", "--studies", studies, "--results", results)
    assert code == 2 and len(err.splitlines()) == 1 and "study.json is damaged" in err
    assert "ablate run tiny` writes it again" in err


def test_results_that_is_a_file_is_one_line(write_study, tmp_path, capsys):
    path = write_study()
    (tmp_path / "afile").write_text("keep me")
    code, _, err = ablate(
        capsys, "run", "tiny", "--studies", path.parent, "--results", tmp_path / "afile", "--no-progress"
    )
    assert code == 2 and len(err.splitlines()) == 1
    assert "is a file, not a folder" in err and (tmp_path / "afile").read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_a_read_only_results_folder_is_one_line(write_study, tmp_path, capsys):
    path = write_study()
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    code, _, err = ablate(
        capsys, "run", "tiny", "--studies", path.parent, "--results", folder, "--no-progress"
    )
    assert code == 2 and "is not writable" in err


def test_a_full_disk_says_what_was_kept_and_leaves_no_temporary_file(finished, capsys, monkeypatch):
    studies, results, store = finished
    before = {p.name: p.read_bytes() for p in store.dir.glob("*.parquet")}
    import suite.store

    writes = []

    def fills_up(real, where_at):
        def write(*args):
            where = args[where_at]
            writes.append(where)
            if len(writes) >= 2:  # the first unit fits, then the disk is full
                with open(where, "wb") as f:
                    f.write(b"partial")
                raise OSError(errno.ENOSPC, "No space left on device", str(where))
            return real(*args)

        return write

    monkeypatch.setattr(suite.store, "_write_bytes", fills_up(suite.store._write_bytes, 0))
    monkeypatch.setattr(suite.store, "_write_table", fills_up(suite.store._write_table, 1))
    code, _, err = ablate(
        capsys, "run", "tiny", "--force", "--studies", studies, "--results", results, "--no-progress"
    )
    assert code == 4 and len(err.strip().splitlines()) <= 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"ablate: no space left on the device writing {store.dir} (")
    assert "MiB free); 4 of 4 trials kept in" in last and "free some space and rerun" in last
    assert not list(store.dir.rglob("*.tmp")) and not list(store.dir.rglob("*partial*"))
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in store.dir.glob("*.parquet")} == before  # nothing changed
    assert len(store.runs()) == 4


def test_readers_never_see_a_half_written_unit(tmp_path, monkeypatch):
    """A writer killed while writing a unit leaves only a temporary file: readers see the units
    before it, whole, and every table stays consistent with runs."""
    import suite.store

    store = Store(tmp_path / "s")
    store.write({"key": "a", "status": "ok"}, [{"key": "a", "step": 0}])

    def killed(path, payload):
        path.write_bytes(payload[: len(payload) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(suite.store, "_write_bytes", killed)
    with pytest.raises(KeyboardInterrupt):
        store.write({"key": "b", "status": "ok"}, [{"key": "b", "step": 0}])
    assert set(store.history()["key"]) == set(store.runs()["key"]) == {"a"}
    assert json.dumps(sorted(store.tables())) == '["history", "runs"]'
