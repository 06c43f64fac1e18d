"""Planning a run's power, and deciding one pair, with the exact sign test harness prints everywhere.

Two questions a user asks before and after a run:

- **Before** (``harness plan``): with N battles per pair and a judge that calls a tie a share T of
  the time, what is the smallest true win rate (ties count half) the run detects with probability
  ``power``? Model: each battle is a tie with probability T, else a win with probability q, so the
  win rate is ``(1 - T) q + T / 2`` and the number of decisive battles D is Binomial(N, 1 - T).
  Test: the exact two-sided sign test at ``alpha`` on the decisive battles
  (:func:`harness.stats.significance.sign_test`), counted as a detection when it rejects in the
  model's favour (more wins than losses). Power is a sum over D of exact binomial probabilities, no
  simulation; the rejection region is found in exact integers.
- **After** (``harness gate``): is A's win rate over B significantly above a threshold m? At
  m = 0.5 it is that same sign test; at another m, an exact binomial test of the decisive wins
  against the share q0 that makes the win rate m at the observed tie share (:func:`gate_test`).

Not handled: reading runs (``harness.analysis``), sequential stopping (a fixed-n test applied again
and again is not valid; that is a separate module), several pairs at once (no multiplicity
correction: each decision is about the one pair it names).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from harness.stats.significance import sign_test, wilson_interval

SIGN_TEST = "exact two-sided sign test on the decisive battles (ties left out)"
"""How the plan and the gate at 0.5 decide, in the words every decision line uses."""

MAX_BATTLES = 100_000
"""The most battles :func:`plan` takes: the rejection region walks every count of decisive
battles in exact integers, which takes seconds up to here (a plan of more battles is the
normal approximation's job)."""

_TOLERANCE = 1e-9
"""Bisection stops when the decisive win share is known to this width."""


def rejection_thresholds(n: int, *, alpha: float) -> list[int | None]:
    """For each number of decisive battles d = 0..n, the fewest wins at which the exact two-sided
    sign test rejects at ``alpha`` in the winner's favour (wins > losses and p <= alpha); None
    where no split of d battles can (too few of them).

    The region is "wins >= k_d" because the two-sided p-value falls as the split grows more
    uneven. k_d never falls as d grows and grows by at most one per battle, so one walk over d,
    keeping the upper tail sum of C(d, j) in exact integers, finds them all in O(n) steps; the
    comparison with ``alpha`` is exact too (``alpha`` as the rational its float is).

    >>> rejection_thresholds(10, alpha=0.05)
    [None, None, None, None, None, None, 6, 7, 8, 8, 9]
    """
    if n < 0:
        raise ValueError(f"n must be at least 0, got {n}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    num, den = Fraction(alpha).as_integer_ratio()
    out: list[int | None] = [None]
    # State for the current d: k, tail = sum_{j >= k} C(d, j), c = C(d, k); k = d + 1 means "none".
    k, tail, c = 1, 0, 0
    for d in range(1, n + 1):
        if k == d:  # the previous d had no region: start afresh at the last count
            tail, c = 1, 1
        else:  # Pascal's rule: T_{d}(k) = 2 T_{d-1}(k) + C(d-1, k-1), C(d, k) = C(d-1, k) + C(d-1, k-1)
            below = c * k // (d - k)
            tail, c = 2 * tail + below, c + below
        while k <= d and (2 * k <= d or 2 * tail * den > num << d):  # p = 2 tail / 2^d > alpha
            tail -= c
            c = c * (d - k) // (k + 1)
            k += 1
        out.append(k if k <= d else None)
    return out


def detection_power(q: float, *, n: int, tie_rate: float, thresholds: Sequence[int | None]) -> float:
    """The chance that ``n`` battles, each a tie with probability ``tie_rate`` and else a win with
    probability ``q``, make the sign test reject in the model's favour: the sum over the decisive
    count d of P(D = d) P(wins >= k_d | d, q), with ``thresholds`` from :func:`rejection_thresholds`.

    >>> t = rejection_thresholds(20, alpha=0.05)
    >>> round(detection_power(0.5, n=20, tie_rate=0.0, thresholds=t), 6)  # 2 * P(X >= 15) / 2
    0.020695
    """
    from scipy.stats import binom  # here: scipy.stats takes half a second to import (see significance)

    counts = np.array([d for d in range(n + 1) if thresholds[d] is not None], dtype=int)
    if not len(counts):
        return 0.0
    needed = np.array([thresholds[d] for d in counts], dtype=int)
    p_decisive = binom.pmf(counts, n, 1.0 - tie_rate)
    p_reject = binom.sf(needed - 1, counts, q)
    return float(min(1.0, np.sum(p_decisive * p_reject)))


@dataclass(frozen=True)
class PowerPlan:
    """What ``n`` battles per pair can detect (:func:`plan`)."""

    n: int
    """Battles per pair of models."""
    tie_rate: float
    """The share of battles the judge calls a tie."""
    alpha: float
    power: float
    """The probability of detection asked for."""
    decisive_share: float | None
    """The smallest decisive win share q detected with ``power``; None when even q = 1 falls short."""
    power_at_sweep: float
    """The power when the model wins every decisive battle (q = 1): the most these battles give."""
    test: str = SIGN_TEST

    @property
    def win_rate(self) -> float | None:
        """The smallest detectable true win rate, ties counting half: (1 - T) q + T / 2."""
        if self.decisive_share is None:
            return None
        return (1 - self.tie_rate) * self.decisive_share + self.tie_rate / 2

    def to_json(self) -> dict[str, Any]:
        w = self.win_rate
        return {"test": self.test, "n": self.n, "tie_rate": self.tie_rate, "alpha": self.alpha,
                "power": self.power, "min_detectable_win_rate": None if w is None else round(w, 3),
                "min_detectable_decisive_share": (None if self.decisive_share is None
                                                  else round(self.decisive_share, 3)),
                "expected_decisive": round(self.n * (1 - self.tie_rate), 3),
                "power_at_sweep": round(self.power_at_sweep, 4)}


def plan(*, n: int, tie_rate: float, alpha: float = 0.05, power: float = 0.8) -> PowerPlan:
    """The smallest true win rate ``n`` battles detect with probability ``power`` (bisection on the
    decisive win share q in [0.5, 1]; power rises with q).

    >>> p = plan(n=20, tie_rate=0.0)
    >>> round(p.win_rate, 3), p.power_at_sweep == 1.0
    (0.799, True)
    >>> plan(n=5, tie_rate=0.0).win_rate is None  # 5 of 5 has p = 0.0625 > 0.05
    True
    """
    if not 1 <= n <= MAX_BATTLES:
        raise ValueError(f"n must be in [1, {MAX_BATTLES}], got {n}")
    if not 0 <= tie_rate < 1:
        raise ValueError(f"tie_rate must be in [0, 1), got {tie_rate}")
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")
    thresholds = rejection_thresholds(n, alpha=alpha)

    def power_at(q: float) -> float:
        return detection_power(q, n=n, tie_rate=tie_rate, thresholds=thresholds)

    best = power_at(1.0)
    if best < power:
        return PowerPlan(n, tie_rate, alpha, power, None, best)
    low, high = 0.5, 1.0
    if power_at(low) >= power:  # a power asked for at or under alpha / 2: met with no difference
        return PowerPlan(n, tie_rate, alpha, power, low, best)
    while high - low > _TOLERANCE:
        mid = (low + high) / 2
        if power_at(mid) >= power:
            high = mid
        else:
            low = mid
    return PowerPlan(n, tie_rate, alpha, power, high, best)


@dataclass(frozen=True)
class GateDecision:
    """Whether ``model`` beats ``opponent`` by more than ``min_win_rate`` (:func:`gate_test`)."""

    wins: int
    ties: int
    losses: int
    min_win_rate: float
    alpha: float
    win_rate: float
    """(wins + ties / 2) / battles."""
    low: float
    high: float
    """95% Wilson interval of the win rate (ties as half a win), as the pair tables print it."""
    null_share: float
    """q0: the decisive win share at which the win rate is ``min_win_rate`` at the observed tie
    share (0.5 for a threshold of 0.5)."""
    p_value: float
    test: str

    @property
    def n(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def decisive(self) -> int:
        return self.wins + self.losses

    @property
    def passed(self) -> bool:
        """Significantly above: the test rejects at ``alpha`` and the split is on the model's side."""
        return self.p_value <= self.alpha and self.wins > self.null_share * self.decisive


def gate_test(*, wins: int, ties: int, losses: int, min_win_rate: float = 0.5,
              alpha: float = 0.05) -> GateDecision:
    """Is the win rate (ties half) significantly above ``min_win_rate``?

    At 0.5: the exact two-sided sign test on wins against losses (:func:`sign_test`, the figure
    every pair table prints), passing when p <= ``alpha`` and wins > losses. At another threshold
    m: with T the observed tie share, the win rate is above m exactly when the decisive win share
    is above q0 = (m - T/2) / (1 - T) (clamped to [0, 1]); the test is the exact binomial test of
    the wins among the decisive battles against q0, two-sided with equal tails (p = twice the
    upper tail, at most 1), which at q0 = 0.5 is the sign test again and rejects exactly when the
    Clopper-Pearson 1 - alpha interval of q lies above q0. T is taken as measured (a plug-in, not
    tested): the question is whether the model wins more of the battles that are decided.

    >>> g = gate_test(wins=15, ties=0, losses=5)
    >>> round(g.p_value, 4), g.passed
    (0.0414, True)
    >>> gate_test(wins=10, ties=20, losses=10).passed
    False
    """
    if min(wins, ties, losses) < 0:
        raise ValueError("counts must be at least 0")
    if not 0 < min_win_rate < 1:
        raise ValueError(f"min_win_rate must be in (0, 1), got {min_win_rate}")
    n, decisive = wins + ties + losses, wins + losses
    low, high = wilson_interval(wins + ties / 2, n)
    win_rate = (wins + ties / 2) / n if n else math.nan
    if min_win_rate == 0.5:
        return GateDecision(wins, ties, losses, min_win_rate, alpha, win_rate, low, high, 0.5,
                            sign_test(wins, losses), SIGN_TEST)
    test = "exact binomial test of the decisive wins, two-sided (equal tails)"
    if not decisive:
        return GateDecision(wins, ties, losses, min_win_rate, alpha, win_rate, low, high, math.nan, 1.0, test)
    tie_share = ties / n
    q0 = min(1.0, max(0.0, (min_win_rate - tie_share / 2) / (1 - tie_share)))
    from scipy.stats import binom

    upper_tail = float(binom.sf(wins - 1, decisive, q0))
    return GateDecision(wins, ties, losses, min_win_rate, alpha, win_rate, low, high, q0,
                        min(1.0, 2 * upper_tail), test)
