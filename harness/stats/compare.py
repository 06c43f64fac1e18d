"""Two judges on the same comparisons: how far their verdicts agree and how the leaderboard moves.

For swapping judges knowingly (a snapshot retired, a cheaper judge tried): on the comparisons both
judges decided (battles, both orders combined), the share where they name the same winner (with a
Wilson interval), Cohen's kappa, each judge's Bradley-Terry ratings on exactly those comparisons,
each model's rating shift, and Kendall's tau between the two rating orders (1: the same order).

Not handled: comparisons only one judge decided (they are counted, not compared); significance of
a single model's shift (the ratings' own intervals are in each judge's leaderboard).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.core.numbers import json_number
from harness.core.types import Battle
from harness.stats.panel import cohen_kappa
from harness.stats.ratings import leaderboard
from harness.stats.significance import share_interval

_FLIP = {"model_a": "model_b", "model_b": "model_a"}


@dataclass(frozen=True)
class ModelShift:
    """One model's Bradley-Terry rating and rank under each judge."""

    model: str
    old: float
    new: float
    old_rank: int
    new_rank: int

    @property
    def shift(self) -> float:
        return self.new - self.old


@dataclass(frozen=True)
class JudgeComparison:
    old: str
    new: str
    n: int
    """Comparisons both judges decided."""
    agree: int
    """Of those, the ones where both named the same winner (or both a tie)."""
    lower: float
    upper: float
    """95% Wilson interval of the agreement rate."""
    kappa: float
    tau: float
    """Kendall's tau-b between the two judges' ratings of the models (nan with fewer than two)."""
    only_old: int
    only_new: int
    """Comparisons only one of the judges decided."""
    models: tuple[ModelShift, ...]
    """Best first under the old judge."""

    @property
    def rate(self) -> float:
        return self.agree / self.n if self.n else math.nan

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, "n": self.n, "agree": self.agree,
                "agreement": json_number(self.rate), "lower": json_number(self.lower),
                "upper": json_number(self.upper), "kappa": json_number(self.kappa),
                "kendall_tau": json_number(self.tau), "only_old": self.only_old, "only_new": self.only_new,
                "models": [{"model": m.model, "old_bt": m.old, "new_bt": m.new, "shift": m.shift,
                            "old_rank": m.old_rank, "new_rank": m.new_rank} for m in self.models]}


def _oriented(battles: Sequence[Battle]) -> dict[tuple[str, str, int, str, str], Battle]:
    """Each battle keyed by its comparison, the models in name order (the winner flipped to match)."""
    out = {}
    for b in battles:
        a, c = sorted((b.model_a, b.model_b))
        winner = b.winner if a == b.model_a else _FLIP.get(b.winner, b.winner)
        out[(b.task, b.question_id, b.turn or 0, a, c)] = Battle(a, c, winner, b.task, b.question_id,  # type: ignore[arg-type]
                                                                 b.judge, b.turn)
    return out


def compare_judges(old: Sequence[Battle], new: Sequence[Battle], models: Sequence[str], *,
                   old_name: str, new_name: str, bootstrap: int = 200, seed: int = 0) -> JudgeComparison:
    """Agreement, kappa, rating shifts and Kendall's tau of two judges' battles on the comparisons
    both decided.

    >>> b = lambda q, w: Battle("x", "y", w, "t", q)
    >>> same = [b("q1", "model_a"), b("q2", "model_b"), b("q3", "model_a")]
    >>> c = compare_judges(same, same, ["x", "y"], old_name="j1", new_name="j2", bootstrap=10)
    >>> (c.n, c.agree, c.kappa, c.tau)
    (3, 3, 1.0, 1.0)
    """
    from scipy.stats import kendalltau

    by_old, by_new = _oriented(old), _oriented(new)
    shared = [k for k in by_old if k in by_new]
    pairs = [(by_old[k].winner.replace(" (bothbad)", ""), by_new[k].winner.replace(" (bothbad)", ""))
             for k in shared]
    agree = sum(x == y for x, y in pairs)
    lower, upper = share_interval(agree, len(pairs))
    ratings = [{r.model: r for r in leaderboard([by[k] for k in shared], models, bootstrap=bootstrap,
                                                seed=seed)} for by in (by_old, by_new)]
    rated = [m for m in models if m in ratings[0]]
    shifts = sorted((ModelShift(m, ratings[0][m].bt, ratings[1][m].bt, ratings[0][m].rank, ratings[1][m].rank)
                     for m in rated), key=lambda s: (-s.old, s.model))
    tau = math.nan
    if len(rated) > 1:
        found = kendalltau([ratings[0][m].bt for m in rated], [ratings[1][m].bt for m in rated]).statistic
        tau = float(found) if found is not None else math.nan
    return JudgeComparison(old_name, new_name, len(pairs), agree, lower, upper, cohen_kappa(pairs), tau,
                           len(by_old) - len(shared), len(by_new) - len(shared), tuple(shifts))
