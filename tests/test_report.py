import math

import pytest

from suite.report import write_report
from suite.report.stats import format_mean_ci, mean_ci
from suite.runner import run_study
from suite.store import Store
from suite.study import load_study


def test_mean_ci():
    m, lo, hi = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and lo < 2.0 < hi
    assert hi - 2.0 == pytest.approx(4.303 * 1 / math.sqrt(3), rel=1e-3)  # t(0.975, 2) · s/√n
    assert math.isnan(mean_ci([5.0])[1])
    assert format_mean_ci([0.5, 0.5]) == "0.500 ± 0.000"


def test_report_has_question_tables_figures_and_provenance(write_study, tmp_path):
    from suite.cli import _run

    study = load_study(write_study(devices=["cpu", "cuda:9"]))
    assert _run(study, tmp_path, force=False, progress=False) == 0
    path = write_report(tmp_path / "tiny")
    text = path.read_text()
    assert "A tiny study for tests." in text
    assert "## reversal" in text and "same rows" in text
    assert "| mean " in text and "| attention " in text
    assert "figures/loss_curves.png" in text
    assert (tmp_path / "tiny" / "figures" / "loss_curves.png").stat().st_size > 10_000
    assert "skipped" in text and "Provenance" in text


def test_report_without_results_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the study first"):
        write_report(tmp_path / "nothing")


def test_run_study_counts(write_study, tmp_path):
    study = load_study(write_study(seeds=1, variants=["mean"]))
    counts = run_study(study, Store(tmp_path / "x"), progress=False)
    assert counts["ok"] == 1
