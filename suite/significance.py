"""The error rate and the seed floor every test in the suite shares, in one place.

The report's intervals and tests (`suite.report.stats`), its contrast family (`suite.report.contrasts`)
and the sequential design that spends seeds against the same family (`suite.sequential`) must agree
on α and on the fewest seeds a test is given, or `--until-resolved` would stop on a different rule
from the one the report then judges with. torch-free and import-free, so every layer may read it.
"""

from __future__ import annotations

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
MIN_SEEDS = 3  # below this a report shows the values, not an interval or a test


def smallest_p(seeds: int) -> float:
    """The smallest two-sided p an exact paired test over n seeds can give: every seed agreeing,
    2 / 2^n (a t test goes lower only where the seeds' Δ differ; the same Δ in every seed, as a model
    that always learns against one that never does gives, has only this test)."""
    return min(1.0, 2.0 / 2**seeds)
