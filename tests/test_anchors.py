import math

import pandas as pd
import pytest

from suite.cli import main
from suite.report.anchors import anchor_section
from suite.study import StudyError, load_study

ANCHOR = {"dataset": "reversal", "model": "a published mean model", "variant": "mean", "value": 0.885}


def test_anchors_are_checked_against_the_study(write_study):
    study = load_study(write_study(anchors=[ANCHOR | {"source": "Someone (2020)"}]))
    assert study.spec.anchors[0].value == 0.885
    with pytest.raises(StudyError, match=r"anchors\[0\]\.dataset: 'imdb' is not a dataset of this study"):
        load_study(write_study(anchors=[ANCHOR | {"dataset": "imdb", "source": "x"}]))
    with pytest.raises(StudyError, match=r"anchors\[0\]\.variant: 'bow' is not a variant label"):
        load_study(write_study(anchors=[ANCHOR | {"variant": "bow", "source": "x"}]))
    with pytest.raises(StudyError, match=r"anchors\[0\]\.value: Input should be less than or equal to 1"):
        load_study(write_study(anchors=[ANCHOR | {"value": 88.5, "source": "x"}]))
    with pytest.raises(StudyError, match=r"anchors\[0\]\.source: Field required"):
        load_study(write_study(anchors=[ANCHOR]))


def test_section_sets_ours_beside_published_and_says_why_a_dataset_did_not_run():
    runs = pd.DataFrame(
        [
            {"dataset": "rt", "variant": "bow", "status": "ok", "final_accuracy": a, "error": None}
            for a in (0.70, 0.72, 0.74)
        ]
        + [
            {
                "dataset": "imdb",
                "variant": "bow",
                "status": "skipped",
                "final_accuracy": math.nan,
                "error": "place aclImdb_v1.tar.gz in /cache/imdb",
            }
        ]
    )
    anchors = [
        {"dataset": "rt", "model": "CNN-rand", "variant": "bow", "value": 0.761, "source": "Kim (2014)"},
        {"dataset": "rt", "model": "NBSVM", "variant": None, "value": 0.794, "source": "Wang & Manning"},
        {"dataset": "imdb", "model": "BoW MLP", "variant": "bow", "value": 0.885, "source": "Chollet"},
    ]
    text = "\n".join(anchor_section(anchors, runs))
    assert "## Published anchors" in text
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert "76.1%" in rows["CNN-rand"] and "Kim (2014)" in rows["CNN-rand"]
    import re

    ours = re.search(r"72\.0% \[([\d.]+), ([\d.]+)\] \(bow, 3 seeds\)", rows["CNN-rand"])
    assert ours and float(ours[1]) < 72.0 < float(ours[2])  # the mean with its t interval over seeds
    assert "inside our interval" in rows["CNN-rand"]  # 76.1 against [67.0, 77.0]
    assert "no counterpart in this study" in text
    assert "Not run here: its trials were skipped" in text  # the reason: once, in skipped_lines
    assert "not run here" in text
    assert anchor_section([], runs) == []


def test_report_shows_anchors_from_the_study(write_study, tmp_path):
    write_study(
        variants=["mean"],
        seeds=2,
        training={"epochs": 5, "history_every": 5},
        anchors=[ANCHOR | {"source": "A textbook (2021)"}],
    )
    args = ["--studies", str(tmp_path / "studies"), "--results", str(tmp_path / "results")]
    assert main(["run", "tiny", "--no-progress", *args]) == 0
    assert main(["report", "tiny", *args]) == 0
    report = (tmp_path / "results" / "tiny" / "report.md").read_text()
    assert "## Published anchors" in report and "A textbook (2021)" in report and "88.5%" in report
    assert "(mean, 2 seeds)" in report


def test_an_anchor_finds_rows_whose_variant_set_its_own_dataset_parameters():
    """A variant's own `vocab_size` labels its rows `imdb(vocab_size=10000)`; an anchor naming
    `imdb` still reaches them (by the dataset's name), and no other dataset's."""
    import pandas as pd

    from suite.report.anchors import on_dataset

    runs = pd.DataFrame(
        {
            "dataset": ["imdb(vocab_size=10000)", "imdb(vocab_size=20000)", "mr"],
            "dataset_name": ["imdb", "imdb", "mr"],
        }
    )
    assert on_dataset(runs, "imdb").tolist() == [True, True, False]
    assert on_dataset(runs.drop(columns="dataset_name"), "imdb").tolist() == [False, False, False]
