"""The kernel study kind: its schema, trial expansion, runner path and report."""

import pandas as pd
import pytest
import yaml

from suite.cli import main
from suite.kernels.study import KernelTrial, run_kernel_trial
from suite.study import StudyError, load_study

TINY = {
    "kind": "kernels",
    "description": "A tiny kernel study for tests.",
    "kernels": ["naive", "chunked", "sdpa_flash"],
    "seq_lens": [16, 64],
    "shapes": [{"batch": 1, "heads": 2, "head_dim": 8}],
    "devices": ["cpu", "cuda"],
    "threads": 1,
    "measure": {"repeats": 3, "warmup": 0, "min_seconds": 0.0, "gemm_size": 64},
}


def write(tmp_path, name="ktiny", **changes):
    directory = tmp_path / "studies"
    directory.mkdir(exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**TINY, **changes}, sort_keys=False, allow_unicode=True))
    return path


def test_kernel_study_expands_kernels_by_lengths_shapes_modes_devices(tmp_path):
    study = load_study(write(tmp_path))
    trials = study.trials()
    assert len(trials) == 3 * 2 * 1 * 2 * 2
    assert all(isinstance(t, KernelTrial) and t.kind == "kernels" for t in trials)
    assert len({t.key for t in trials}) == len(trials)
    assert study.meta()["kind"] == "kernels"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"kernels": ["chunkd"]}, "kernels.*did you mean 'chunked'"),
        ({"modes": ["sideways"]}, "modes"),
        ({"seq_lens": [0]}, "seq_lens"),
        ({"shapes": [{"batch": 1, "heads": 2}]}, r"shapes\[0\].head_dim"),
        ({"colour": 1}, "colour: unknown key; allowed keys: kind, description"),
        ({"measure": {"repeat": 3}}, "measure.repeat: unknown key; allowed keys: warmup, repeats"),
    ],
)
def test_kernel_study_errors_name_the_file_and_key(tmp_path, changes, message):
    path = write(tmp_path, **changes)
    with pytest.raises(StudyError, match=message) as err:
        load_study(path)
    assert str(path) in str(err.value)


def test_training_studies_still_load_and_may_say_kind_train(write_study):
    assert load_study(write_study(kind="train")).trials()
    with pytest.raises(StudyError, match="kind"):
        load_study(write_study(kind="sideways"))


def test_unavailable_kernels_and_devices_are_skipped_with_the_reason(tmp_path):
    trials = {(t.kernel, t.device, t.mode, t.seq_len): t for t in load_study(write(tmp_path)).trials()}
    flash = run_kernel_trial(trials[("sdpa_flash", "cpu", "forward", 16)]).row
    assert flash["status"] == "skipped" and "only on CUDA" in flash["error"]
    cuda = run_kernel_trial(trials[("naive", "cuda", "forward", 16)])
    assert cuda.row["status"] in ("skipped", "ok") and cuda.history == []


def test_kernel_study_runs_and_reports(tmp_path):
    write(tmp_path)
    dirs = ["--studies", str(tmp_path / "studies"), "--results", str(tmp_path / "results")]
    assert main(["run", "ktiny", "--no-progress", *dirs]) == 0
    runs = pd.read_parquet(tmp_path / "results" / "ktiny" / "runs.parquet")
    ok = runs[runs["status"] == "ok"]
    assert set(ok["kernel"]) == {"naive", "chunked"}
    for column in ("time_median_s", "time_iqr_s", "gflops", "gemm_gflops", "pct_gemm", "peak_mem_bytes"):
        assert ok[column].notna().all() and (ok[column] >= 0).all(), column
    assert (ok["threads"] == 1).all() and ok["torch_version"].notna().all()
    assert main(["report", "ktiny", *dirs]) == 0
    report = (tmp_path / "results" / "ktiny" / "report.md").read_text()
    assert "GFLOP/s" in report and "only on CUDA" in report
    for figure in ("time_vs_T", "memory_vs_T", "gflops_vs_T"):
        assert (tmp_path / "results" / "ktiny" / "figures" / f"{figure}.png").exists()
