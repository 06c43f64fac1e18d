"""Probability-weighted ratings: Bradley-Terry on the judge's expected outcomes, beside the text
verdicts', and how often the two readings of a verdict disagree.

A ``logprobs`` judge gives each verdict its probabilities (``Judgment.soft``) and each battle the
mean of its two orders' (``Battle.soft``). A battle then counts as P(a wins) of a win, P(tie) of a
tie and P(b wins) of a loss (AlpacaEval's weighted win rate, on the Bradley-Terry model).

Not handled: a judge panel's majority battles carry no probabilities (a majority of three soft
verdicts is not one), so a panel's leaderboard has no probability-weighted twin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from harness.core.types import Battle, Judgment
from harness.stats.bradley_terry import RatingResult, bradley_terry

OUTCOMES = ("model_a", "tie", "model_b")
"""The order of a soft triple's probabilities."""


@dataclass(frozen=True)
class SoftBoard:
    """The probability-weighted leaderboard and the disagreement figures a report prints."""

    ratings: RatingResult
    """Bradley-Terry on expected wins, with bootstrap intervals (battles resampled)."""
    battles: int
    """Battles rated."""
    weighted: int
    """Of them, the ones with probabilities (the rest count by their winner)."""
    battles_disagree: int
    """Weighted battles whose most likely outcome is not the battle's winner."""
    verdicts: int
    """Judgments with probabilities."""
    verdicts_disagree: int
    """Of them, the ones whose most likely outcome is not the verdict read from the text."""

    @property
    def verdict_disagreement(self) -> float:
        """Share of :attr:`verdicts` in :attr:`verdicts_disagree` (NaN with none)."""
        return self.verdicts_disagree / self.verdicts if self.verdicts else math.nan

    @property
    def battle_disagreement(self) -> float:
        """Share of :attr:`weighted` battles in :attr:`battles_disagree`."""
        return self.battles_disagree / self.weighted if self.weighted else math.nan


def most_likely(soft: tuple[float, float, float]) -> str:
    """The outcome with the highest probability (a tie between probabilities goes to ``tie``, then
    to ``model_a``: a coin-flip verdict reads as a tie).

    >>> most_likely((0.2, 0.3, 0.5)), most_likely((0.45, 0.1, 0.45)), most_likely((0.4, 0.4, 0.2))
    ('model_b', 'model_a', 'tie')
    """
    best = max(soft)
    if soft[1] == best:
        return "tie"
    return OUTCOMES[soft.index(best)]


def _winner(winner: str) -> str:
    return "tie" if winner.startswith("tie") else winner


def soft_board(battles: Sequence[Battle], judgments: Sequence[Judgment], models: Sequence[str], *,
               bootstrap: int = 1000, seed: int = 0, prior_sd: float | None = None) -> SoftBoard | None:
    """The probability-weighted leaderboard of ``battles``; None when no battle has probabilities.

    >>> bs = [Battle("x", "y", "model_a", "t", "1", soft=(0.6, 0.3, 0.1)),
    ...       Battle("x", "y", "tie", "t", "2", soft=(0.2, 0.3, 0.5)), Battle("x", "y", "model_b", "t", "3")]
    >>> board = soft_board(bs, [], ["x", "y"], bootstrap=0)
    >>> board.weighted, board.battles_disagree
    (2, 1)
    """
    weighted = [b for b in battles if b.soft is not None]
    if not weighted:
        return None
    ratings = bradley_terry(battles, models, bootstrap=bootstrap, seed=seed, soft=True, prior_sd=prior_sd)
    soft_judgments = [j for j in judgments if j.soft is not None]
    return SoftBoard(
        ratings, len(battles), len(weighted),
        sum(most_likely(b.soft) != _winner(b.winner) for b in weighted),  # type: ignore[arg-type]
        len(soft_judgments),
        sum(most_likely(j.soft) != _winner(j.winner) for j in soft_judgments))  # type: ignore[arg-type]
