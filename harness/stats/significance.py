"""Small-sample honesty for 20-question sets: per-pair win rates with intervals and sign tests."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist

from harness.core.types import PairRecord

ALPHA = 0.05


@dataclass(frozen=True)
class PairTest:
    """How clearly ``model`` beats (or loses to) ``opponent`` on their shared battles."""

    model: str
    opponent: str
    wins: int
    ties: int
    losses: int
    win_rate: float
    """(wins + ties / 2) / battles."""
    ci_low: float
    ci_high: float
    p_value: float
    """Exact two-sided sign test on wins vs losses (ties excluded)."""

    @property
    def separable(self) -> bool:
        """Whether the data tell the two models apart at the 5% level."""
        return self.p_value < ALPHA


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (ties enter as half a success).

    >>> [round(x, 4) for x in wilson_interval(15, 20)]
    [0.5313, 0.8881]
    """
    if n == 0:
        return (0.0, 1.0)
    z = normal_quantile(1 - (1 - confidence) / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def share_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """:func:`wilson_interval`, but NaN (printed "n/a") with nothing counted, where a share of
    nothing has no interval to show rather than all of [0, 1].

    >>> share_interval(0, 0)
    (nan, nan)
    """
    return wilson_interval(successes, n, confidence) if n else (math.nan, math.nan)


def normal_quantile(q: float) -> float:
    """The standard normal's ``q`` quantile (1.959964 for 0.975), from the standard library: scipy's
    statistics take half a second to import, which a cached re-run would spend on this alone.

    >>> round(normal_quantile(0.975), 6)
    1.959964
    """
    return NormalDist().inv_cdf(q)


EXACT_UP_TO = 5_000
"""Battles up to which :func:`sign_test` sums the binomial probabilities in exact integers (a
few milliseconds); past it, scipy's ``binomtest`` (the same figure to ~1e-14)."""


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided binomial p-value of ``wins`` out of ``wins + losses`` at p = 1/2: twice the
    chance of a split at least as uneven (the distribution is symmetric), 1 for an even split.

    >>> round(sign_test(15, 5), 4), sign_test(0, 0), sign_test(3, 3)
    (0.0414, 1.0, 1.0)
    """
    n = wins + losses
    if n == 0 or wins == losses:
        return 1.0
    if n > EXACT_UP_TO:
        from scipy.stats import binomtest

        return float(binomtest(wins, n, 0.5).pvalue)
    tail, term = 0, 1  # sum of C(n, k) for k <= min(wins, losses), term = C(n, k)
    for k in range(min(wins, losses) + 1):
        tail += term
        term = term * (n - k) // (k + 1)
    return min(1.0, float(Fraction(2 * tail, 2**n)))


def pair_tests(records: Sequence[PairRecord], confidence: float = 0.95) -> list[PairTest]:
    """One test per (model, opponent) record."""
    out = []
    for r in records:
        low, high = wilson_interval(r.wins + r.ties / 2, r.n, confidence)
        out.append(PairTest(r.model, r.opponent, r.wins, r.ties, r.losses, r.win_rate, low, high,
                            sign_test(r.wins, r.losses)))
    return out
