import math

import numpy as np
import pandas as pd
import pytest

from suite.report.stats import (
    exponent,
    format_summary,
    holm_levels,
    min_p,
    paired,
    summarize,
)


def test_summary_is_a_t_interval_that_brackets_the_mean():
    x = np.random.default_rng(1).normal(0.5, 0.1, 10)
    s = summarize(x)
    assert s.n == 10 and s.lo < s.mean < s.hi and s.std == pytest.approx(x.std(ddof=1))
    half = 2.2621571627409915 * x.std(ddof=1) / np.sqrt(10)  # t(0.975, 9)
    assert (s.lo, s.hi) == pytest.approx((x.mean() - half, x.mean() + half))
    assert summarize([0.9, 1.0, 1.0, 0.8], bounds=(0, 1)).hi == 1.0  # cut to the metric's range


def test_degenerate_and_too_few_seeds_give_no_nonsense_interval():
    ln2 = math.log(2)
    s = summarize([ln2] * 10)
    assert s.constant and not s.has_ci  # its spread is unknown, not zero
    assert format_summary(s) == "0.693 (all 10 equal)"
    two = summarize([0.1, 0.3])
    assert math.isnan(two.lo) and format_summary(two) == "0.200 (n=2, no CI)"
    assert format_summary(summarize([])) == "–"


def test_paired_constant_difference_reaches_the_exact_floor():
    base, other = pd.Series([math.log(2)] * 10), pd.Series([0.0] * 10)
    r = paired(base, other, "final_loss")
    assert r.p == pytest.approx(min_p(10)) and r.diff == pytest.approx(-math.log(2))
    assert r.constant and not r.has_ci  # the same Δ in every seed: spread unknown, not zero
    assert (r.better, r.worse) == (10, 0) and r.p_improve == 1.0
    same = paired(base, base, "final_loss")
    assert same.p == 1.0 and same.diff == 0.0 and same.constant and not same.has_ci
    few = paired(base[:2], other[:2], "final_loss")
    assert math.isnan(few.p) and math.isnan(few.lo)


def test_paired_uses_only_common_seeds_and_direction_of_metric():
    base = pd.Series([0.5, 0.6, 0.7, 0.8], index=[0, 1, 2, 3])
    other = pd.Series([0.6, 0.7, 0.8, 0.9, 0.1], index=[0, 1, 2, 3, 4])
    r = paired(base, other, "final_accuracy")
    assert r.n == 4 and r.better == 4 and r.diff == pytest.approx(0.1)
    assert paired(base, other, "final_loss").worse == 4


def test_holm_matches_hand_computed_values():
    got, rejected, level = holm_levels([0.01, 0.04, 0.03, np.nan, 0.005])
    np.testing.assert_allclose(got[[0, 1, 2, 4]], [0.03, 0.06, 0.06, 0.02])
    assert math.isnan(got[3]) and not rejected[3]
    assert rejected.tolist() == [True, False, False, False, True]
    # tested at 0.05/4 and 0.05/3; the rest at the first failing step's 0.05/2
    np.testing.assert_allclose(level[[4, 0, 2, 1]], [0.0125, 0.05 / 3, 0.025, 0.025])


def test_exponent_recovers_a_power_law():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"seed": np.repeat([0, 1, 2, 3], 4), "T": np.tile([64, 256, 1024, 4096], 4)})
    frame["y"] = frame["T"] ** 2 * np.exp(rng.normal(0, 0.05, len(frame)))
    k, lo, hi = exponent(frame, "T", "y")
    assert k == pytest.approx(2, abs=0.05) and lo <= k <= hi
    assert math.isnan(exponent(frame[frame["seed"] < 2], "T", "y")[1])


def test_shared_measurements_count_once():
    from suite.report.stats import independent

    frame = pd.DataFrame(
        {
            "train_samples_per_s": [100.0, 100.0, 100.0, 80.0, 90.0],
            "infer_samples_per_s": [1.0, 2.0, 3.0, 4.0, 5.0],
            "timing_group": ["g1", "g1", "g1", None, None],
        }
    )
    values, shared = independent(frame, "train_samples_per_s")
    assert sorted(values) == [80.0, 90.0, 100.0] and shared == 3
    values, shared = independent(frame, "infer_samples_per_s")  # measured per trial
    assert len(values) == 5 and shared == 1


def test_seeds_needed_grows_as_the_effect_shrinks():
    from suite.report.stats import seeds_needed

    big, small = seeds_needed(0.05, 0.05, 0.01), seeds_needed(0.05, 0.01, 0.01)
    assert big < small and seeds_needed(0.0, 0.1, 0.01) == 8  # 2 / 2^8 ≤ 0.01: the exact test's floor
    assert seeds_needed(float("nan"), 0.1, 0.01) is None


def test_curve_bands_are_the_tables_t_interval_and_a_line_where_seeds_agree():
    from scipy import stats

    from suite.report.figures import curve_bands

    seeds = [1.2, 1.4, 1.9]  # epoch 1 spreads (within loss's bounds); epoch 2 is equal in every seed
    history = pd.DataFrame(
        {
            "dataset": "d",
            "variant": "v",
            "seed": [0, 1, 2, 0, 1, 2],
            "epoch": [1, 1, 1, 2, 2, 2],
            "loss": [*seeds, 0.5, 0.5, 0.5],
        }
    )
    bands = curve_bands(history, "loss").set_index("epoch")
    half = stats.t.ppf(0.975, 2) * np.std(seeds, ddof=1) / np.sqrt(3)
    assert bands.loc[1, "lo"] == pytest.approx(np.mean(seeds) - half)
    assert bands.loc[1, "hi"] == pytest.approx(np.mean(seeds) + half)
    assert bands.loc[2, "lo"] == bands.loc[2, "hi"] == 0.5


def test_a_median_difference_gets_an_interval_only_from_enough_measurements():
    from suite.report.compare import MIN_BOOTSTRAP, difference_ci

    rng = np.random.default_rng(0)
    few_a, few_b = rng.normal(10, 1, 3), rng.normal(20, 1, 3)
    d, lo, hi = difference_ci(few_a, few_b)
    assert d == pytest.approx(np.median(few_b) - np.median(few_a)) and np.isnan(lo) and np.isnan(hi)
    many_a, many_b = rng.normal(10, 1, MIN_BOOTSTRAP), rng.normal(20, 1, MIN_BOOTSTRAP)
    d, lo, hi = difference_ci(many_a, many_b)
    assert lo < d < hi and lo > 0


def test_exponent_interval_is_a_t_interval_over_per_curve_slopes():
    from suite.report.stats import t_interval

    # three curves with exponents 1.9, 2.0, 2.1: a percentile bootstrap of 3 curves (10 distinct
    # resamples) gives about [1.9, 2.1]; the t interval over the 3 slopes is 2 ± 4.30 · 0.1 / √3
    ts = np.array([64, 256, 1024, 4096], dtype=float)
    frame = pd.concat(
        [pd.DataFrame({"seed": i, "T": ts, "y": 5.0 * ts**k}) for i, k in enumerate([1.9, 2.0, 2.1])]
    )
    k, lo, hi = exponent(frame, "T", "y")
    assert k == pytest.approx(2.0) and (lo, hi) == pytest.approx(t_interval(np.array([1.9, 2.0, 2.1])))
    assert lo == pytest.approx(2.0 - 0.2484, abs=1e-3)
