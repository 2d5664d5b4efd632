"""Sequential seeds with error control: a group-sequential design over looks at n₁, n₁+K, …, N seeds.

Looking at a contrast after every batch of seeds and reusing the fixed-n test inflates false verdicts
(five looks at 5% each give about 14%). A group-sequential design spends the error rate over the
looks instead: a Lan–DeMets spending function (Pocock-type by default) gives each look a boundary
c_k on the z scale such that the chance of crossing any boundary under the null is α exactly
(Armitage–McPherson–Rowe recursive numerical integration on a grid, no Monte Carlo, so the same design
always gives the same numbers). The report's own statistic for the contrast is compared with the
boundary by matched tail probabilities: at look k it rejects when its p is below the nominal level
2(1 − Φ(c_k)), and the repeated confidence interval Δ̄ ± t(df; 1 − level/2)·se covers the true Δ at
every look simultaneously with probability ≥ 1 − α, so it stays valid whatever stopped the contrast
(Jennison & Turnbull 1989). That statistic is the paired t over seeds, or, where per-example
predictions are stored, the two-level t over seeds × test examples (var(seed means)/n + var(example
means)/N, Welch–Satterthwaite df): the test set is the same at every look, so its share of Δ̄'s
variance never shrinks, the looks' statistics are more correlated than seeds alone make them, and
the seed-count boundaries stay conservative (tests/test_sequential.py simulates it).

The family (contrasts × datasets on the primary metric) splits α by Bonferroni, α/m each, m fixed
at the first look. Equivalence follows the report's rule on the repeated interval (inside ±the
smallest effect). Two non-binding stops give up a contrast without a verdict: futility, once an
effect of `FUTILITY_SD` seed standard deviations of Δ is ruled out at one-sided 85%, and
unreachable, once even unlimited seeds would leave the test set's share of the interval too wide to
exclude 0 or to fit inside ±the smallest effect. Neither adds a false verdict (the efficacy
boundaries ignore them); they only give up power, which the simulations measure. docs/sequential.md
holds the argument and the numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from scipy import optimize, stats

from suite.significance import ALPHA, MIN_SEEDS, smallest_p

FUTILITY_SD = 0.9  # stop for futility once an effect this many seed SDs of Δ is ruled out
FUTILITY_LEVEL = 0.15  # … at this one-sided level
TWO_LEVEL_FIRST = 6  # the two-level t calls no verdict at fewer seeds (Design.two_level)
GRID = 801  # points of the integration grid over a continuation region (see _grid)


def obf_spending(t: float, alpha: float) -> float:
    """Lan–DeMets O'Brien–Fleming-type α spent by information fraction t (two-sided)."""
    if t <= 0:
        return 0.0
    return float(min(alpha, 2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - alpha / 2) / math.sqrt(min(t, 1.0)))))


def pocock_spending(t: float, alpha: float) -> float:
    """Lan–DeMets Pocock-type α spent by information fraction t: α ln(1 + (e − 1) t)."""
    return float(alpha * math.log(1 + (math.e - 1) * min(max(t, 0.0), 1.0)))


SPENDING = {"obf": obf_spending, "pocock": pocock_spending}
SPENDING_NAMES = {"obf": "O'Brien–Fleming-type", "pocock": "Pocock-type"}


def looks(first: int, batch: int, most: int) -> tuple[int, ...]:
    """The seed counts at which a contrast is judged: the first batch, then every `batch` to `most`."""
    out = [first]
    while out[-1] < most:
        out.append(min(out[-1] + batch, most))
    return tuple(out)


def _grid(c: float) -> tuple[np.ndarray, np.ndarray]:
    """Points and trapezoid weights over (−c, c)."""
    c = min(c, 12.0)
    z = np.linspace(-c, c, GRID)
    w = np.full(GRID, z[1] - z[0])
    w[0] = w[-1] = (z[1] - z[0]) / 2
    return z, w


def _crossing(c: float, z: np.ndarray, mass: np.ndarray, r: float, s: float, shift: float = 0.0) -> float:
    """P(|Z_k| ≥ c, not stopped before) from the sub-density `mass` of Z_{k−1} on its grid `z`:
    Z_k | Z_{k−1} = u ~ N(r u + shift, s²)."""
    m = z * r + shift
    return float(np.sum(mass * (stats.norm.sf((c - m) / s) + stats.norm.cdf((-c - m) / s))))


def _carry(c: float, z: np.ndarray, mass: np.ndarray, r: float, s: float, shift: float = 0.0):
    """The sub-density of Z_k on its continuation region (−c, c), on a new grid."""
    znew, wnew = _grid(c)
    f = stats.norm.pdf((znew[:, None] - z[None, :] * r - shift) / s) @ mass / s
    return znew, f * wnew


@lru_cache(maxsize=256)
def boundaries(
    info: tuple[float, ...], alpha: float, spending: str = "pocock", silent: int = 0
) -> tuple[float, ...]:
    """Two-sided z boundaries c_k at information levels `info` (seed counts), spending
    SPENDING[spending] at t = info/info[-1]: P(|Z_j| ≥ c_j for some j ≤ k | Δ = 0) = α(t_k) for every k.
    The first `silent` looks have no boundary (c = ∞): what they would have spent waits for the next."""
    total = info[-1]
    out: list[float] = []
    spent = 0.0
    z = mass = None
    for k, n in enumerate(info):
        target = SPENDING[spending](n / total, alpha) - spent
        if k == 0:
            c = float(stats.norm.isf(target / 2)) if target > 0 and silent == 0 else math.inf
            spent += target if math.isfinite(c) else 0.0
            z, w = _grid(c)
            mass = stats.norm.pdf(z) * w
            out.append(c)
            continue
        r = math.sqrt(info[k - 1] / n)  # Z_k | Z_{k−1}=u ~ N(u r, 1 − r²)
        s = math.sqrt(1 - r * r)
        if target <= 1e-15 or k < silent:
            c = math.inf
        elif _crossing(0.0, z, mass, r, s) <= target:
            c = 0.0
        else:
            c = optimize.brentq(lambda c, z=z, m=mass, r=r, s=s, a=target: _crossing(c, z, m, r, s) - a, 0.0, 40.0,
                                xtol=1e-10)  # fmt: skip
        spent += _crossing(c, z, mass, r, s) if math.isfinite(c) else 0.0
        out.append(c)
        z, mass = _carry(c, z, mass, r, s)
    return tuple(out)


def nominal_levels(
    info: tuple[int, ...], alpha: float, spending: str = "pocock", silent: int = 0
) -> tuple[float, ...]:
    """Each look's two-sided nominal level 2(1 − Φ(c_k)): a t test's p below it rejects."""
    bounds = boundaries(tuple(map(float, info)), alpha, spending, silent)
    return tuple(float(2 * stats.norm.sf(c)) if math.isfinite(c) else 0.0 for c in bounds)


def crossing_probabilities(info: tuple[int, ...], bounds: tuple[float, ...], drift: float) -> np.ndarray:
    """P(stop at look k by crossing ±c_k) when Z_k ~ drift·√n_k (a standardized effect `drift`),
    by the same recursion: for planning (expected seeds) and the design's power."""
    out = []
    z = mass = None
    for k, n in enumerate(info):
        c = bounds[k]
        mu = drift * math.sqrt(n)
        if k == 0:
            out.append(float(stats.norm.sf(c - mu) + stats.norm.cdf(-c - mu)))
            z, w = _grid(c)
            mass = stats.norm.pdf(z - mu) * w
            continue
        r = math.sqrt(info[k - 1] / n)
        s = math.sqrt(1 - r * r)
        shift = drift * (math.sqrt(n) - r * math.sqrt(info[k - 1]))
        out.append(_crossing(c, z, mass, r, s, shift))
        z, mass = _carry(c, z, mass, r, s, shift)
    return np.array(out)


@dataclass(frozen=True)
class Design:
    """Looks at `first`, `first + batch`, … `most` seeds; α split over `family` tests (Bonferroni)."""

    first: int
    batch: int
    most: int
    family: int = 1
    alpha: float = ALPHA
    futility_sd: float = FUTILITY_SD
    futility_level: float = FUTILITY_LEVEL
    spending: str = "pocock"
    efficacy_from: int = 0  # looks at fewer seeds call no verdict (nominal level 0); see `two_level`

    @property
    def looks(self) -> tuple[int, ...]:
        return looks(self.first, self.batch, self.most)

    @property
    def each(self) -> float:
        """The α one test of the family may spend."""
        return self.alpha / max(self.family, 1)

    @property
    def information(self) -> tuple[int, ...]:
        """Each look's information: the t statistic's degrees of freedom, n − 1. With n itself, the
        t statistics, whose variance estimates change from look to look, are less correlated than the
        z statistics the boundaries assume, and a lone contrast looked at after every seed from 4 was
        falsely called in 5.3% of simulated nulls; with n − 1, 4.8% (docs/sequential.md)."""
        return tuple(n - 1 for n in self.looks)

    @property
    def levels(self) -> tuple[float, ...]:
        silent = sum(n < self.efficacy_from for n in self.looks)
        return nominal_levels(self.information, self.each, self.spending, silent)

    def two_level(self) -> Design:
        """The design for the two-level statistic: no verdict before `TWO_LEVEL_FIRST` seeds. With 3 or
        4 seeds the Welch–Satterthwaite df overstates the far tail (a seed variance underestimated by
        chance shrinks the standard error and inflates the df at once): p < 0.002 in 0.54% of nulls at
        4 seeds (accuracy per example; docs/sequential.md). The α of those looks waits for the next."""
        return replace(self, efficacy_from=max(self.efficacy_from, TWO_LEVEL_FIRST))

    def describe(self) -> dict:
        """What study.json's meta records of the design."""
        return {
            "procedure": f"group-sequential, Lan–DeMets {SPENDING_NAMES[self.spending]} alpha spending, the report's t "
            "(two-level over seeds × test examples where predictions are stored, else paired over seeds) by matched "
            "tail probabilities, repeated confidence intervals, Bonferroni over the family",
            "spending": self.spending,
            "first": self.first,
            "batch": self.batch,
            "max_seeds": self.most,
            "looks": list(self.looks),
            "information": "n − 1 (the t statistic's degrees of freedom)",
            "family": self.family,
            "alpha": self.alpha,
            "alpha_each": self.each,
            "nominal_levels": list(self.levels),
            "nominal_levels_two_level": list(self.two_level().levels),
            "futility": {"effect_sd": self.futility_sd, "one_sided_level": self.futility_level},
            "two_level_first": TWO_LEVEL_FIRST,
            "unreachable": "two-level only: stop when unlimited seeds would leave the test set's half-width "
            "t(N − 1; 1 − γ*/2)·σ̂_b/√N at least |θ| and at least m − |θ| for every θ in Δ̄ ∓ t(n − 1; "
            f"{1 - self.futility_level:g})·s/√n (docs/sequential.md)",
        }


@dataclass
class Stats:
    """A look's statistics of Δ, one entry per row (a contrast, or a simulated one): what `decide`
    needs, from per-seed Δ (`seed_stats`) or from seeds × test examples (`example_stats`)."""

    n: int  # seeds
    mean: np.ndarray  # Δ̄
    seed_sd: np.ndarray  # SD of the per-seed Δ (each seed's mean over examples)
    se: np.ndarray  # standard error of Δ̄: seeds only, or the report's two-level one
    df: np.ndarray  # of the t statistic: n − 1, or Welch–Satterthwaite
    const: np.ndarray  # every value the same (the per-seed Δ; with examples, the whole matrix)
    floor: np.ndarray  # the part of se² more seeds cannot remove: the test examples' σ̂²_b/N (0: seeds only)
    examples: int = 0  # test examples N (0: seeds only)


def _tolerance(x: np.ndarray) -> np.ndarray:
    return 1e-12 * np.maximum(1.0, np.abs(x))


def seed_stats(x: np.ndarray) -> Stats:
    """Per-seed Δ, rows × n seeds: the paired t of the report's `seed_test`."""
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    mean = x.mean(axis=-1)
    sd = x.std(axis=-1, ddof=1) if n > 1 else np.full(mean.shape, np.nan)
    const = np.ptp(x, axis=-1) <= 1e-12 * np.maximum(1.0, np.abs(x).max(axis=-1))
    se = np.where(const, np.nan, sd / math.sqrt(n))
    return Stats(n, mean, sd, se, np.full(mean.shape, float(n - 1)), const, np.zeros(mean.shape))


def example_stats(seed_means: np.ndarray, column_sums: np.ndarray, squares: np.ndarray) -> Stats:
    """Seeds × test examples of Δ, from sums (what a simulation can keep as seeds arrive): each
    seed's mean over examples (rows × n), each example's sum over the n seeds (rows × N) and the sum
    of squares of all n·N values (rows). The standard error is the report's `two_level`,
    var(seed means)/n + var(example means)/N at Welch–Satterthwaite df; `floor` is the two-way
    ANOVA estimate of the example variance over N, (var(example means) − MS_interaction/n)/N, what
    that variance tends to as seeds grow without bound."""
    r = np.asarray(seed_means, dtype=float)
    c = np.asarray(column_sums, dtype=float)
    n, big_n = r.shape[-1], c.shape[-1]
    mean = r.mean(axis=-1)
    seed_var = r.var(axis=-1, ddof=1)
    col = c / n
    col_var = col.var(axis=-1, ddof=1)
    a, b = seed_var / n, col_var / big_n
    var = a + b
    total = np.asarray(squares, dtype=float) - n * big_n * mean**2  # Σ (x − x̄)²
    const = total <= 1e-9 * np.maximum(1.0, np.asarray(squares, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        df = var**2 / (a**2 / (n - 1) + b**2 / (big_n - 1))
        interaction = (total - big_n * (n - 1) * seed_var - n * (big_n - 1) * col_var) / (
            (n - 1) * (big_n - 1)
        )
    se = np.where(const | (var <= 0), np.nan, np.sqrt(np.maximum(var, 0.0)))
    floor = np.maximum(col_var - np.maximum(interaction, 0.0) / n, 0.0) / big_n
    return Stats(n, mean, np.sqrt(seed_var), se, df, const, floor, big_n)


def matrix_stats(m: np.ndarray) -> Stats:
    """`example_stats` of rows × seeds × examples (or one seeds × examples matrix, as one row)."""
    m = np.asarray(m, dtype=float)
    if m.ndim == 2:
        m = m[None]
    out = example_stats(m.mean(axis=2), m.sum(axis=1), (m**2).sum(axis=(1, 2)))
    flat = m.reshape(len(m), -1)  # exactly the report's `constant` on a real matrix
    out.const = np.ptp(flat, axis=1) <= 1e-12 * np.maximum(1.0, np.abs(flat).max(axis=1))
    out.se = np.where(out.const, np.nan, out.se)
    return out


# stop codes of `decide` and `simulate`, one per row
OPEN, REJECTED, EQUIVALENT, IDENTICAL, FUTILE, CAP, UNREACHABLE = range(7)


@dataclass
class Decision:
    """`decide`'s answer per row at one look."""

    code: np.ndarray
    p: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    reach: np.ndarray  # the half-width left with unlimited seeds (NaN: seeds only)
    low: np.ndarray  # where Δ̄ tends with unlimited seeds: one-sided 1 − FUTILITY_LEVEL bounds
    high: np.ndarray


def decide(st: Stats, k: int, design: Design, margin: float, dwarfs=False) -> Decision:
    """Every row's stop at look k (OPEN while it needs more seeds): the design's rules, in one place
    for the runs (`judge`) and the simulations (`simulate`, `run_looks`)."""
    if st.examples >= 2:
        design = design.two_level()
    levels = design.levels
    level = levels[k]
    last = k == len(design.looks) - 1
    n = st.n
    mean = st.mean
    zero = st.const & (np.abs(mean) <= _tolerance(mean))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_t = 2 * stats.t.sf(np.abs(mean) / st.se, st.df)
        p = np.where(st.const, np.where(zero, 1.0, smallest_p(n)), p_t)
        half = stats.t.isf(level / 2, st.df) * st.se if level > 0 else np.full(mean.shape, np.inf)
    p = np.where(np.isnan(p), 1.0, p)  # no spread to test on (a two-level variance of zero)
    lo, hi = mean - half, mean + half
    identical = zero & (smallest_p(n) < level)
    rejected = ~zero & (p < level)
    equivalent = ~rejected & ~st.const & (lo > -margin) & (hi < margin) & ~np.asarray(dwarfs, bool)
    code = np.full(mean.shape, OPEN)
    code[identical], code[rejected], code[equivalent] = IDENTICAL, REJECTED, EQUIVALENT
    reach = np.full(mean.shape, np.nan)
    q = float(stats.t.isf(design.futility_level, n - 1)) / math.sqrt(n)
    low, high = mean - q * st.seed_sd, mean + q * st.seed_sd
    if last:
        code[code == OPEN] = CAP
        return Decision(code, p, lo, hi, reach, low, high)
    if st.examples >= 2:  # unreachable: no seed count can cross the remaining looks (docs/sequential.md)
        widest = max(levels[k + 1 :])
        reach = float(stats.t.isf(widest / 2, st.examples - 1)) * np.sqrt(st.floor) if widest > 0 else reach
        top = np.maximum(np.abs(low), np.abs(high))
        bottom = np.where((low < 0) & (high > 0), 0.0, np.minimum(np.abs(low), np.abs(high)))
        stuck = (reach > 0) & (top <= reach) & (bottom >= margin - reach)
        code[(code == OPEN) & ~st.const & stuck] = UNREACHABLE
    with np.errstate(divide="ignore", invalid="ignore"):
        upper = np.abs(mean) / st.seed_sd + q
    futile = (code == OPEN) & ~st.const & (st.seed_sd > 0) & (upper < design.futility_sd)
    code[futile] = FUTILE
    return Decision(code, p, lo, hi, reach, low, high)


@dataclass
class Look:
    """A contrast's state after the looks its seeds allow: `stop` is why it stopped (the verdict
    word, "futility", "unreachable", "cap"), or None while it needs more seeds (`next` of them)."""

    n: int  # seeds of the look it was judged at
    look: int  # its index (0-based), of len(design.looks)
    diff: float = math.nan
    sd: float = math.nan  # SD of the per-seed Δ
    se: float = math.nan  # standard error of Δ̄ (two-level where `examples`)
    df: float = math.nan
    p: float = math.nan  # the unadjusted p of its test at that look
    level: float = math.nan  # the look's nominal level (a rejection needs p below it)
    lo: float = math.nan  # the repeated confidence interval at that look
    hi: float = math.nan
    test: str = "t"  # t, two-level t, sign (the same Δ in every seed), identical
    examples: int = 0  # test examples in the variance (0: seeds only)
    floor: float = 0.0  # the test examples' variance σ̂²_b/N, which more seeds do not remove
    reach: float = math.nan  # "unreachable": the half-width left with unlimited seeds …
    low: float = math.nan  # … and where Δ̄ would tend (one-sided 1 − FUTILITY_LEVEL bounds)
    high: float = math.nan
    rejected: bool = False
    word: str = "inconclusive"  # better, worse, negligible, equivalent, identical, inconclusive
    stop: str | None = None  # the word it was resolved with, "futility", "unreachable" or "cap"; None: open
    next: int | None = None  # seeds the next look needs while open

    @property
    def sources(self) -> str:
        return "seeds × test examples" if self.examples else "seeds"


def judge(d, design: Design, margin: float, higher_better: bool = True, values: tuple[float, float] | None = None,
          interaction: bool = False) -> Look:  # fmt: skip
    """Take the design's looks in turn over Δ `d` until one stops the contrast: `d` per seed (seeds
    only) or seeds × test examples (the report's two-level statistic), rows in seed order. The look
    after the data ends says how many seeds the next needs."""
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d).all(axis=1)] if d.ndim == 2 else d[np.isfinite(d)]
    two_level = d.ndim == 2 and d.shape[1] >= 2
    if d.ndim == 2 and not two_level:
        d = d.mean(axis=1) if d.shape[1] else np.zeros(len(d))
    if two_level:
        design = design.two_level()
    dwarfs = values is not None and all(map(math.isfinite, values)) and margin >= max(abs(v) for v in values)
    out = Look(0, -1)
    for k, n in enumerate(design.looks):
        if len(d) < n:
            out.next = n
            return out
        out = Look(n, k, level=design.levels[k])
        if n < MIN_SEEDS:
            out.word = "too few seeds"
            out.stop = "cap" if k == len(design.looks) - 1 else None
            continue
        st = matrix_stats(d[:n]) if two_level else seed_stats(d[None, :n])
        got = decide(st, k, design, margin, dwarfs)
        code = int(got.code[0])
        out.diff, out.sd, out.p = float(st.mean[0]), float(st.seed_sd[0]), float(got.p[0])
        out.examples, out.floor = st.examples, float(st.floor[0])
        if bool(st.const[0]):
            out.sd = 0.0
            out.test = "identical" if abs(out.diff) <= 1e-12 * max(1.0, abs(out.diff)) else "sign"
        else:
            out.test = "two-level t" if two_level else "t"
            out.se, out.df = float(st.se[0]), float(st.df[0])
            if math.isfinite(got.lo[0]):  # a look that spends no α (two-level below 6 seeds): no interval
                out.lo, out.hi = float(got.lo[0]), float(got.hi[0])
        out.reach, out.low, out.high = float(got.reach[0]), float(got.low[0]), float(got.high[0])
        out.rejected = code == REJECTED
        if code == REJECTED:
            if abs(out.diff) > margin:
                better = (out.diff > 0) == higher_better
                out.word = "interacts" if interaction else ("better" if better else "worse")
            else:
                out.word = "negligible"
        elif code == EQUIVALENT:
            out.word = "additive" if interaction else "equivalent"
        elif code == IDENTICAL or out.test == "identical":
            out.word = "identical"
        out.stop = {REJECTED: out.word, EQUIVALENT: out.word, IDENTICAL: "identical", FUTILE: "futility",
                    UNREACHABLE: "unreachable", CAP: "cap"}.get(code)  # fmt: skip
        if out.stop:
            return out
    return out


def expected_seeds(design: Design, effect_sd: float, floor: float = 0.0) -> tuple[float, float]:
    """(expected seeds, power) of one contrast whose true effect is `effect_sd` SDs of the per-seed
    Δ, on the normal approximation of the design's efficacy boundaries (futility left out: an upper
    bound on the seeds, since futility only stops earlier). `floor`: the test examples' variance
    in the same units (Δ̄'s variance at n seeds is 1/(n − 1) + floor), which more seeds do not remove."""
    info = design.looks
    bounds = boundaries(tuple(map(float, design.information)), design.each, design.spending)
    if floor > 0:  # Z_k = effect·√I_k with I_k = 1/(1/(n − 1) + floor): correlated as a Brownian motion in I
        levels = tuple(1.0 / (1.0 / i + floor) for i in design.information)
        stop = crossing_probabilities(levels, bounds, effect_sd)
    else:
        stop = crossing_probabilities(design.information, bounds, effect_sd)
    power = float(stop.sum())
    reach = 1 - np.concatenate([[0.0], np.cumsum(stop)[:-1]])  # P(the look is taken)
    seeds = float(info[0] + sum(reach[k] * (info[k] - info[k - 1]) for k in range(1, len(info))))
    return seeds, power


def run_looks(stats_at, rows: int, design: Design, margin: float = 0.0):
    """The design over `rows` contrasts at once: `stats_at(k, idx)` gives look k's Stats for the
    rows `idx` still open (called for k = 0, 1, … in order). (seeds used, stop code, and the
    repeated interval at the look that stopped it) per row."""
    used = np.zeros(rows, int)
    code = np.full(rows, OPEN)
    lo, hi = np.full(rows, np.nan), np.full(rows, np.nan)
    for k, n in enumerate(design.looks):
        active = np.flatnonzero(code == OPEN)
        if not len(active):
            break
        got = decide(stats_at(k, active), k, design, margin)
        code[active], lo[active], hi[active] = got.code, got.lo, got.hi
        used[active] = n
    return used, code, lo, hi


def simulate(d: np.ndarray, design: Design, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """`judge` over the last axis of per-seed Δ `d` (..., most) at once, for the simulations that
    hold the design (tests/test_sequential.py checks that both agree): (seeds used, stop code) per row."""
    d = np.asarray(d, dtype=float)
    shape = d.shape[:-1]
    flat = d.reshape(-1, d.shape[-1])
    used, code, _, _ = run_looks(
        lambda k, idx: seed_stats(flat[idx, : design.looks[k]]), len(flat), design, margin
    )
    return used.reshape(shape), code.reshape(shape)
