"""Ratings from battles: online Elo, and win/tie/lose counts per model pair."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from harness.types import Battle, PairRecord, Rating

SCORE = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5}


def online_elo(battles: Sequence[Battle], k: float = 4, base: float = 10, scale: float = 400,
               initial: float = 1000) -> dict[str, float]:
    """Elo updated battle by battle, in the given order.

    Each battle moves both ratings by ``k * (score - expected)``, with
    ``expected = 1 / (1 + base ** ((r_b - r_a) / scale))``. Worked example, K=4: two models at
    1000 expect 0.5 each, so a win moves them to 1002 / 998; then the favourite (expected
    1 / (1 + 10 ** (-4 / 400)) = 0.50576) ties, losing 4 * 0.00576 = 0.02302 points.

    >>> b = [Battle("x", "y", "model_a", "t", "q1"), Battle("x", "y", "tie", "t", "q2")]
    >>> {m: round(r, 5) for m, r in online_elo(b[:1]).items()}
    {'x': 1002.0, 'y': 998.0}
    >>> {m: round(r, 5) for m, r in online_elo(b).items()}
    {'x': 1001.97698, 'y': 998.02302}
    """
    ratings: dict[str, float] = defaultdict(lambda: initial)
    for battle in battles:
        ra, rb = ratings[battle.model_a], ratings[battle.model_b]
        expected_a = 1 / (1 + base ** ((rb - ra) / scale))
        delta = k * (SCORE[battle.winner] - expected_a)
        ratings[battle.model_a] = ra + delta
        ratings[battle.model_b] = rb - delta
    return dict(ratings)


def elo_ratings(battles: Sequence[Battle], rounds: int = 100, seed: int = 0,
                **elo_kwargs: float) -> dict[str, float]:
    """Online Elo averaged over ``rounds`` shuffled battle orders (seeded), so that the result
    does not depend on the order battles happen to be stored in (they are sorted first)."""
    if not battles:
        return {}
    rng = random.Random(seed)
    totals: dict[str, float] = defaultdict(float)
    shuffled = sorted(battles, key=lambda b: (b.task, b.question_id, b.model_a, b.model_b,
                                              b.judge, b.winner))
    for _ in range(rounds):
        rng.shuffle(shuffled)
        for model, rating in online_elo(shuffled, **elo_kwargs).items():
            totals[model] += rating
    return {m: r / rounds for m, r in totals.items()}


def pair_records(battles: Sequence[Battle], models: Sequence[str]) -> list[PairRecord]:
    """Win/tie/lose of each model against each other model it met, in ``models`` order."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for b in battles:
        for me, other, my_win in ((b.model_a, b.model_b, "model_a"), (b.model_b, b.model_a, "model_b")):
            slot = 1 if b.winner == "tie" else (0 if b.winner == my_win else 2)
            counts[(me, other)][slot] += 1
    return [PairRecord(m, o, *counts[(m, o)]) for m in models for o in models
            if m != o and (m, o) in counts]


def leaderboard(battles: Sequence[Battle], models: Sequence[str], rounds: int = 100,
                seed: int = 0) -> list[Rating]:
    """One row per model, best Elo first; models with no battle keep the initial rating."""
    elo = elo_ratings(battles, rounds=rounds, seed=seed)
    totals = {m: [0, 0, 0] for m in models}
    for rec in pair_records(battles, models):
        for i, v in enumerate((rec.wins, rec.ties, rec.losses)):
            totals[rec.model][i] += v
    rows = [Rating(m, elo.get(m, 1000.0), *totals[m]) for m in models]
    return sorted(rows, key=lambda r: (-r.elo, r.model))
