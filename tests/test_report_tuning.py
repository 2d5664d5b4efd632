import pandas as pd
from conftest import tuned

from suite.report import write_report
from suite.report.tuning import skipped_lines
from suite.runner import run
from suite.store import Store


def test_skipped_trials_are_one_line_per_dataset_and_reason():
    runs = pd.DataFrame(
        {
            "dataset": ["yelp_full"] * 3 + ["imdb"] * 2,
            "variant": ["a", "b", "c", "a", "b"],
            "status": ["skipped"] * 3 + ["ok", "skipped"],
            "error": ["place yelp.tgz in X"] * 3 + [None, "no glove"],
        }
    )
    lines = skipped_lines(runs)
    assert lines[:2] == [
        "**yelp_full not run** (all its trials: 3 skipped): place yelp.tgz in X",
        "**b on imdb not run** (1 skipped): no glove",
    ]
    assert skipped_lines(runs[runs["status"] == "ok"]) == []


def test_a_tuned_report_leads_with_the_baseline_and_records_the_tuning(write_study, tmp_path):
    study = tuned(write_study, baseline="ngram_linear")
    store = Store(tmp_path / "tiny")
    run(study, store, progress=False)
    text = write_report(store.dir).read_text()
    lead = text.index("## Against the baseline (ngram_linear)")
    assert lead < text.index("## Findings")
    assert "4 trials" in text  # the comparison counts the chosen configurations' trials only
    record = text[text.index("## Tuning record") :]
    assert "| order     | mean         | lr=0.01" in record and "| dropout=0.5, lr=0.3" in record
    assert record.count("| ✓") == 2  # one chosen configuration per variant
    assert "never read to choose" in record
