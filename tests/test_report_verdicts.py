"""Each verdict from a small synthetic result table, asserted in the words the report prints: a
contrast of two variants (no configurations stored: the variant against the baseline) on the
primary metric, accuracy."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suite.report.findings import answer_section, compare_contrasts, health_findings, healths
from suite.report.load import Results
from suite.report.tables import comparisons_table

SEEDS = 10


def _results(
    base_acc,
    other_acc,
    base_loss=None,
    other_loss=None,
    chance=0.5,
    train_gap=0.0,
    min_effect=None,
    primary=None,
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
    meta = {"baseline": "base", "spec": {"min_effect": min_effect or {}, "primary": primary}}
    return Results(Path("."), "synthetic", meta, runs, pd.DataFrame(), pd.DataFrame())


def _noise(scale, seed=0):
    return np.random.default_rng(seed).normal(0, scale, SEEDS)


def _verdicts(results):
    comparisons = compare_contrasts(results)
    words = {c.metric: c.verdict.word for c in comparisons}
    text = "\n".join(answer_section(results, comparisons, healths(results))) + comparisons_table(comparisons)
    return words, text


def test_better_and_worse_need_significance_and_a_large_enough_effect():
    base = 0.80 + _noise(0.01)
    words, text = _verdicts(_results(base, base + 0.10 + _noise(0.01, 1)))
    assert words["selected_accuracy"] == "better" and "**better**" in text
    assert words["selected_loss"] == "described"  # not the primary metric: no verdict, an interval
    assert (
        "- **variant: base → other, in base** — task: 0.801 → 0.903, Δ +0.102 [0.098, 0.107] (95%)" in text
        and "10/10 seeds agree" in text
    )
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
    assert "equivalent (within ±0.005)" in text and "no significant difference" not in text.lower()


def test_a_noisy_difference_reads_inconclusive_with_the_seeds_needed():
    base = 0.80 + _noise(0.01)
    words, text = _verdicts(_results(base, base - 0.03 + _noise(0.06, 1)))
    assert words["selected_accuracy"] == "inconclusive"
    assert "inconclusive; ≈ " in text and "seeds to resolve" in text
    assert "] (95%), " in text  # a one-test family: the interval is at 95%
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
    assert words["selected_accuracy"] == "not compared"
    assert "task: not compared (both failed to learn)" in text and "**better**" not in text
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


def test_accuracy_above_chance_with_a_loss_above_the_constant_predictors_is_overconfident_not_failed():
    """heads_8 on relative_position: accuracy 0.694 (lower bound 0.616) against a majority class of
    0.53, loss above ln 2, train accuracy 0.89–0.99: it learned something, with confident mistakes."""
    acc = 0.694 + _noise(0.1)
    results = _results(acc, acc, base_loss=1.6 + _noise(0.1), other_loss=0.5 + _noise(0.01), chance=0.53,
                       train_gap=0.25)  # fmt: skip
    h = healths(results)[("task", "base")]
    assert h.state == "overconfident" and not h.failed and h.flags == ("overconfident", "overfit")
    words, text = _verdicts(results)
    assert words["selected_accuracy"] != "not compared" and "base: overconfident, overfit" in text


def test_still_improving_is_flagged_where_the_val_chosen_epoch_is_the_last():
    base = 0.80 + _noise(0.01)
    results = _results(base, base + 0.10 + _noise(0.01, 1))
    last = results.runs["variant"] == "other"
    results.runs["final_epoch"] = 8.0
    results.runs["selected_epoch"] = np.where(last, 8.0, 5.0)
    results.runs["selection"] = "best val accuracy"
    state = healths(results)
    assert (
        state[("task", "other")].flags == ("still improving",) and state[("task", "base")].state == "learned"
    )
    words, text = _verdicts(results)
    assert words["selected_accuracy"] == "better" and "flagged: other: still improving" in text
    assert "Still improving (the val-chosen epoch is the last in most seeds" in text
    results.runs["selection"] = "final epoch (no val split)"  # the last epoch by construction: no flag
    assert healths(results)[("task", "other")].state == "learned"


def test_the_same_difference_in_every_seed_is_decided_by_the_exact_sign_test():
    base = 0.80 + _noise(0.01)
    words, text = _verdicts(_results(base, base + 0.10))
    assert words["selected_accuracy"] == "better"  # 2 / 2^10 = 0.002 < 0.05
    assert "Δ +0.100 in all 10 seeds" in text and "[0.100, 0.100]" not in text  # no zero-width interval
    assert "exact sign test p = 0.0020" in text and "– (same Δ in every seed)" in text
    words, _ = _verdicts(_results(base, base + 0.001))  # |Δ| < min_effect, significant: negligible
    assert words["selected_accuracy"] == "negligible"


def test_a_verdict_never_contradicts_its_interval():
    """Over many noisy designs: 'inconclusive' only where the printed interval reaches 0, a decided
    verdict only where it excludes 0, and |Δ| beyond the smallest effect whenever it is decided."""
    for seed in range(40):
        rng = np.random.default_rng(seed)
        base = 0.8 + rng.normal(0, 0.01, SEEDS)
        other = base + rng.normal(0.0, 0.01, SEEDS) + rng.choice([0.0, 0.006, 0.02])
        (c,) = [c for c in compare_contrasts(_results(base, other)) if c.primary]
        r, word = c.result, c.verdict.word
        excludes = r.lo > 0 or r.hi < 0
        assert excludes == r.rejected, (seed, r.lo, r.hi, r.p_adj)
        if word in ("better", "worse"):
            assert excludes and abs(r.diff) > c.verdict.min_effect
        if word == "inconclusive":
            assert not excludes


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


def test_loss_as_primary_gets_a_margin_on_its_own_scale_and_no_equivalence_that_dwarfs_it():
    """ablation_positional's reversal loss: attention 1.5e-05, positional 1.0e-04, worse in every
    seed. The margin is max(5% of the reference, 1% of ln 2) = 0.0069: it dwarfs both values, so
    no 'equivalent'; the difference itself is tested like any other."""
    acc = np.ones(SEEDS)
    base_loss = 1.5e-5 + _noise(1e-6)
    words, text = _verdicts(
        _results(
            acc, acc, base_loss=base_loss, other_loss=base_loss + 8.7e-5 + _noise(3e-6, 1), primary="loss"
        )
    )
    assert words["selected_accuracy"] == "described" and words["selected_loss"] == "negligible"
    assert "negligible (|Δ| ≤ 0.007)" in text and "equivalent" not in text
    words, _ = _verdicts(
        _results(acc, acc, base_loss=base_loss, other_loss=base_loss + _noise(3e-6, 1), primary="loss")
    )
    assert words["selected_loss"] == "inconclusive"  # inside ±0.0069, but that margin says nothing here
    from suite import metrics

    assert metrics.get("loss").min_effect(1.5e-5, chance=math.log(2)) == pytest.approx(0.01 * math.log(2))
    assert metrics.get("loss").min_effect(2.0, chance=math.log(2)) == pytest.approx(0.1)
    assert metrics.get("loss").min_effect(0.1) == pytest.approx(0.01)  # no chance loss recorded


def test_a_diverged_side_stops_the_comparison():
    base = 0.80 + _noise(0.01)
    results = _results(base, base + 0.1)
    results.runs.loc[results.runs["key"] == "other3", "status"] = "diverged"
    words, text = _verdicts(results)
    assert words["selected_accuracy"] == "not compared" and "not compared (a side diverged)" in text


def test_a_factorial_grid_reports_main_effects_and_their_interaction_paired_by_seed():
    """2 × 2: dropout helps by 0.04 without LayerNorm and by 0.10 with it; LayerNorm alone adds
    0.02. Main effects are averages over the other axis; the interaction is the difference."""
    import json

    effect = {(0.0, False): 0.0, (0.1, False): 0.04, (0.0, True): 0.02, (0.1, True): 0.12}
    rows = []
    for (dropout, norm), shift in effect.items():
        label = f"attention[dropout={dropout}, norm={norm}]"
        config = json.dumps(
            {"model": {"encoder": "attention", "dropout": dropout, "norm": norm}, "training": {}}
        )
        for seed in range(SEEDS):
            acc = 0.8 + shift + 0.01 * np.sin(seed)  # the seed moves every cell alike: pairing removes it
            rows.append({"key": f"{label}{seed}", "variant": label, "dataset": "task", "seed": seed, "device": "cpu",
                         "status": "ok", "eval_split": "test", "selected_accuracy": acc, "selected_loss": 1 - acc,
                         "chance_accuracy": 0.5, "chance_loss": math.log(2), "config": config})  # fmt: skip
    runs = pd.DataFrame(rows)
    runs["variant"] = pd.Categorical(
        runs["variant"], categories=list(dict.fromkeys(runs["variant"])), ordered=True
    )
    grid = {"dropout": [0.0, 0.1], "norm": [False, True]}
    meta = {"baseline": "attention[dropout=0.0, norm=False]", "spec": {"grid": grid}}
    results = Results(Path("."), "factorial", meta, runs, pd.DataFrame(), pd.DataFrame())
    found = {c.contrast.name: c for c in compare_contrasts(results) if c.primary}
    main = found["dropout: 0.0 → 0.1, main effect (mean over norm)"]
    assert main.result.diff == pytest.approx(0.07) and main.verdict.word == "better"
    assert found["norm: False → True, main effect (mean over dropout)"].result.diff == pytest.approx(0.05)
    inter = found["dropout × norm: the effect of norm False → True at dropout=0.1 minus at dropout=0.0"]
    assert inter.result.diff == pytest.approx(0.06) and inter.verdict.word == "interacts"
    assert inter.result.test == "sign"  # the same in every seed: the exact test over 10 seeds


def test_a_run_that_reports_its_last_point_by_construction_is_not_still_improving():
    """select: final (or no val split) reports the last point in every seed by construction, in the
    words of an epoch run or of a streaming run's steps: no "still improving" flag either way."""
    from suite.report.verdicts import _last_epoch_share

    chosen = {"selected_epoch": [1000.0, 1000.0], "final_epoch": [1000.0, 1000.0]}
    for words in ("final epoch (training.select: final)", "final step (training.select: final)"):
        assert _last_epoch_share(pd.DataFrame({**chosen, "selection": [words] * 2})) is None
    assert _last_epoch_share(pd.DataFrame({**chosen, "selection": ["best val accuracy"] * 2})) == (2, 2)
