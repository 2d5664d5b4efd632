"""`ablate run --until-resolved` and `ablate check --until-resolved` on a tiny study: seeds are
added only while a contrast is open, a rerun is a cache hit, the process pool gives the serial
run's tables, and a driver killed with SIGKILL between batches resumes to the same tables."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import ablate, one_line

from suite.store import Store

# attention learns reversal's rows; without positions it cannot: the same Δ (−0.5) in every seed,
# which the exact sign test calls once the seeds allow (a look or more after the first)
STUDY = {
    "variants": ["attention", {"name": "attention", "label": "nopos", "positional": "none"}],
    "baseline": "attention",
    "datasets": ["reversal"],
    "seeds": 3,
    "model": {"dim": 4},
    "training": {"optimizer": "adam", "lr": 0.03, "epochs": 20, "history_every": 5},
    "measure": {"repeats": 1, "warmup": 0, "memory": False},
}
OPTIONS = ["--until-resolved", "--max-seeds", "9", "--batch", "1", "--no-progress"]


def _run(capsys, path: Path, results: Path, *extra: str) -> tuple[int, str, str]:
    return ablate(capsys, "run", "tiny", "--studies", path.parent, "--results", results, *OPTIONS, *extra)


def _table(results: Path) -> pd.DataFrame:
    runs = Store(results / "tiny").runs()
    return runs.set_index("key").sort_index()[["variant", "seed", "status", "selected_accuracy"]]


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """One serial sequential run, shared by the tests that read it: (study path, results folder)."""
    from suite.cli import main

    root = tmp_path_factory.mktemp("sequential")
    (root / "studies").mkdir()
    path = root / "studies" / "tiny.yaml"
    path.write_text(json.dumps({"description": "A tiny study for tests.", **STUDY}))
    results = root / "r"
    assert main(["run", "tiny", "--studies", str(path.parent), "--results", str(results), *OPTIONS]) == 0
    return path, results


def test_seeds_are_added_until_the_contrast_resolves(serial, capsys):
    path, results = serial
    meta = Store(results / "tiny").meta()
    info = meta["sequential"]
    assert (
        info["first"] == 3
        and info["batch"] == 1
        and info["max_seeds"] == 9
        and info["looks"] == [3, 4, 5, 6, 7, 8, 9]
    )
    (cell,) = info["cells"]
    assert cell["stopped"] == "worse" and cell["seeds"] > 3  # more than the study's own seeds were needed
    runs = _table(results)
    assert len(runs) == 2 * cell["seeds"] and set(runs["seed"]) == set(range(cell["seeds"]))
    assert set(meta["keys"]) == set(runs.index)  # the added trials are the study's as far as the report goes
    code, out, _ = _run(capsys, path, results)  # a rerun: every trial stored, nothing runs
    assert code == 0 and f"{2 * cell['seeds']} cached" in out and " ok" not in out.split(";")[0]
    assert "resolved: worse" in out


def test_the_report_says_how_many_seeds_and_why_each_stopped(serial, capsys):
    _, results = serial
    code, _, _ = ablate(capsys, "report", results / "tiny")
    assert code == 0
    report = (results / "tiny" / "report.md").read_text()
    answer = report.split("## Answer", 1)[1].split("##", 1)[0]
    assert "group-sequential" in answer and "repeated confidence" in answer and "resolved at" in answer
    assert "Seeds spent: " in answer and "1 of 1 tests resolved" in answer
    rows = pd.read_csv(results / "tiny" / "comparisons.csv")
    primary = rows[rows["primary"]]
    assert len(primary) == 1 and primary["stopped_by"].iloc[0].startswith("resolved at")
    assert primary["verdict"].iloc[0] == "worse"


def test_check_plans_from_a_pilot_or_from_earlier_runs(serial, tmp_path, capsys):
    path, results = serial
    code, out, _ = ablate(capsys, "check", "tiny", "--studies", path.parent, "--results", tmp_path / "none",
                          "--until-resolved", "--max-seeds", "9")  # fmt: skip
    assert code == 0 and "needs a pilot batch" in out and "worst case at --max-seeds 9: 12 more trials" in out
    assert "note: a first look at 3 seeds" in out  # below 5: the matching is approximate
    code, out, _ = ablate(capsys, "check", "tiny", "--studies", path.parent, "--results", results,
                          "--until-resolved", "--max-seeds", "9")  # fmt: skip
    assert code == 0 and "resolved at" in out and "adds no seed" in out


def test_the_process_pool_gives_the_serial_tables(serial, tmp_path, capsys):
    path, results = serial
    code, _, err = _run(capsys, path, tmp_path / "p", "--executor", "processes", "--workers", "2")
    assert code == 0, err
    pd.testing.assert_frame_equal(_table(tmp_path / "p"), _table(results))


@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install '.[ray]')"
)
def test_ray_gives_the_serial_tables(serial, tmp_path):
    """On a local Ray cluster the driver started (its own process, so this test's has no Ray in it)."""
    path, results = serial
    command = [sys.executable, "-m", "suite", "run", "tiny", "--studies", str(path.parent), "--results",
               str(tmp_path / "ray"), *OPTIONS, "--executor", "ray", "--workers", "2"]  # fmt: skip
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    pd.testing.assert_frame_equal(_table(tmp_path / "ray"), _table(results))


def _env() -> dict:
    here = os.pathsep.join(filter(None, [str(Path.cwd()), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": here}


def test_a_killed_driver_resumes_to_the_uninterrupted_tables(serial, tmp_path):
    """SIGKILL the driver once a seed beyond the study's is stored; a rerun finishes the design and
    its tables equal the uninterrupted run's."""
    path, results = serial
    out = tmp_path / "k"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(Path.cwd()), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable,
        "-m",
        "suite",
        "run",
        "tiny",
        "--studies",
        str(path.parent),
        "--results",
        str(out),
    ]
    driver = subprocess.Popen([*command, *OPTIONS], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)  # fmt: skip
    store = Store(out / "tiny")
    deadline = time.time() + 300
    while time.time() < deadline and driver.poll() is None:
        if store.dir.is_dir() and len(store.runs()) > 2 * STUDY["seeds"]:  # fragments, before compaction
            break
        time.sleep(0.05)
    assert driver.poll() is None, "the run ended before it could be killed"
    driver.send_signal(signal.SIGKILL)
    driver.wait(60)
    killed = len(store.runs())
    final = len(_table(results))
    assert killed < final  # it was killed mid-design
    rerun = subprocess.run([*command, *OPTIONS], env=env, capture_output=True, text=True,
                           timeout=600)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    pd.testing.assert_frame_equal(_table(out), _table(results))


def test_bad_sequential_options_are_one_line(serial, write_study, capsys):
    path, results = serial
    one_line(capsys, ["run", "tiny", "--studies", path.parent, "--results", results, "--until-resolved",
                      "--max-seeds", "2"], "--max-seeds 2", "at least 3")  # fmt: skip
    one_line(capsys, ["run", "tiny", "--studies", path.parent, "--results", results, "--until-resolved",
                      "--force"], "--force")  # fmt: skip
    # the flags shape a sequential run: without one they would silently mean nothing
    one_line(capsys, ["run", "tiny", "--studies", path.parent, "--results", results, "--batch", "3"],
             "--until-resolved")  # fmt: skip


def test_the_api_refuses_what_the_cli_refuses(write_study, tmp_path, capsys):
    from suite import api
    from suite.study import StudyError

    few = write_study(seeds=2, until_resolved={"max_seeds": 6, "batch": 2})
    with pytest.raises(StudyError, match="at least 3 seeds"):
        api.run(few, results=tmp_path / "r", progress=False)
    with pytest.raises(StudyError, match="force"):
        api.run(write_study(seeds=3, until_resolved={}), results=tmp_path / "r", force=True, progress=False)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("runs.parquet"))  # nothing ran
    one_line(capsys, ["check", str(write_study(until_resolved=None))], "until_resolved")


def test_a_refused_check_prints_no_plan(write_study, capsys):
    """`ablate check --until-resolved` on a design it refuses: the one error line, and no plan above it
    that reads as if the study were fine."""
    few = write_study(seeds=2)
    code, out, err = ablate(capsys, "check", str(few), "--until-resolved")
    assert code == 2 and "at least 3 seeds" in err and len(err.strip().splitlines()) == 1, err
    assert out.strip() == "", out


def test_the_study_key_runs_like_the_flags_and_the_flags_override_it(serial, tmp_path, capsys):
    """`until_resolved: {max_seeds: 9, batch: 1}` in the YAML: `ablate run` with no flag runs the
    flags' design (every trial is the serial run's: a cache hit, the same stops); `ablate check` plans
    it; --batch on the command line wins over the key."""
    import shutil

    path, results = serial
    studies = tmp_path / "studies"
    studies.mkdir()
    keyed = studies / "tiny.yaml"
    keyed.write_text(json.dumps({"description": "A tiny study for tests.", **STUDY,
                                 "until_resolved": {"max_seeds": 9, "batch": 1}}))  # fmt: skip
    copy = tmp_path / "r"
    shutil.copytree(results, copy)
    code, out, err = ablate(capsys, "run", "tiny", "--studies", studies, "--results", copy, "--no-progress")
    assert code == 0, err
    info = Store(copy / "tiny").meta()["sequential"]
    assert (
        info["looks"] == [3, 4, 5, 6, 7, 8, 9] and "resolved: worse" in out and " ok" not in out.split(";")[0]
    )
    assert info["cells"] == Store(results / "tiny").meta()["sequential"]["cells"]
    from suite import api

    api_copy = tmp_path / "api"
    shutil.copytree(results, api_copy)
    api.run(keyed, results=api_copy, progress=False)  # the Python API honours the key too
    assert Store(api_copy / "tiny").meta()["sequential"]["cells"] == info["cells"]
    code, out, _ = ablate(capsys, "check", "tiny", "--studies", studies, "--results", tmp_path / "none")
    assert code == 0 and "looks at 3, 4, 5, 6, 7, 8, 9 seeds" in out
    code, out, _ = ablate(
        capsys, "check", "tiny", "--studies", studies, "--results", tmp_path / "none", "--batch", "2"
    )
    assert code == 0 and "looks at 3, 5, 7, 9 seeds" in out


@pytest.mark.parametrize(
    "value, needles",
    [
        ({"max_seeds": 2}, ["until_resolved.max_seeds", "3"]),
        ({"max_seeds": 9, "batch": 0}, ["until_resolved.batch"]),
        ({"max_seeds": 9, "bacth": 1}, ["bacth"]),
        ({"max_seeds": 3}, ["until_resolved.max_seeds", "below the study's 4 seeds"]),
    ],
)
def test_a_bad_study_key_is_one_line(write_study, capsys, value, needles):
    path = write_study(seeds=4, until_resolved=value)
    one_line(capsys, ["check", "tiny", "--studies", path.parent], *needles)


def test_the_committed_sequential_run_looks_on_the_reports_two_level_statistic():
    """results/ablation_residual_sequential (committed): every contrast was judged on seeds × test
    examples, each stop at the look study.json recorded, with the fixed report's two-level p on
    those seeds; its report says what the run spent."""
    from suite.report import resolve
    from suite.report.load import load
    from suite.report.stats import example_test

    folder = Path(__file__).resolve().parent.parent / "results" / "ablation_residual_sequential"
    results = load(folder)
    design, seeds = resolve.design_from(results.meta)
    _, cells = resolve.analyse(results, design, seeds)
    recorded = {(c["contrast"], c["dataset"]): c for c in results.meta["sequential"]["cells"]}
    assert len(cells) == len(recorded) == 6
    for cell in cells:
        assert cell.matrix is not None and cell.look.test == "two-level t"
        stop = recorded[(cell.contrast.name, cell.dataset)]
        assert (cell.look.n, cell.look.stop) == (stop["seeds"], stop["stopped"])
        assert cell.look.p == pytest.approx(example_test(cell.matrix[: cell.look.n]).p, rel=1e-9)
    report = (folder / "report.md").read_text()
    assert f"Seeds spent: {len(results.finished)} trials" in report
