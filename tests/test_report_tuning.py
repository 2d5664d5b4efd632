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
    # 2 seeds: no interval, so the shortfall is judged on Δ alone (mean is at chance after 2 epochs);
    # Δ is read from the table, so the sentence is pinned exactly while the training's numbers may vary
    (row,) = [line for line in opening.splitlines() if line.startswith("| mean ")]
    delta = row.split("|")[3].strip()
    assert float(delta) < -3
    assert (
        "More than 3 points below ngram_linear on order by Δ alone, with no interval to say how surely: "
        f"mean ({delta} points; no interval)."
    ) in opening.splitlines()
    assert "4 trials" in text  # the comparison counts the chosen configurations' trials only
    record = text[text.index("## Tuning record") :]
    assert "| order     | mean         | lr=0.01" in record and "| dropout=0.5, lr=0.3" in record
    assert record.count("| ✓") == 2  # one chosen configuration per variant
    assert "never read to choose" in record


def test_the_shortfall_is_judged_on_the_interval_of_delta_not_its_rounded_text():
    from suite.report.tuning import shortfall_lines

    # text_encoders on rotten_tomatoes: Δ −3.0 points, [−4.9, −1.1]; "-3.0" parsed back is not < −3
    text = shortfall_lines("rt", "base", {"transformer": (-3.04, (-4.9, -1.1))})[0]
    assert text.startswith("Possibly more than 3 points below base on rt") and "[-4.9, -1.1]" in text
    assert "Every variant is within" not in text
    text = shortfall_lines("rt", "base", {"lstm": (-4.6, (-6.0, -3.2)), "mlp": (1.0, (-1, 3))})[0]
    assert text.startswith("More than 3 points below base on rt (the whole 95% interval of Δ): lstm")
    assert "mlp" not in text and "Possibly" not in text and "The others are within 3 points" in text
    text = shortfall_lines("rt", "base", {"a": (-2.9, (-2.99, -2.8)), "b": (-3.5, None)})[0]
    assert (
        "by Δ alone, with no interval" in text
        and "b (-3.5 points; no interval)" in text
        and "a (" not in text
    )
    assert shortfall_lines("rt", "base", {"a": (-1.0, (-2.0, 0.5))})[0].startswith("Every variant is within")


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


def test_the_tuning_record_shows_the_score_the_choice_was_made_on(tmp_path):
    """A point with one good and one diverged tuning seed scored −∞ when the choice was made
    (suite.tune.score): the table says so instead of the good seed's mean, which would beat ✓."""
    from suite.report.load import Results
    from suite.report.tuning import tuning_section

    tuning_runs = pd.DataFrame(
        {
            "key": ["a0", "a1", "b0", "b1"],
            "status": ["ok", "diverged", "ok", "ok"],
            "selected_val_accuracy": [0.95, 0.5, 0.80, 0.82],
            "selected_epoch": [3, 1, 2, 2],
        }
    ).set_index("key")
    points = [
        {"knobs": {"lr": 0.1}, "keys": ["a0", "a1"], "val_score": float("-inf")},
        {"knobs": {"lr": 0.01}, "keys": ["b0", "b1"], "val_score": 0.81},
    ]
    record = {"metric": "val_accuracy", "seeds": [10000, 10001], "keys": ["a0", "a1", "b0", "b1"]}
    group = {"variant": "lstm", "dataset": "imdb", "points": points, "chosen": 1}
    runs = pd.DataFrame({"status": ["ok"]})
    meta = {"tuning": {**record, "groups": [group]}}
    results = Results(tmp_path, "s", meta, runs, pd.DataFrame(), pd.DataFrame(), tuning_runs=tuning_runs)
    table = "\n".join(tuning_section(results))
    rows = [
        [cell.strip() for cell in line.split("|")[3:7]]
        for line in table.splitlines()
        if line.startswith("| imdb")
    ]
    assert rows == [
        ["lr=0.1", "a tuning seed diverged", "3, diverged", ""],
        ["lr=0.01", "0.810", "2, 2", "✓"],
    ]

    loss = {
        **meta["tuning"],
        "metric": "val_loss",
        "groups": [{**group, "points": [{**points[1], "val_score": -0.25}]}],
    }
    results.meta = {"tuning": loss}
    assert "| 0.250 " in "\n".join(tuning_section(results))  # val loss is kept negated (higher is better)


def test_a_point_scored_out_says_which_seed_status_did_it():
    import math

    from suite import metrics
    from suite.report.tuning import _score

    declared = metrics.column("selected_val_accuracy").metric
    out = {"val_score": -math.inf}
    assert _score(out, "val_accuracy", declared, ["ok", "skipped"]) == "a tuning seed was skipped"
    assert _score(out, "val_accuracy", declared, ["failed", "diverged"]) == "a tuning seed diverged or failed"
    assert _score(out, "val_accuracy", declared, ["ok"]) == "a tuning seed's val metric is not finite"
    assert _score({"val_score": 0.81}, "val_accuracy", declared, ["ok"]) == "0.810"
