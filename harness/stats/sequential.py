"""An anytime-valid test for one model pair: may judging stop once the pair's leader is known?

``--stop-when-decided`` judges a pair's questions one after another and looks at the evidence after
every battle. A fixed-n test (the sign test of :mod:`harness.stats.significance`) applied after
each battle rejects a true null far more often than its ``alpha`` (every look is another chance);
this module's test stays valid under continuous monitoring: whenever it is looked at, and however
long judging goes on, it names a leader between two equal models with probability at most
``alpha``.

**The data.** Each battle of the pair (both orders of one question combined:
:func:`harness.stats.battles.combine`) is a win for ``model_a``, a tie or a loss. **Ties are
uninformative**: the test uses the decisive battles only, and its null is the sign test's,
P(model_a wins | the battle is decisive) = 1/2 (a tie counted half, it is "the win rate is 1/2",
the same null as the leaderboard's sign test and ``harness gate``). A tie leaves the statistic as
it was; a ``tie (bothbad)`` is a tie.

**The statistic** is Robbins' mixture martingale (H. Robbins, "Statistical methods related to the
law of the iterated logarithm", Ann. Math. Statist. 41, 1970; the method-of-mixtures boundaries of
S. R. Howard, A. Ramdas, J. McAuliffe and J. Sekhon, "Time-uniform, nonparametric, nonasymptotic
confidence sequences", Ann. Statist. 49(2), 2021). For the claim "model_a is better", with ``w``
wins and ``l`` losses so far (``n = w + l``), it is the likelihood ratio of win probability ``q``
against 1/2, averaged over ``q`` uniform on (1/2, 1]::

    M_a(w, l) = 2 * integral over (1/2, 1] of (2q)^w (2(1 - q))^l dq
              = sum_{k=l+1}^{n+1} C(n+1, k) / ((n + 1) C(n, w))

and ``M_b(w, l) = M_a(l, w)`` for "model_b is better". Both start at 1. Under any win probability
p <= 1/2 each factor of ``M_a`` has mean ``2pq + 2(1-p)(1-q) <= 1``, so ``M_a`` is a nonnegative
supermartingale and Ville's inequality gives P(M_a ever reaches 2/alpha) <= alpha/2; likewise
``M_b`` for p >= 1/2. **The rule**: stop at the first battle where either reaches ``2/alpha`` and
name that side the leader. Two equal models are told apart with probability at most ``alpha``
(``alpha/2`` each way), and a model that is not better is named the leader with probability at
most ``alpha/2``, over the whole sequence. With ``alpha`` 0.05 the bound is 40, reached after 8
straight decisive wins (``M = (2^(n+1) - 1) / (n + 1)`` for ``n`` straight wins: 31.9 after 7,
56.8 after 8).

Not handled here: which battles a pair has or in what order they come (``harness.judges.sequential``
asks the judge and decides the order with the run's seed), soft verdicts (the hard winner counts),
and the dependence between the turns of one multi-turn question (each judged turn is a battle, as
the leaderboard counts it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betainc, betaln

TEST = "sequential mixture test (Robbins' mixture, Ville's inequality)"
"""How decision lines name the test."""

_LOG2 = math.log(2.0)


def threshold(alpha: float) -> float:
    """The bound either side's statistic must reach: ``2 / alpha`` (``alpha / 2`` per side).

    >>> threshold(0.05)
    40.0
    """
    return 2.0 / alpha


def sign(winner: str) -> int:
    """A battle's outcome for the test: +1 ``model_a`` won, -1 ``model_b`` won, 0 a tie.

    >>> sign("model_a"), sign("model_b"), sign("tie"), sign("tie (bothbad)")
    (1, -1, 0, 0)
    """
    return 1 if winner == "model_a" else -1 if winner == "model_b" else 0


def log_statistics(wins: ArrayLike, losses: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``log M_a`` and ``log M_b`` (the evidence for each side) elementwise, from the counts of
    decisive battles (``-inf`` where a side's evidence underflows: it is nowhere near a decision).

    The integral over (1/2, 1] is a regularised incomplete beta function:
    ``M_a = 2^(n+1) B(w+1, l+1) I_{1/2}(l+1, w+1)``.

    >>> a, b = log_statistics([0, 8, 3], [0, 0, 3])
    >>> [round(float(x), 3) for x in np.exp(a)], [round(float(x), 3) for x in np.exp(b)]
    ([1.0, 56.778, 0.457], [1.0, 0.111, 0.457])
    """
    w = np.asarray(wins, dtype=np.float64)
    l_ = np.asarray(losses, dtype=np.float64)
    base = (w + l_ + 1) * _LOG2 + betaln(w + 1, l_ + 1)
    with np.errstate(divide="ignore"):  # log(0): that side's evidence underflowed
        return base + np.log(betainc(l_ + 1, w + 1, 0.5)), base + np.log(betainc(w + 1, l_ + 1, 0.5))


def exact_statistic(*, wins: int, losses: int) -> float:
    """``M_a(wins, losses)`` from its closed form in whole numbers (the check on
    :func:`log_statistics`; ``M_b`` is this with the counts swapped).

    >>> exact_statistic(wins=8, losses=0) == (2 ** 9 - 1) / 9
    True
    """
    n = wins + losses
    top = sum(math.comb(n + 1, k) for k in range(losses + 1, n + 2))
    return top / ((n + 1) * math.comb(n, wins))


def first_decisions(signs: ArrayLike, *, alpha: float) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For each row of ``signs`` (+1 / 0 / -1 per battle, in judging order; the last axis is
    time): the index of the battle at which the test decides (-1: never), and the side it names
    (+1 ``model_a``, -1 ``model_b``, 0 none). Vectorised, for simulations of many sequences.

    >>> first_decisions([[1] * 10, [0] * 10, [1, -1] * 5], alpha=0.05)
    (array([ 7, -1, -1]), array([1, 0, 0]))
    """
    s = np.asarray(signs)
    wins, losses = np.cumsum(s > 0, axis=-1), np.cumsum(s < 0, axis=-1)
    top = int(max(wins.max(initial=0), losses.max(initial=0)))
    if top <= 2000:  # every (wins, losses) once, then looked up: many sequences share them
        grid_a, grid_b = log_statistics(np.arange(top + 1)[:, None], np.arange(top + 1)[None, :])
        log_a, log_b = grid_a[wins, losses], grid_b[wins, losses]
    else:
        log_a, log_b = log_statistics(wins, losses)
    bound = math.log(threshold(alpha))
    hit_a, hit_b = log_a >= bound, log_b >= bound
    hit = hit_a | hit_b
    decided = hit.any(axis=-1)
    index = np.where(decided, hit.argmax(axis=-1), -1)
    at = np.maximum(index, 0)[..., None]
    side = np.where(np.take_along_axis(hit_a, at, axis=-1)[..., 0], 1, -1)
    return index.astype(np.int64), np.where(decided, side, 0).astype(np.int64)


@dataclass(frozen=True)
class Step:
    """The test after one more battle."""

    wins: int
    """Decisive battles won by ``model_a`` so far."""
    ties: int
    losses: int
    for_a: float
    """``M_a``: the evidence that ``model_a`` is better (it decides at :func:`threshold`)."""
    for_b: float
    """``M_b``: the evidence that ``model_b`` is better."""


def steps(winners: Sequence[str]) -> list[Step]:
    """The statistic after each battle (``winners``: battle winners in judging order).

    >>> [round(s.for_a, 2) for s in steps(["model_a", "tie", "model_a", "model_b"])]
    [1.5, 1.5, 2.33, 0.92]
    """
    signs = [sign(w) for w in winners]
    wins, losses = np.cumsum([s > 0 for s in signs]), np.cumsum([s < 0 for s in signs])
    log_a, log_b = log_statistics(wins, losses)
    ties = np.cumsum([s == 0 for s in signs])
    return [Step(int(w), int(t), int(l_), _exp(a), _exp(b))
            for w, t, l_, a, b in zip(wins, ties, losses, log_a, log_b)]


def _exp(x: float) -> float:
    return math.exp(x) if x < 700 else math.inf


@dataclass(frozen=True)
class Decision:
    """What the test made of a sequence of battles."""

    leader: str | None
    """``model_a`` or ``model_b`` once decided; None when the battles never decided it."""
    battles: int
    """Battles up to the decision (all of them when undecided)."""
    wins: int
    ties: int
    losses: int
    statistic: float
    """The leading side's evidence at the decision (at the end when undecided)."""
    alpha: float


def decide(winners: Sequence[str], *, alpha: float) -> Decision:
    """The first battle at which the test decides, and which way (or that it never did).

    >>> d = decide(["model_b"] * 12, alpha=0.05)
    >>> d.leader, d.battles, round(d.statistic, 1)
    ('model_b', 8, 56.8)
    >>> decide(["tie"] * 30, alpha=0.05).leader is None
    True
    """
    found = steps(winners)
    bound = threshold(alpha)
    for i, s in enumerate(found):
        if max(s.for_a, s.for_b) >= bound:
            leader = "model_a" if s.for_a >= s.for_b else "model_b"
            return Decision(leader, i + 1, s.wins, s.ties, s.losses, max(s.for_a, s.for_b), alpha)
    last = found[-1] if found else Step(0, 0, 0, 1.0, 1.0)
    return Decision(None, len(found), last.wins, last.ties, last.losses, max(last.for_a, last.for_b), alpha)


def battles_needed(*, wins: int, losses: int, alpha: float, limit: int) -> int | None:
    """The fewest further battles after which the test could decide at all (None: not within
    ``limit``): judging that many more cannot go past the stopping point.

    ``M_a`` grows with every win and shrinks with every loss, so after ``m`` more battles it is at
    most its value after ``m`` straight wins; the fastest way to a decision is a run of one side.

    >>> battles_needed(wins=0, losses=0, alpha=0.05, limit=40)
    8
    >>> battles_needed(wins=7, losses=0, alpha=0.05, limit=40)
    1
    >>> battles_needed(wins=0, losses=0, alpha=0.05, limit=5) is None
    True
    """
    bound, start, size = math.log(threshold(alpha)), 1, 16
    while start <= limit:  # in doubling chunks: the answer is usually a few battles away
        more = np.arange(start, min(limit, start + size - 1) + 1)
        log_a, _ = log_statistics(wins + more, np.full(len(more), losses))
        _, log_b = log_statistics(np.full(len(more), wins), losses + more)
        hit = np.maximum(log_a, log_b) >= bound
        if hit.any():
            return int(more[hit.argmax()])
        start, size = start + size, size * 2
    return None


@dataclass(frozen=True)
class PairStop:
    """How ``--stop-when-decided`` judged one model pair: where it stopped, and why."""

    model_a: str
    model_b: str
    leader: str | None
    """The model the test named better (a model's name), or None: judged to the end, undecided."""
    questions: int
    """Questions judged (in the seeded order), up to the one whose battle decided."""
    total: int
    """Questions the pair had."""
    wins: int
    """``model_a``'s decisive wins in the battles the test saw."""
    ties: int
    losses: int
    statistic: float
    """The leading side's mixture statistic at the stop (at the end when undecided)."""
    alpha: float
    judgments: int = 0
    """Judgments asked for the pair (each question, judged turn, order and judge)."""
    judgments_total: int = 0
    """Judgments judging every question would have asked."""

    @property
    def threshold(self) -> float:
        return threshold(self.alpha)

    @property
    def battles(self) -> int:
        return self.wins + self.ties + self.losses

    def line(self) -> str:
        """One decision line: the test, n, alpha, and why the pair stopped (or did not).

        >>> print(PairStop("ft", "base", "ft", 8, 40, 8, 0, 0, 56.78, 0.05, 16, 80).line())
        ... # doctest: +NORMALIZE_WHITESPACE
        ft vs base: ft is better; stopped after 8 of 40 questions (16 of 80 judgments): the mixture
        statistic reached 56.8, at least 2/alpha = 40, on n = 8 decisive battles (ft 8 wins, 0 ties,
        0 losses); sequential mixture test (Robbins' mixture, Ville's inequality), alpha 0.05
        """
        record = (f"n = {self.wins + self.losses} decisive battles ({self.model_a} {self.wins} wins, "
                  f"{self.ties} ties, {self.losses} losses); {TEST}, alpha {self.alpha:g}")
        asked = f"{self.judgments} of {self.judgments_total} judgments"
        if self.leader is not None:
            return (f"{self.model_a} vs {self.model_b}: {self.leader} is better; stopped after "
                    f"{self.questions} of {self.total} questions ({asked}): the mixture statistic reached "
                    f"{self.statistic:.1f}, at least 2/alpha = {self.threshold:g}, on {record}")
        return (f"{self.model_a} vs {self.model_b}: undecided, judged all {self.total} questions "
                f"({asked}): the mixture statistic ended at {self.statistic:.1f}, below 2/alpha = "
                f"{self.threshold:g}, on {record}; the data do not name a leader")

    def to_row(self) -> dict[str, Any]:
        return {"model_a": self.model_a, "model_b": self.model_b, "leader": self.leader,
                "questions": self.questions, "total": self.total, "wins": self.wins, "ties": self.ties,
                "losses": self.losses, "statistic": round(self.statistic, 6), "alpha": self.alpha,
                "judgments": self.judgments, "judgments_total": self.judgments_total}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> PairStop:
        """A row :meth:`to_row` wrote (``harness.core.rundir.read_stopping`` checked its fields)."""
        return cls(row["model_a"], row["model_b"], row["leader"], row["questions"], row["total"],
                   row["wins"], row["ties"], row["losses"], float(row["statistic"]), float(row["alpha"]),
                   row["judgments"], row["judgments_total"])
