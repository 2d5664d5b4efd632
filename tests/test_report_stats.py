import math

import numpy as np
import pandas as pd
import pytest

from suite.report.stats import (
    Paired,
    correct,
    exponent,
    format_summary,
    holm,
    min_p,
    paired,
    summarize,
)


def test_summary_bootstrap_is_deterministic_and_brackets_the_mean():
    x = np.random.default_rng(1).normal(0.5, 0.1, 10)
    s = summarize(x)
    assert s.n == 10 and s.lo < s.mean < s.hi and s.std == pytest.approx(x.std(ddof=1))
    assert summarize(x) == s


def test_degenerate_and_too_few_seeds_give_no_nonsense_interval():
    ln2 = math.log(2)
    s = summarize([ln2] * 10)
    assert s.constant and s.lo == s.hi == s.mean
    assert format_summary(s) == "0.693 (all 10 equal)"
    two = summarize([0.1, 0.3])
    assert math.isnan(two.lo) and format_summary(two) == "0.200 (n=2, no CI)"
    assert format_summary(summarize([])) == "–"


def test_paired_constant_difference_reaches_the_exact_floor():
    base, other = pd.Series([math.log(2)] * 10), pd.Series([0.0] * 10)
    r = paired(base, other, "final_loss")
    assert r.p == pytest.approx(min_p(10)) and r.lo == r.hi == pytest.approx(-math.log(2))
    assert (r.better, r.worse) == (10, 0)
    same = paired(base, base, "final_loss")
    assert same.p == 1.0 and same.diff == 0.0
    few = paired(base[:2], other[:2], "final_loss")
    assert math.isnan(few.p) and math.isnan(few.lo)


def test_paired_uses_only_common_seeds_and_direction_of_metric():
    base = pd.Series([0.5, 0.6, 0.7, 0.8], index=[0, 1, 2, 3])
    other = pd.Series([0.6, 0.7, 0.8, 0.9, 0.1], index=[0, 1, 2, 3, 4])
    r = paired(base, other, "final_accuracy")
    assert r.n == 4 and r.better == 4 and r.diff == pytest.approx(0.1)
    assert paired(base, other, "final_loss").worse == 4


def test_holm_matches_hand_computed_values():
    got = holm([0.01, 0.04, 0.03, np.nan, 0.005])
    np.testing.assert_allclose(got[[0, 1, 2, 4]], [0.03, 0.06, 0.06, 0.02])
    assert math.isnan(got[3])


def test_significance_needs_the_corrected_test_and_a_ci_excluding_zero():
    def make(p, lo, hi):
        return Paired(10, 0.0, 0.1, 0.1, lo, hi, 10, 0, p)

    a, b, c = make(0.001, 0.05, 0.15), make(0.001, -0.01, 0.2), make(0.04, 0.05, 0.15)
    correct([a, b, c])
    assert a.significant and not b.significant  # b: its CI includes 0
    assert c.significant and c.p_holm == pytest.approx(0.04)  # step-down: the largest p is not scaled
    uncorrected_only = [make(0.02, 0.05, 0.15), make(0.02, 0.05, 0.15), make(0.03, 0.05, 0.15)]
    correct(uncorrected_only)
    assert not any(x.significant for x in uncorrected_only)
    assert [x.p_holm for x in uncorrected_only] == pytest.approx([0.06, 0.06, 0.06])


def test_exponent_recovers_a_power_law():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"seed": np.repeat([0, 1, 2, 3], 4), "T": np.tile([64, 256, 1024, 4096], 4)})
    frame["y"] = frame["T"] ** 2 * np.exp(rng.normal(0, 0.05, len(frame)))
    k, lo, hi = exponent(frame, "T", "y")
    assert k == pytest.approx(2, abs=0.05) and lo <= k <= hi
    assert math.isnan(exponent(frame[frame["seed"] < 2], "T", "y")[1])
