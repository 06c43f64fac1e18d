"""Single-answer grades as numbers: battles between graded models, and mean scores with intervals.

Asking a judge for grades is ``harness.judges.single``; this module only counts.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from harness.core.types import Battle, Grade


def battles_from_grades(grades: Sequence[Grade], models: Sequence[str]) -> list[Battle]:
    """On each question (and turn), every pair of graded models: the higher score wins, equal is a tie.

    >>> g = lambda m, s: Grade("t", "q1", m, s, "j", "generate", "p", "h", "")
    >>> [b.winner for b in battles_from_grades([g("x", 7), g("y", 4), g("z", None)], ["x", "y", "z"])]
    ['model_a']
    """
    scores: dict[tuple[str, str, int | None, str], dict[str, float]] = defaultdict(dict)
    for g in grades:
        if g.score is not None:
            scores[(g.task, g.question_id, g.turn, g.judge)][g.model] = g.score
    battles = []
    for (task, qid, turn, judge), by_model in scores.items():
        for a, b in itertools.combinations([m for m in models if m in by_model], 2):
            sa, sb = by_model[a], by_model[b]
            winner = "model_a" if sa > sb else "model_b" if sb > sa else "tie"
            battles.append(Battle(a, b, winner, task, qid, judge, turn))  # type: ignore[arg-type]
    return battles


@dataclass(frozen=True)
class MeanScore:
    """A model's average grade with a t-based 95% interval."""

    model: str
    mean: float
    lower: float
    upper: float
    n: int
    errors: int


def mean_scores(grades: Sequence[Grade], models: Sequence[str], confidence: float = 0.95) -> list[MeanScore]:
    """Average score per model, best first.

    >>> g = lambda s: Grade("t", "q", "x", s, "j", "generate", "p", "h", "")
    >>> m = mean_scores([g(6.0), g(8.0), g(None)], ["x"])[0]
    >>> (m.mean, m.n, m.errors, round(m.lower, 2), round(m.upper, 2))
    (7.0, 2, 1, -5.71, 19.71)
    """
    from scipy.stats import t as student_t

    out = []
    for model in models:
        mine = [g for g in grades if g.model == model]
        values = [g.score for g in mine if g.score is not None]
        n = len(values)
        mean = sum(values) / n if n else math.nan
        if n > 1:
            sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
            half = float(student_t.ppf(1 - (1 - confidence) / 2, n - 1)) * sd / math.sqrt(n)
        else:
            half = math.nan
        out.append(MeanScore(model, mean, mean - half, mean + half, n, len(mine) - n))
    return sorted(out, key=lambda s: (math.inf if math.isnan(s.mean) else -s.mean, s.model))
