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
    opening = text[lead : text.index("## Findings")]
    assert "points below ngram_linear on order" in opening or "Every variant is within 3 points" in opening
    assert "4 trials" in text  # the comparison counts the chosen configurations' trials only
    record = text[text.index("## Tuning record") :]
    assert "| order     | mean         | lr=0.01" in record and "| dropout=0.5, lr=0.3" in record
    assert record.count("| ✓") == 2  # one chosen configuration per variant
    assert "never read to choose" in record


def test_the_shortfall_is_judged_on_the_interval_of_delta_not_its_rounded_text():
    from suite.report.tuning import shortfall_lines

    # text_encoders on rotten_tomatoes: Δ −3.0 points, [−4.9, −1.1]; "-3.0" parsed back is not < −3
    text = shortfall_lines("rt", "base", {"transformer": (-3.04, (-3.04, -4.9, -1.1))})[0]
    assert text.startswith("Possibly more than 3 points below base on rt") and "[-4.9, -1.1]" in text
    assert "Every variant is within" not in text
    text = shortfall_lines("rt", "base", {"lstm": (-4.6, (-4.6, -6.0, -3.2)), "mlp": (1.0, (1.0, -1, 3))})[0]
    assert text.startswith("More than 3 points below base on rt (the whole 95% interval of Δ): lstm")
    assert "mlp" not in text and "Possibly" not in text and "The others are within 3 points" in text
    text = shortfall_lines("rt", "base", {"a": (-2.9, (-2.9, -2.99, -2.8)), "b": (-3.5, None)})[0]
    assert (
        "by Δ alone, with no interval" in text
        and "b (-3.5 points; no interval)" in text
        and "a (" not in text
    )
    assert shortfall_lines("rt", "base", {"a": (-1.0, (-1.0, -2.0, 0.5))})[0].startswith(
        "Every variant is within"
    )


def test_the_anchor_table_counts_diverged_seeds_as_every_other_section_does():
    from suite.report.anchors import anchor_section

    runs = pd.DataFrame(
        {
            "key": ["k0", "k1", "k2"],
            "dataset": ["imdb"] * 3,
            "variant": ["lstm"] * 3,
            "seed": [0, 1, 2],
            "status": ["ok", "ok", "diverged"],
            "eval_split": ["test"] * 3,
            "final_accuracy": [0.80, 0.82, 0.50],
            "error": [None] * 3,
        }
    )
    anchors = [{"dataset": "imdb", "model": "LSTM", "value": 0.86, "variant": "lstm", "source": "X, 2011"}]
    text = "\n".join(anchor_section(anchors, runs))
    assert "(lstm, 3 seeds" in text and "70.7%" in text  # the diverged seed counts, as in the dataset table
    only_diverged = runs.assign(status="diverged")
    assert "Not run here" not in "\n".join(anchor_section(anchors, only_diverged))


def test_the_opening_table_reads_the_finished_trials_as_the_dataset_tables_do(tmp_path):
    from suite.report.load import Results
    from suite.report.tuning import lead_section

    runs = pd.DataFrame(
        {
            "key": [f"k{i}" for i in range(6)],
            "dataset": ["imdb"] * 6,
            "variant": pd.Categorical(["base"] * 3 + ["lstm"] * 3, categories=["base", "lstm"], ordered=True),
            "seed": [0, 1, 2] * 2,
            "status": ["ok"] * 5 + ["diverged"],
            "eval_split": ["test"] * 6,
            "final_accuracy": [0.90, 0.90, 0.90, 0.89, 0.89, 0.50],
        }
    )
    anchors = [{"dataset": "imdb", "model": "LSTM", "value": 0.86, "variant": "lstm", "source": "X, 2011"}]
    results = Results(
        tmp_path, "s", {"baseline": "base", "anchors": anchors}, runs, pd.DataFrame(), pd.DataFrame()
    )
    text = "\n".join(lead_section(results, comparisons=[]))
    # the diverged seed counts: lstm's mean is 0.76 (Δ −14 points), not 0.89 (Δ −1)
    assert "| lstm      | 76.0%" in text and "-14.0" in text and "| 3       |" in text
    assert (
        "More than 3 points below base on imdb by Δ alone, with no interval to say how surely: lstm" in text
    )
