"""The verdict procedure, proven by seeded simulation (docs/statistics.md quotes these numbers).

A false verdict is any rejection under the null (better, worse or negligible: each claims a
nonzero Δ). The family is contrasts × datasets, tested as the report does: `t_pvalues` (paired t,
or the exact sign test where every seed gives the same Δ) and Holm via `holm_levels`.
"""

import math

import numpy as np
import pytest

from suite.report.stats import holm_levels, seed_test, t_pvalues, two_level

SIMS = 20000


def _false_rate(rng, shape, variants, contrasts, datasets, seeds, sims=SIMS):
    """Variants' per-seed values under the null (every variant the same); contrasts are pairs of
    variants (sharing one variant's noise, as contrasts against a baseline do)."""
    values = shape(rng, (sims, datasets, variants, seeds))
    deltas = np.stack([values[:, :, b] - values[:, :, a] for a, b in contrasts], axis=2)  # sims, D, C, n
    p = t_pvalues(deltas).reshape(sims, -1)
    _, rejected, _ = holm_levels(p)
    return rejected.any(axis=1).mean()


def _normal(rng, size):
    return rng.normal(0.8, 0.05, size)


def _learns_or_not(rng, size):  # the toy tasks: a seed memorises its rows (1.0) or not (0.5)
    return np.where(rng.random(size) < 0.7, 1.0, 0.5)


# (variants, contrasts as (reference, other), datasets, seeds): the committed studies' shapes
SHAPES = {
    "ablation_positional": (9, [(2, 3), (1, 0), (2, 1), (3, 0), (0, 5), (0, 6), (1, 7), (2, 4), (2, 8), (7, 6), (8, 7)], 3, 10),
    "heads": (4, [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)], 2, 10),
    "positional_kinds": (4, [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)], 2, 12),
    "ablation_residual": (4, [(0, 1), (0, 2), (0, 3)], 2, 10),
    "one contrast, 6 seeds": (2, [(0, 1)], 1, 6),
}  # fmt: skip


@pytest.mark.parametrize("shape", [_normal, _learns_or_not], ids=["normal", "learns or not"])
@pytest.mark.parametrize("name", SHAPES)
def test_family_wise_false_verdicts_stay_at_or_below_five_percent(name, shape):
    variants, contrasts, datasets, seeds = SHAPES[name]
    rng = np.random.default_rng([11, list(SHAPES).index(name)])
    rate = _false_rate(rng, shape, variants, contrasts, datasets, seeds)
    if len(contrasts) * datasets == 1:  # one test at exactly 5%: allow the simulation's own error
        assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / SIMS), rate
    else:
        assert rate <= 0.05, f"{name}: {rate:.4f}"


def test_power_for_a_one_standard_deviation_paired_effect_at_ten_seeds():
    """One contrast, 10 seeds, Δ ~ N(σ, σ): the paired t test's power is 0.803 (noncentral t)."""
    rng = np.random.default_rng(5)
    d = rng.normal(0.05, 0.05, (20000, 10))
    p = t_pvalues(d)
    _, rejected, _ = holm_levels(p[:, None])
    power = (rejected[:, 0] & (d.mean(axis=1) > 0.005)).mean()
    assert power >= 0.80, power


def test_the_same_difference_in_every_seed_is_called_once_the_seeds_allow():
    """A model that always learns against one that never does: Δ −0.5 in every seed."""
    assert seed_test(np.full(10, -0.5)).p == pytest.approx(2 / 2**10)
    _, rejected, _ = holm_levels(np.r_[np.full(23, 2 / 2**10)])
    assert rejected.all()  # ablation_positional's 23 compared tests at 10 seeds: 23 × 0.00195 < 0.05
    _, rejected, _ = holm_levels(np.full(1, 2 / 2**3))
    assert not rejected.any()  # 3 seeds: never, whatever the size (ablate check warns)


def test_each_interval_excludes_zero_exactly_when_holm_rejects():
    rng = np.random.default_rng(3)
    d = rng.normal(rng.choice([0.0, 0.01, 0.03], 12)[:, None], 0.02, (12, 10))
    tests = [seed_test(x) for x in d]
    _, rejected, level = holm_levels([t.p for t in tests])
    for t, r, lv in zip(tests, rejected, level, strict=True):
        lo, hi = t.interval(1 - lv)
        assert (lo > 0 or hi < 0) == r


def _two_level_coverage(draw, truth, sims=2000):
    covered = 0
    for _ in range(sims):
        _, lo, hi, _ = two_level(draw())
        covered += lo <= truth <= hi
    return covered / sims


def test_paired_two_level_interval_covers_the_difference():
    """Δ of accuracy between two variants on a held-out set: each seed and each example shifts it
    (difficulty varies by example), examples drawn afresh from the population each time."""
    rng = np.random.default_rng(21)
    seeds, examples = 10, 300

    def draw():
        difficulty = rng.normal(0, 1.5, examples)
        skill_a = rng.normal(1.0, 0.3, (seeds, 1))
        skill_b = rng.normal(1.2, 0.3, (seeds, 1))
        a = rng.random((seeds, examples)) < 1 / (1 + np.exp(-(skill_a - difficulty)))
        b = rng.random((seeds, examples)) < 1 / (1 + np.exp(-(skill_b - difficulty)))
        return b.astype(float) - a.astype(float)

    big = np.random.default_rng(0)  # the population Δ, by a large draw
    difficulty = big.normal(0, 1.5, 400_000)
    sa, sb = big.normal(1.0, 0.3, 400_000), big.normal(1.2, 0.3, 400_000)
    truth = float(np.mean(1 / (1 + np.exp(-(sb - difficulty))) - 1 / (1 + np.exp(-(sa - difficulty)))))
    assert _two_level_coverage(draw, truth) >= 0.93


def test_two_level_interval_covers_a_skewed_loss_and_its_paired_difference():
    """Per-example loss is skewed (lognormal: most examples near 0, a few large): the mean loss and
    a paired Δ of losses, seeds × examples, both covered."""
    rng = np.random.default_rng(22)
    seeds, examples, sigma = 10, 300, 0.8

    def losses(shift):
        hard = rng.normal(0, sigma, (1, examples))
        seed = rng.normal(0, 0.2, (seeds, 1))
        noise = rng.normal(0, 0.3, (seeds, examples))
        return np.exp(-1.0 + shift + hard + seed + noise)

    var = sigma**2 + 0.2**2 + 0.3**2
    truth = math.exp(-1.0 + var / 2)
    assert _two_level_coverage(lambda: losses(0.0), truth) >= 0.93

    def paired():
        hard = rng.normal(0, sigma, (1, examples))
        a = np.exp(-1.0 + hard + rng.normal(0, 0.2, (seeds, 1)) + rng.normal(0, 0.3, (seeds, examples)))
        b = np.exp(-0.8 + hard + rng.normal(0, 0.2, (seeds, 1)) + rng.normal(0, 0.3, (seeds, examples)))
        return b - a

    assert _two_level_coverage(paired, math.exp(-0.8 + var / 2) - math.exp(-1.0 + var / 2)) >= 0.93
