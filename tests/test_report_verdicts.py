"""Each verdict from a small synthetic result table, asserted in the words the report prints."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suite.report.findings import compare_to_baseline, comparison_findings, health_findings, healths
from suite.report.load import Results
from suite.report.tables import comparisons_table

SEEDS = 10


def _results(
    base_acc, other_acc, base_loss=None, other_loss=None, chance=0.5, train_gap=0.0, min_effect=None
):
    rows = []
    for variant, acc, loss in (("base", base_acc, base_loss), ("other", other_acc, other_loss)):
        acc = np.asarray(acc, float)
        loss = np.asarray(loss if loss is not None else 1.0 - acc, float)
        for seed in range(SEEDS):
            rows.append(
                {
                    "key": f"{variant}{seed}",
                    "variant": variant,
                    "dataset": "task",
                    "seed": seed,
                    "device": "cpu",
                    "status": "ok",
                    "eval_split": "test",
                    "selected_accuracy": acc[seed],
                    "selected_loss": loss[seed],
                    "selected_train_accuracy": min(1.0, acc[seed] + train_gap),
                    "chance_accuracy": chance,
                    "chance_loss": math.log(2),
                }
            )
    runs = pd.DataFrame(rows)
    runs["variant"] = pd.Categorical(runs["variant"], categories=["base", "other"], ordered=True)
    meta = {"baseline": "base", "spec": {"min_effect": min_effect or {}}}
    return Results(Path("."), "synthetic", meta, runs, pd.DataFrame(), pd.DataFrame())


def _noise(scale, seed=0):
    return np.random.default_rng(seed).normal(0, scale, SEEDS)


def _verdicts(results):
    comparisons = compare_to_baseline(results)
    words = {c.metric: c.verdict.word for c in comparisons}
    text = " ".join(comparison_findings(comparisons, "base")) + comparisons_table(comparisons)
    return words, text


def test_better_and_worse_need_significance_and_a_large_enough_effect():
    base = 0.80 + _noise(0.01)
    words, text = _verdicts(_results(base, base + 0.10 + _noise(0.01, 1)))
    assert words["selected_accuracy"] == "better" and "**better**" in text
    assert "accuracy on test rises from" in text and "P(improvement)" in text
    words, text = _verdicts(_results(base, base - 0.10 + _noise(0.01, 1)))
    assert words["selected_accuracy"] == "worse" and "**worse**" in text


def test_significant_but_tiny_reads_negligible():
    base = 0.80 + _noise(0.01)
    words, text = _verdicts(_results(base, base + 0.002 + _noise(0.0002, 1)))
    assert words["selected_accuracy"] == "negligible"
    assert "negligible" in text and "**better**" not in text


def test_a_tight_interval_inside_min_effect_reads_equivalent():
    base = 0.80 + _noise(0.01)
    words, text = _verdicts(_results(base, base + _noise(0.001, 1)))
    assert words["selected_accuracy"] == "equivalent"
    assert "equivalent to base (TOST at 5%)" in text and "no significant difference" not in text.lower()


def test_a_noisy_difference_reads_inconclusive_with_the_seeds_needed():
    base = 0.80 + _noise(0.01)
    words, text = _verdicts(_results(base, base - 0.03 + _noise(0.06, 1)))
    assert words["selected_accuracy"] == "inconclusive"
    assert "inconclusive against base" in text and "seeds to resolve" in text
    assert "] over seeds (Holm p = " in text  # the interval says which variation it covers
    assert "no significant difference" not in text.lower()


def test_a_study_may_raise_min_effect():
    base = 0.80 + _noise(0.01)
    words, _ = _verdicts(_results(base, base + 0.02 + _noise(0.002, 1), min_effect={"accuracy": 0.05}))
    assert words["selected_accuracy"] == "negligible"


def test_two_failed_variants_are_never_ranked():
    base = 0.5 + _noise(0.002)
    other = 0.5 + _noise(0.002, 1)
    results = _results(base, other, base_loss=4.5 + _noise(0.1), other_loss=1.0 + _noise(0.1, 1))
    words, text = _verdicts(results)
    assert set(words.values()) == {"both failed"}
    assert "both failed to learn" in text and "**better**" not in text
    assert "not compared with base (no verdict): both failed to learn the task" in text
    assert "neither is better" not in text  # no test was run, so no claim of no difference
    state = healths(results)
    assert state[("task", "base")].state == "failed to learn"
    assert "failed to learn" in health_findings(results, state)[0]


@pytest.mark.parametrize(
    ("acc", "gap", "state"),
    [(0.95, 0.0, "learned"), (0.75, 0.2, "overfit"), (0.502, 0.0, "failed to learn")],
)
def test_health_states(acc, gap, state):
    results = _results(acc + _noise(0.01), acc + _noise(0.01, 1), train_gap=gap)
    assert healths(results)[("task", "other")].state == state


def test_grid_variants_are_compared_at_their_own_grid_point():
    from suite.report.findings import grid_baseline

    labels = {"a[dim=8]", "a[dim=16]", "b[dim=8]", "b[dim=16]"}
    assert grid_baseline("b[dim=16]", "a[dim=8]", labels) == "a[dim=16]"
    assert grid_baseline("a[dim=16]", "a[dim=8]", labels) == "a[dim=8]"  # one variant: the baseline point
    assert grid_baseline("c", "a", {"a", "c"}) == "a"


def test_the_same_difference_in_every_seed_gets_no_interval_and_no_equivalence():
    from suite.report.stats import correct, paired
    from suite.report.verdicts import judge

    base = 0.80 + _noise(0.01)
    words, text = _verdicts(_results(base, base + 0.10))
    assert words["selected_accuracy"] == "better"  # the exact sign-flip test decides
    assert "Δ +0.100 in every seed" in text and "[0.100, 0.100]" not in text  # no zero-width interval
    assert "– (same Δ in every seed)" in text
    few = paired(pd.Series(base[:4]), pd.Series(base[:4] + 0.001), "selected_accuracy")
    correct([few])
    assert not few.significant and not few.has_ci
    # |Δ| < min_effect, but a spread of zero is unknown, not evidence of equivalence; nor would
    # more seeds of the same Δ ever be, so no seed count is promised
    tiny = judge(few, "selected_accuracy", 1)
    assert tiny.word == "inconclusive" and tiny.seeds_needed is None
    large = paired(pd.Series(base[:4]), pd.Series(base[:4] + 0.1), "selected_accuracy")
    correct([large])
    assert judge(large, "selected_accuracy", 1).seeds_needed == 6  # the exact test: 2 / 2^6 ≤ 0.05 < 2 / 2^5


def test_the_ranking_is_by_the_headline_accuracy_whatever_the_registry_order(monkeypatch):
    from suite import metrics
    from suite.report.findings import summary_findings

    base = 0.80 + _noise(0.01)
    results = _results(base, base + 0.10 + _noise(0.01, 1))
    entries = metrics.REGISTRY._entries
    reordered = {"accuracy": entries["accuracy"]} | {k: v for k, v in entries.items() if k != "accuracy"}
    monkeypatch.setattr(metrics.REGISTRY, "_entries", reordered)
    (line,) = summary_findings(results, healths(results))
    assert "**task**, accuracy on test, ranked by mean" in line and line.index("other") < line.index("base")
