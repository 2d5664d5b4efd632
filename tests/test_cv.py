"""k-fold cross-validation as a split kind: a study expands a cross-validated dataset into one trial
per fold, the report reads the folds as one dataset paired by (seed, fold), and its intervals and
tests are the Nadeau–Bengio corrected resampled t. On a tiny MR-format corpus written here."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from suite.report import resampling
from suite.report.findings import compare_contrasts
from suite.report.load import Results, with_labels
from suite.study import StudyError, load_study
from tests.test_mr import write_corpus

TINY = {"optimizer": "adam", "lr": 0.05, "epochs": 2, "batch_size": 8}


@pytest.fixture
def corpus(tmp_path):
    return str(write_corpus(tmp_path / "mr", n=30))


def cv_study(write_study, corpus, **dataset):
    return write_study(
        variants=["ngram_linear", "mean"],
        datasets=[
            {"name": "mr", "folds": 3, "data_path": corpus, "vocab_size": 80, "max_len": 12, **dataset}
        ],
        seeds=1,
        model={"dim": 4},
        training=TINY,
        baseline="ngram_linear",
    )


def run_and_report(path, tmp_path, capsys):
    """`ablate run` then `ablate report` on the study at `path`: its results folder and report text."""
    from suite.cli import main

    results = tmp_path / "results"
    args = ["--studies", str(path.parent), "--results", str(results)]
    assert main(["run", "tiny", *args, "--no-progress"]) == 0
    assert main(["report", "tiny", *args]) == 0
    capsys.readouterr()
    return results, (results / "tiny" / "report.md").read_text()


def test_a_cross_validated_dataset_runs_every_fold_each_with_its_own_key(write_study, corpus):
    study = load_study(cv_study(write_study, corpus))
    trials = study.trials()
    assert [(t.variant, t.dataset_params["fold"]) for t in trials] == [
        (v, f) for f in range(3) for v in ("ngram_linear", "mean")
    ]  # fold by fold: a run cut short still holds whole folds, paired
    assert len({t.key for t in trials}) == 6 and all(t.dataset_params["folds"] == 3 for t in trials)
    assert "× 1 datasets × 3 folds × 1 seeds" in study.shape
    one = load_study(cv_study(write_study, corpus, fold=2))  # a fold named: that fold alone
    assert [t.dataset_params["fold"] for t in one.trials()] == [2, 2]
    assert one.trials()[0].key == trials[4].key  # the same trial as fold 2 of the whole run


def test_folds_are_set_on_the_dataset_entry_only(write_study, corpus):
    path = write_study(
        variants=[{"name": "mean", "dataset": {"folds": 5}}],
        datasets=[{"name": "mr", "data_path": corpus}],
        seeds=1,
    )
    with pytest.raises(
        StudyError, match=r"variants\[0\]\.dataset\.folds: 'mr' is cross-validated; set folds on"
    ):
        load_study(path)
    with pytest.raises(StudyError, match=r"fold must be an integer in 0\.\.2 \(folds=3\), got 3"):
        load_study(cv_study(write_study, corpus, fold=3))


def runs_frame(values: dict[str, list[float]], ratio_rows=(900, 100)) -> pd.DataFrame:
    """Result rows of a 10-fold study: variant → accuracy per fold (one seed)."""
    rows = []
    for variant, accs in values.items():
        for fold, acc in enumerate(accs):
            params = {"fold": fold, "folds": len(accs), "vocab_size": 100}
            config = {"model": {"encoder": variant}, "dataset_params": params}
            rows.append(
                {
                    "key": f"{variant}-{fold}", "variant": variant, "dataset": "mr", "seed": 0, "device": "cpu",
                    "status": "ok", "config": json.dumps(config), "eval_split": "test", "selected_accuracy": acc,
                    "selected_loss": 1 - acc, "train_rows": ratio_rows[0], "eval_rows": ratio_rows[1],
                }
            )  # fmt: skip
    return with_labels(pd.DataFrame(rows))


def test_the_report_reads_the_folds_as_one_dataset_paired_by_fold():
    rng = np.random.default_rng(0)
    base = 0.78 + rng.normal(0, 0.01, 10)
    other = base - 0.02 + rng.normal(0, 0.008, 10)
    runs = runs_frame({"ngram": list(base), "conv": list(other)})
    assert set(runs["dataset"]) == {"mr"} and list(runs["fold"][:3]) == [0, 1, 2]
    results = Results(dir=None, name="cv", meta={"baseline": "ngram", "spec": {}}, runs=runs,
                      history=pd.DataFrame(), artifacts=pd.DataFrame())  # fmt: skip
    [c] = [c for c in compare_contrasts(results) if c.primary]
    d = other - base
    ratio = 100 / 900
    se = math.sqrt((1 / 10 + ratio) * d.var(ddof=1))
    assert c.result.test == "corrected resampled t" and c.result.n == 10
    assert c.result.se == pytest.approx(se) and c.result.sources == resampling.FOLD_SOURCES
    assert c.result.p == pytest.approx(2 * stats.t.sf(abs(d.mean()) / se, 9))
    lo, hi = c.result.interval(0.95)
    plain = stats.t.ppf(0.975, 9) * d.std(ddof=1) / math.sqrt(10)
    assert hi - lo == pytest.approx(2 * stats.t.ppf(0.975, 9) * se)
    assert hi - lo > 2 * plain * 1.4  # √(1 + 10/9) ≈ 1.45 times the plain t's width


def test_a_variant_interval_over_folds_is_corrected_too():
    accs = [0.70, 0.72, 0.74, 0.71, 0.73, 0.75, 0.72, 0.70, 0.74, 0.73]
    s = resampling.fold_summary(accs, ratio=1 / 9, bounds=(0, 1))
    x = np.asarray(accs)
    half = stats.t.ppf(0.975, 9) * math.sqrt((1 / 10 + 1 / 9) * x.var(ddof=1))
    assert (s.lo, s.hi) == pytest.approx((x.mean() - half, x.mean() + half))
    rows = runs_frame({"a": accs}, ratio_rows=(8636, 1066))
    assert resampling.fold_ratio(rows) == pytest.approx(1066 / 8636)
    older = rows.drop(columns=["train_rows", "eval_rows"])  # recorded before the row counts: 1/(k − 1)
    assert resampling.fold_ratio(older) == pytest.approx(1 / 9)


def test_a_cross_validated_study_runs_and_reports_one_section(write_study, corpus, tmp_path, capsys):
    path = cv_study(write_study, corpus)
    results, text = run_and_report(path, tmp_path, capsys)
    assert "mr(fold=" not in text and "### mr" in text
    assert "paired by seed and fold, with the corrected resampled t" in text
    assert "mr: identical in every fold" in text  # both learn the toy corpus in every fold
    rows = pd.read_parquet(results / "tiny" / "runs.parquet")
    assert (rows["eval_rows"] == 20).all() and (rows["train_rows"] + rows["eval_rows"] < 60).all()


def test_nested_tuning_records_each_folds_choice_under_its_fold(write_study, corpus, tmp_path, capsys):
    """With tune: each fold chooses on its own val split; the tuning record says which fold each row
    is, or ten folds × three rates read as thirty unlabelled rows."""
    path = write_study(
        variants=["ngram_linear"],
        datasets=[{"name": "mr", "folds": 3, "data_path": corpus, "vocab_size": 80, "max_len": 12}],
        seeds=1,
        training=TINY,
        tune={"grid": {"lr": [0.01, 0.05]}, "seeds": 1},
    )
    _, text = run_and_report(path, tmp_path, capsys)
    record = text[text.index("## Tuning record") :]
    assert "per dataset and fold" in record
    rows = [r for r in record.splitlines() if r.startswith("| mr ")]
    folds = [r.split("|")[2].strip() for r in rows]
    assert sorted(folds) == ["0", "0", "1", "1", "2", "2"], rows
    chosen = {r.split("|")[2].strip() for r in rows if "✓" in r}
    assert chosen == {"0", "1", "2"}  # one choice per fold


def test_nb_weight_scales_each_ngram_by_its_log_count_ratio_from_the_training_rows():
    import torch

    from suite import models

    tokens = torch.tensor([[0, 2, 3], [0, 2, 4], [0, 5, 3], [0, 5, 4]])  # PAD = 0, pre-padded
    labels = torch.tensor([1, 1, 0, 0])  # word 2 only in positive rows, 5 only in negative, 3 and 4 in both
    cfg = models.resolve("ngram_linear", nb_weight=True, ngram_buckets=16)
    model = models.build(cfg, vocab_size=6, seq_len=3, num_classes=2, pad_id=0)
    model.prepare(tokens, labels)
    r = model.ratio
    assert r[2] > 0 > r[5] and abs(r[3]) < 1e-6 and abs(r[4]) < 1e-6
    # p = α + rows holding it among the positives (α = 1); each class has 2 rows × 3 distinct n-grams
    # (two words and one bigram: those touching PAD do not count), so ‖p‖₁ = ‖q‖₁ and r = log(p / q)
    assert float(r[2]) == pytest.approx(math.log(3 / 1)) and float(r[5]) == pytest.approx(math.log(1 / 3))
    plain = models.build(models.resolve("ngram_linear"), vocab_size=6, seq_len=3, num_classes=2, pad_id=0)
    assert "ratio" not in plain.state_dict()  # the unweighted model is what it was
    with pytest.raises(ValueError, match="nb_weight needs two classes"):
        models.build(cfg, vocab_size=6, seq_len=3, num_classes=3, pad_id=0)
