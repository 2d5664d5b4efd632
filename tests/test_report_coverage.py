"""The report's 95% intervals cover the true mean at every n it gives one (seeded simulation).

2,000 draws per distribution and n; the interval is the report's own (`t_interval`, the one
`summarize` and `paired` use). Where all values of a draw are equal no interval is given (a
two-point accuracy at n = 3 often is), so coverage is over the draws that get one; the
test also checks that such draws are the only ones without.
"""

import math

import numpy as np
import pandas as pd
import pytest

from suite.report.stats import MIN_SEEDS, paired, summarize, t_interval, two_level

SIMS = 2000
NS = (3, 5, 10, 30)


def _normal(rng, size):
    return rng.normal(0.7, 0.05, size), 0.7


def _skewed(rng, size):  # gamma, shape 4: skewness 1.0
    return rng.gamma(4.0, 0.01, size), 0.04


def _heavy(rng, size):  # Student t with 3 degrees of freedom
    return 0.5 + 0.02 * rng.standard_t(3, size), 0.5


def _two_point(rng, size):  # a model that learns (1.0) or not (0.5), like accuracy over seeds
    return np.where(rng.random(size) < 0.7, 1.0, 0.5), 0.85


DISTRIBUTIONS = {"normal": _normal, "skewed": _skewed, "heavy-tailed": _heavy, "two-point": _two_point}


def _coverage(draws: np.ndarray, truth: float) -> tuple[float, int]:
    covered = given = 0
    for x in draws:
        lo, hi = t_interval(x)
        if math.isnan(lo):
            assert len(x) < MIN_SEEDS or np.ptp(x) == 0  # only for equal values
            continue
        given += 1
        covered += lo <= truth <= hi
    return covered / given, given


@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_interval_of_the_mean_covers(name, n):
    rng = np.random.default_rng([7, n, list(DISTRIBUTIONS).index(name)])
    draws, truth = DISTRIBUTIONS[name](rng, (SIMS, n))
    coverage, given = _coverage(draws, truth)
    assert coverage >= 0.93, f"{name}, n={n}: {coverage:.3f} of {given}"
    if name != "two-point":
        assert given == SIMS


@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_interval_of_the_paired_difference_covers(name, n):
    """Baseline and variant share a seed's luck (correlated pairs); Δ = variant − baseline. Two-point:
    the variant's seed learns (1.0) or not (0.5) as the baseline's did, flipped in 30% of seeds.
    (t is not exact for every discrete law: Δ of two independent two-point draws mixed 0.6 : 1
    covers 0.926 at n = 10; a three-point Δ at 50% flips 0.938.)"""
    rng = np.random.default_rng([11, n, list(DISTRIBUTIONS).index(name)])
    base, mean_b = DISTRIBUTIONS[name](rng, (SIMS, n))
    if name == "two-point":
        other = np.where(rng.random((SIMS, n)) < 0.3, 1.5 - base, base)
        truth = 0.3 * (0.3 * 0.5 - 0.7 * 0.5)
    else:
        noise, mean_n = DISTRIBUTIONS[name](rng, (SIMS, n))
        other = 0.6 * base + noise + 0.01
        truth = -0.4 * mean_b + mean_n + 0.01
    coverage, given = _coverage(other - base, truth)
    assert coverage >= 0.93, f"{name}, n={n}: {coverage:.3f} of {given}"


def test_summary_and_paired_use_the_tested_interval():
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 1, 5), rng.normal(0.5, 1, 5)
    s = summarize(x)
    assert (s.lo, s.hi) == pytest.approx(t_interval(x))
    r = paired(pd.Series(x), pd.Series(y), "final_accuracy")
    assert (r.lo, r.hi) == pytest.approx(t_interval(y - x))


def test_below_three_values_there_is_no_interval():
    assert math.isnan(t_interval(np.array([0.1, 0.2]))[0])
    assert math.isnan(summarize([0.1, 0.2]).lo)


def test_two_level_interval_covers_seed_and_example_noise():
    """Accuracy of S seeds on the same N test examples: the true accuracy (over new seeds and new
    test sets) is covered, and a seeds-only interval, blind to the finite test set, is not."""
    rng = np.random.default_rng(5)
    s, n, truth = 5, 300, 0.75
    z = rng.normal(0, 1.5, 400_000) + rng.normal(0, 0.3, 400_000)
    population = float(np.mean(1 / (1 + np.exp(-(1.45 + z)))))  # accuracy over new seeds and examples
    two = seeds_only = 0
    for _ in range(300):
        difficulty = rng.normal(0, 1.5, n)  # each test example's own easiness, shared by all seeds
        skill = rng.normal(0, 0.3, s)  # each seed's luck
        p = 1 / (1 + np.exp(-(1.45 + difficulty[None, :] + skill[:, None])))
        matrix = (rng.random((s, n)) < p).astype(float)
        _, lo, hi, _ = two_level(matrix)
        two += lo <= population <= hi
        lo, hi = t_interval(matrix.mean(axis=1))
        seeds_only += lo <= population <= hi
    assert abs(population - truth) < 0.05
    assert two / 300 >= 0.93 and seeds_only / 300 < two / 300
