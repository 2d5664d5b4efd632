"""The corrected resampled t (Nadeau & Bengio 2003), checked by hand and by simulation."""

import math

import numpy as np
import pytest
from scipy import stats

from suite.report.resampling import corrected_resampled_t


def test_the_variance_is_inflated_by_the_test_to_train_ratio():
    d = np.array([0.02, 0.01, 0.03, 0.00, 0.02])
    res = corrected_resampled_t(d, n_train=900, n_test=100)
    se = math.sqrt((1 / 5 + 100 / 900) * d.var(ddof=1))
    assert res.mean == pytest.approx(d.mean())
    assert res.p == pytest.approx(2 * stats.t.sf(d.mean() / se, df=4))
    assert res.hi - res.mean == pytest.approx(stats.t.ppf(0.975, 4) * se)
    plain = stats.ttest_1samp(d, 0)
    assert res.p > plain.pvalue  # wider than the plain paired t, never narrower


def test_no_spread_gives_no_interval_and_bad_sizes_are_refused():
    same = corrected_resampled_t([0.1] * 10, n_train=9, n_test=1)
    assert same.n == 10 and same.mean == pytest.approx(0.1)
    assert math.isnan(same.lo) and math.isnan(same.p)
    assert math.isnan(corrected_resampled_t([0.1], n_train=9, n_test=1).lo)
    with pytest.raises(ValueError, match="n_train and n_test must be positive"):
        corrected_resampled_t([0.1, 0.2], n_train=0, n_test=1)


def _centroids(x, y, rows):
    """A nearest-centroid classifier fit on `rows`: its direction and midpoint."""
    m1, m0 = x[rows & (y == 1)].mean(0), x[rows & (y == 0)].mean(0)
    return m1 - m0, (m1 + m0) / 2


def _null_rejections(rng, reps, resample, n=500, dim=50, effect=0.08):
    """Two learners of the same kind, each fit on its own fixed half of every training set (so their
    expected accuracies are equal), compared on the same test rows: how often each test rejects."""
    plain = corrected = 0
    w = np.full(dim, effect)
    for _ in range(reps):
        y = rng.integers(0, 2, n)
        x = rng.normal(size=(n, dim)) + np.outer(2 * y - 1, w)
        half = rng.permutation(n) % 2 == 0
        diffs = []
        for test in resample(n):
            train = ~test

            (va, ca), (vb, cb) = _centroids(x, y, train & half), _centroids(x, y, train & ~half)
            right_a = ((x[test] - ca) @ va > 0) == y[test]
            right_b = ((x[test] - cb) @ vb > 0) == y[test]
            diffs.append(right_a.mean() - right_b.mean())
        d = np.array(diffs)
        n_test = int(resample.n_test(n))
        plain += d.var() > 0 and stats.ttest_1samp(d, 0).pvalue < 0.05
        corrected += corrected_resampled_t(d, n_train=n - n_test, n_test=n_test).p < 0.05
    return plain / reps, corrected / reps


class Subsamples:
    """J random 90/10 splits, the design the correction was derived for."""

    def __init__(self, rng, j=30):
        self.rng, self.j = rng, j

    def __call__(self, n):
        for _ in range(self.j):
            test = np.zeros(n, dtype=bool)
            test[self.rng.permutation(n)[: n // 10]] = True
            yield test

    @staticmethod
    def n_test(n):
        return n // 10


class KFold:
    def __init__(self, rng, k=10):
        self.rng, self.k = rng, k

    def __call__(self, n):
        fold = self.rng.permutation(n) % self.k
        for f in range(self.k):
            yield fold == f

    def n_test(self, n):
        return n // self.k


def test_under_the_null_the_corrected_t_keeps_its_size_where_the_plain_t_does_not():
    rng = np.random.default_rng(0)
    plain, corrected = _null_rejections(rng, 200, Subsamples(rng))
    # Seeded: plain 0.215, corrected 0.020 (Monte Carlo SE of a 5% rate over 200 runs ≈ 0.015).
    assert plain > 0.10
    assert corrected <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / 200)


def test_k_fold_cross_validation_keeps_the_size_too():
    rng = np.random.default_rng(1)
    _, corrected = _null_rejections(rng, 150, KFold(rng))
    assert corrected <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / 150)


def test_a_replicate_is_a_seed_or_a_seed_and_fold_where_a_dataset_has_folds():
    import pandas as pd

    from suite.report.resampling import replicate_ids

    # one cross-validated dataset gives every row a fold column: the others' folds are missing
    rows = pd.DataFrame({"seed": [0, 1, 0, 0], "fold": pd.array([None, None, 0, 1], dtype="Int64")})
    assert replicate_ids(rows).tolist() == ["0", "1", "0/0", "0/1"]
    assert replicate_ids(rows[["seed"]]).tolist() == ["0", "1", "0", "0"]
