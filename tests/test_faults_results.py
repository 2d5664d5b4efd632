"""Fault catalogue: every results file is checked one way. `run`, `report`, `compare` and `doctor`
share one check (readable, the columns its name promises) of runs, history, artifacts, predictions,
study.json and the fragments; `doctor` sees what the others refuse, `doctor --fix` sets it aside,
and the next run recomputes only what was lost. A refusal changes no byte of the results."""

from __future__ import annotations

import os

import pyarrow.parquet as pq
import pytest
from conftest import ablate, one_line
from test_faults_more import snapshot

from suite.store import DAMAGED


def _args(studies, results, *rest):
    return [*rest, "--studies", str(studies), "--results", str(results)]


def _refused_everywhere(capsys, studies, results, needle: str) -> None:
    """report and compare refuse in one line; plain doctor names it and exits 1; nothing changes."""
    before = snapshot(results)
    one_line(capsys, ["report", "tiny", "--studies", studies, "--results", results], needle)
    one_line(capsys, ["compare", "tiny", "tiny", "--results", results], needle)
    code, out, _ = ablate(capsys, "doctor", "tiny", "--results", results)
    assert code == 1 and needle in out and "ablate doctor tiny --fix" in out, out
    assert snapshot(results) == before


def _repaired_and_rerun(capsys, studies, results, store, reruns: int) -> None:
    code, out, _ = ablate(capsys, "doctor", "tiny", "--fix", "--results", results)
    assert code == 0 and "ok after repair" in out and str(store.dir / DAMAGED) in out, out
    code, out, err = ablate(capsys, *_args(studies, results, "run", "tiny", "--no-progress"))
    assert code == 0 and "Traceback" not in err, err
    assert f"{reruns} ok" in out and (reruns == 4 or f"{4 - reruns} cached" in out), out
    assert ablate(capsys, "doctor", "tiny", "--results", results)[1].strip() == "tiny: ok"
    assert ablate(capsys, "report", "tiny", "--studies", studies, "--results", results)[0] == 0


def test_a_truncated_predictions_table_is_seen_by_doctor_repaired_and_rerun(finished, capsys):
    studies, results, store = finished
    path = store.dir / "predictions.parquet"
    assert path.exists()
    os.truncate(path, path.stat().st_size // 2)
    _refused_everywhere(capsys, studies, results, "predictions.parquet is damaged")
    _repaired_and_rerun(capsys, studies, results, store, reruns=4)
    assert len(store.predictions()) > 0 and set(store.predictions()["key"]) == set(store.runs()["key"])


@pytest.mark.parametrize(
    ("victim", "source", "needle"),
    [
        ("predictions", "history", "no index, correct, p_true columns"),
        ("runs", "history", "no status column"),
        ("history", "predictions", "no step, split columns"),
    ],
)
def test_a_valid_table_with_the_wrong_columns_counts_as_damaged(finished, capsys, victim, source, needle):
    studies, results, store = finished
    wrong = pq.read_table(store.dir / f"{source}.parquet")  # readable parquet, versioned, with a key
    pq.write_table(wrong, store.dir / f"{victim}.parquet")
    _refused_everywhere(capsys, studies, results, f"{victim}.parquet is damaged")
    _repaired_and_rerun(capsys, studies, results, store, reruns=4)


def test_a_broken_study_json_is_seen_by_doctor_and_written_again_by_run(finished, capsys):
    studies, results, store = finished
    meta = store.dir / "study.json"
    meta.write_text(meta.read_text()[:50])
    _refused_everywhere(capsys, studies, results, "study.json is damaged")
    code, out, _ = ablate(capsys, "doctor", "tiny", "--fix", "--results", results)
    assert code == 0 and "ok after repair" in out and "writes it again" in out, out
    code, out, _ = ablate(capsys, *_args(studies, results, "run", "tiny", "--no-progress"))
    assert code == 0 and "4 cached" in out and store.meta()["name"] == "tiny"


def test_a_damaged_fragment_is_seen_by_every_command(finished, capsys):
    studies, results, store = finished
    runs = store.runs()
    store.write({**runs.iloc[0].to_dict(), "status": "failed", "error": "again"}, [])
    (fragment,) = store.fragments_dir.iterdir()
    os.truncate(fragment, fragment.stat().st_size // 2)
    _refused_everywhere(capsys, studies, results, ".unit is damaged")
    code, out, _ = ablate(capsys, "doctor", "tiny", "--fix", "--results", results)
    assert code == 0 and "ok after repair" in out and "run again" in out, out
    assert store.runs()["status"].tolist() == ["ok"] * 4  # the damaged unit's row is dropped, not read


def test_doctor_of_a_results_folder_that_does_not_exist_is_one_line(tmp_path, capsys):
    one_line(capsys, ["doctor", "--results", tmp_path / "nope"], str(tmp_path / "nope"), "no such folder")
    (tmp_path / "file").write_text("x")
    one_line(capsys, ["doctor", "--results", tmp_path / "file"], "not a folder")
