"""The sequential design (suite.sequential), proven by seeded simulation; docs/sequential.md quotes
these numbers. A false verdict is any rejection under the null (better, worse or negligible)."""

import math

import numpy as np
import pytest
from scipy import stats
from test_report_procedure import SHAPES as PROCEDURE_SHAPES
from test_report_procedure import _learns_or_not, _normal

from suite import sequential
from suite.sequential import CAP, EQUIVALENT, FUTILE, IDENTICAL, OPEN, REJECTED, Design, judge, simulate

SIMS = 20000
# The design the savings are claimed for: the first look at 4 seeds, then every seed, at most 16.
TARGET = Design(first=4, batch=1, most=16)


@pytest.mark.parametrize("spending", ["obf", "pocock"])
def test_boundaries_spend_exactly_alpha_and_match_brownian_motion(spending):
    """The recursion's crossing probabilities add up to α(t_k) at each look, and a seeded Brownian
    motion crosses the boundaries at that rate (the integration is not checked against itself only)."""
    info = (4.0, 6.0, 8.0, 12.0, 16.0)
    bounds = sequential.boundaries(info, 0.05, spending)
    spent = np.cumsum(sequential.crossing_probabilities(tuple(map(int, info)), bounds, 0.0))
    expected = [sequential.SPENDING[spending](n / info[-1], 0.05) for n in info]
    assert spent == pytest.approx(expected, abs=1e-6)
    rng = np.random.default_rng(1)
    steps = np.diff(np.r_[0.0, info])
    s = np.cumsum(rng.normal(0, np.sqrt(steps), (200_000, len(info))), axis=1)
    crossed = (np.abs(s / np.sqrt(info)) >= np.array(bounds)).any(axis=1).mean()
    assert crossed == pytest.approx(0.05, abs=3 * math.sqrt(0.05 * 0.95 / 200_000))


def test_one_look_is_the_fixed_test():
    assert sequential.boundaries((10.0,), 0.05) == pytest.approx((stats.norm.isf(0.025),))
    assert sequential.looks(10, 2, 15) == (10, 12, 14, 15)


def test_the_vectorised_simulation_is_the_procedure():
    """`simulate` (what the simulations use) and `judge` (what runs) agree row by row: normal rows,
    effects, rows with the same Δ in every seed (sign test) and rows of zeros (identical)."""
    rng = np.random.default_rng(2)
    rows = np.concatenate(
        [
            rng.normal(0, 1, (150, 16)),
            rng.normal(1, 1, (150, 16)),
            np.where(rng.random((60, 16)) < 0.9, -0.5, 0.0),
            np.full((5, 16), 0.5),
            np.zeros((5, 16)),
            rng.normal(0.01, 0.002, (30, 16)),  # tight around a small effect: equivalent at margin 0.05
        ]
    )
    design = Design(4, 2, 16, family=3)
    used, code = simulate(rows, design, margin=0.05)
    names = {
        REJECTED: ("better", "worse", "negligible"),
        EQUIVALENT: ("equivalent",),
        IDENTICAL: ("identical",),
    }
    for row, n, c in zip(rows, used, code, strict=True):
        look = judge(row, design, 0.05)
        assert look.n == n
        if c == FUTILE:
            assert look.stop == "futility"
        elif c == CAP:
            assert look.stop == "cap"
        else:
            assert c != OPEN and look.word in names[c], (look, c)
    assert {REJECTED, EQUIVALENT, IDENTICAL, FUTILE, CAP} <= set(code.tolist())


# the committed studies' shapes and value models, as the fixed-seed procedure's simulations have them
SHAPES = {name: PROCEDURE_SHAPES[name] for name in ("ablation_positional", "heads", "ablation_residual")}


def _family_false_rate(rng, shape, variants, contrasts, datasets, design, sims):
    values = shape(rng, (sims, datasets, variants, design.most))
    deltas = np.stack([values[:, :, b] - values[:, :, a] for a, b in contrasts], axis=2)
    _, code = simulate(deltas, design)
    return (code == REJECTED).reshape(sims, -1).any(axis=1).mean()


@pytest.mark.parametrize("shape", [_normal, _learns_or_not], ids=["normal", "learns or not"])
@pytest.mark.parametrize("name", SHAPES)
def test_family_wise_false_verdicts_with_a_look_after_every_batch(name, shape):
    """Under the null, looks at the study's seeds and then every 2 up to twice as many, α split over
    the family: the rate of any false verdict stays at or below 5%."""
    variants, contrasts, datasets, seeds = SHAPES[name]
    design = Design(seeds, 2, 2 * seeds, family=len(contrasts) * datasets)
    rng = np.random.default_rng([12, list(SHAPES).index(name)])
    sims = 4000 if name == "ablation_positional" else 10000
    rate = _family_false_rate(rng, shape, variants, contrasts, datasets, design, sims)
    assert rate <= 0.05, f"{name}: {rate:.4f}"


@pytest.mark.parametrize("shape", [_normal, _learns_or_not], ids=["normal", "learns or not"])
def test_family_wise_false_verdicts_with_a_look_after_every_seed_from_five(shape):
    """ablation_residual's 6 tests, looks at 5, 6, … 16 seeds: 12 looks, still at or below 5%. (From
    4 seeds the rate is 0.054: the t matching is approximate at 3 degrees of freedom and α/6, and
    `ablate run --until-resolved` warns below 5 seeds; docs/sequential.md.)"""
    variants, contrasts, datasets, _ = SHAPES["ablation_residual"]
    design = Design(5, 1, 16, family=len(contrasts) * datasets)
    rate = _family_false_rate(np.random.default_rng(13), shape, variants, contrasts, datasets, design, SIMS)
    assert rate <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / SIMS), (
        rate
    )  # 0.051 normal: at 5% within the simulation's error


def test_fewer_seeds_than_ten_per_variant_at_equal_power():
    """Contrasts half null, half a 1-SD effect: the design (TARGET) spends ≥ 30% fewer seeds than a
    fixed 10 per variant, at the fixed design's power (paired t at 5%: 0.806 here)."""
    rng = np.random.default_rng(3)
    null = rng.normal(0, 1, (SIMS, TARGET.most))
    effect = rng.normal(1, 1, (SIMS, TARGET.most))
    first10 = effect[:, :10]
    fixed_p = 2 * stats.t.sf(np.abs(first10.mean(1)) / (first10.std(1, ddof=1) / math.sqrt(10)), 9)
    fixed_power = (fixed_p < 0.05).mean()
    n0, c0 = simulate(null, TARGET)
    n1, c1 = simulate(effect, TARGET)
    power = (c1 == REJECTED).mean()
    seeds = (n0.mean() + n1.mean()) / 2
    assert power >= fixed_power - 0.005, (power, fixed_power)
    assert seeds <= 0.7 * 10, seeds
    assert (c0 == REJECTED).mean() <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / SIMS)


def test_repeated_intervals_cover_the_effect_after_the_stopping_rule():
    """The interval printed at the look that stopped a contrast covers the true Δ in ≥ 95% of runs,
    whichever look stopped it (a fixed-n interval reused at every look would not)."""
    rng = np.random.default_rng(4)
    design = Design(4, 2, 16)
    covered = []
    for truth in (0.0, 0.5, 1.0):
        for row in rng.normal(truth, 1.0, (400, 16)):
            look = judge(row, design, 0.0)
            covered.append(look.lo <= truth <= look.hi)
    assert np.mean(covered) >= 0.95, np.mean(covered)


def test_the_same_difference_in_every_seed_is_called_by_the_sign_test_once_its_level_allows():
    design = Design(3, 1, 12)
    look = judge(np.full(12, -0.5), design, 0.005)
    assert look.word == "worse" and look.test == "sign"
    assert 2 / 2**look.n < design.levels[look.look] <= 2 / 2 ** (look.n - 1)
    zero = judge(np.zeros(12), design, 0.005)  # identical stops where a constant Δ would have been called
    assert zero.stop == "identical" and zero.n == look.n


def test_an_open_contrast_names_the_seeds_its_next_look_needs():
    look = judge(np.array([1.2, -0.4, 2.0, 0.1, 0.9, 0.3]), Design(4, 3, 20), 0.0)
    assert look.stop is None and look.next == 7 and look.n == 4


def test_expected_seeds_grow_as_the_effect_shrinks():
    big, power_big = sequential.expected_seeds(TARGET, 2.0)
    small, power_small = sequential.expected_seeds(TARGET, 0.5)
    assert TARGET.first <= big < small <= TARGET.most
    assert power_big > power_small
