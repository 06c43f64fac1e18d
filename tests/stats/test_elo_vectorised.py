"""The vectorised Elo (all shuffle and bootstrap rounds at once, ``ratings._elo_runs``) against
online Elo computed battle by battle in pure Python.

Two oracles:

- the same draws, battle by battle: a pure-Python loop (the pre-issue-29 code's ``online_elo`` on
  each round's battle list) fed the permutations and resampled indices the vectorised code draws;
  every rating agrees to 1e-9 points, for several seeds;
- the pre-issue-29 implementation itself, kept verbatim below (``random.Random`` shuffles and
  ``randrange`` resamples): its draws cannot be reproduced at speed (see ``elo_ratings``), so its
  numbers differ by the draws only; on 400 battles the point ratings agree to within a point and
  the 95% bounds to within 5 points.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pytest

from harness.core.types import Battle
from harness.stats import ratings
from harness.stats.bradley_terry import RatingResult, with_intervals
from harness.stats.ratings import elo_ratings, elo_with_ci, online_elo

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")


def _battles(n: int, models: int, seed: int) -> list[Battle]:
    rng = random.Random(seed)
    names = [f"m{i}" for i in range(models)]
    out = []
    for i in range(n):
        a, b = rng.sample(names, 2)
        # model strength by index, so the ratings spread out as real ones do
        p_a = 1 / (1 + 10 ** ((names.index(b) - names.index(a)) / 3))
        u = rng.random()
        winner = "tie" if u < 0.1 else "tie (bothbad)" if u < 0.15 else "model_a" if rng.random() < p_a else "model_b"
        out.append(Battle(a, b, winner, "t", f"q{i % 37}", turn=rng.choice((None, 1, 2))))  # type: ignore[arg-type]
    return out


# --- oracle 1: the same draws, battle by battle ---------------------------------------------------

def _same_draws(battles: Sequence[Battle], models: Sequence[str], *, bootstrap: int, seed: int,
                rounds: int, **kw: float) -> tuple[np.ndarray, np.ndarray]:
    """Point ratings and bootstrap samples, each round's online Elo computed battle by battle."""
    ordered = sorted(battles, key=ratings._order_key)
    n = len(ordered)
    shuffles, resamples = ratings._streams(seed)
    perms = [shuffles.permutation(n) for _ in range(rounds)]
    # the bootstrap's draws come position by position, CHUNK positions at a time, every round's
    # draw for a position together (round-major within the position)
    drawn = np.concatenate([resamples.integers(0, n, (min(ratings.CHUNK, n - s), bootstrap), dtype=np.intp)
                            for s in range(0, n, ratings.CHUNK)]).T if bootstrap else np.empty((0, n), int)
    initial = kw.get("initial", 1000.0)

    def row(order: Sequence[int]) -> list[float]:
        got = online_elo([ordered[i] for i in order], **kw)
        return [got.get(m, initial) for m in models]

    point = np.mean([row(p) for p in perms], axis=0) if rounds else np.full(len(models), initial)
    return point, np.array([row(d) for d in drawn]).reshape(bootstrap, len(models))


@pytest.mark.parametrize("seed", [0, 1, 7, 12345])
def test_vectorised_elo_equals_battle_by_battle_on_the_same_draws(seed: int) -> None:
    battles = _battles(150 + 17 * seed % 60, 5, seed)
    # "m9" has no battle (initial rating, [initial, initial]); "m4" battles but is not asked for
    models = ["m2", "m0", "m9", "m1", "m3"]
    got = elo_with_ci(battles, models, bootstrap=40, seed=seed, rounds=9)
    point, samples = _same_draws(battles, models, bootstrap=40, seed=seed, rounds=9)
    want = with_intervals(models, point, samples, "elo")
    assert np.abs(got.ratings - want.ratings).max() < 1e-9
    assert np.abs(got.lower - want.lower).max() < 1e-9
    assert np.abs(got.upper - want.upper).max() < 1e-9
    assert got.ratings[2] == got.lower[2] == got.upper[2] == 1000.0
    dict_point = elo_ratings(battles, rounds=9, seed=seed)
    assert max(abs(dict_point[m] - point[i]) for i, m in enumerate(models) if m != "m9") < 1e-9


def test_other_elo_settings_and_positions_past_one_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """k, base, scale and initial reach the vectorised update; a chunk size that does not divide
    the battles changes nothing (the draws come position by position)."""
    battles = _battles(70, 4, 3)
    kw = {"k": 16.0, "base": 2.0, "scale": 100.0, "initial": 1500.0}
    models = ["m0", "m1", "m2", "m3"]
    point, samples = _same_draws(battles, models, bootstrap=12, seed=5, rounds=4, **kw)
    whole = elo_with_ci(battles, models, bootstrap=12, seed=5, rounds=4, **kw)
    assert np.abs(whole.ratings - point).max() < 1e-9
    assert np.abs(whole.lower - with_intervals(models, point, samples, "elo").lower).max() < 1e-9
    monkeypatch.setattr(ratings, "CHUNK", 8)
    chunked = elo_with_ci(battles, models, bootstrap=12, seed=5, rounds=4, **kw)
    assert np.abs(chunked.ratings - whole.ratings).max() < 1e-9
    assert np.abs(chunked.lower - whole.lower).max() < 1e-9 and np.abs(chunked.upper - whole.upper).max() < 1e-9


def test_stored_order_and_round_counts_do_not_leak() -> None:
    battles = _battles(90, 4, 11)
    models = ["m0", "m1", "m2", "m3"]
    one = elo_with_ci(battles, models, bootstrap=30, seed=2, rounds=6)
    other = elo_with_ci(list(reversed(battles)), models, bootstrap=30, seed=2, rounds=6)
    assert np.array_equal(one.ratings, other.ratings) and np.array_equal(one.lower, other.lower)
    # separate streams: more bootstrap rounds leave the point estimate as it was
    assert np.array_equal(elo_with_ci(battles, models, bootstrap=0, seed=2, rounds=6).ratings, one.ratings)
    no_rounds = elo_with_ci(battles, models, bootstrap=0, seed=2, rounds=0)
    assert list(no_rounds.ratings) == list(no_rounds.lower) == [1000.0] * 4


def test_a_huge_k_is_a_number_not_an_overflow() -> None:
    """The battle-by-battle code raised OverflowError once a rating gap passed ~120,000 points
    (``10 ** 308``); the expected score there is 0 or 1, as the vectorised update takes it."""
    battles = [Battle("x", "y", "model_a", "t", f"q{i}") for i in range(40)]
    got = elo_with_ci(battles, ["x", "y"], bootstrap=5, seed=0, rounds=3, k=1e7)
    assert np.isfinite(got.ratings).all() and got.ratings[0] > got.ratings[1]


# --- oracle 2: the pre-issue-29 implementation, verbatim (random.Random draws) ---------------------

def _old_elo_ratings(battles: Sequence[Battle], rounds: int = 100, seed: int = 0,
                     **elo_kwargs: float) -> dict[str, float]:
    if not battles:
        return {}
    rng = random.Random(seed)
    totals: dict[str, float] = defaultdict(float)
    shuffled = sorted(battles, key=lambda b: (b.task, b.question_id, b.turn or 0, b.model_a, b.model_b,
                                              b.judge, b.winner))
    for _ in range(rounds):
        rng.shuffle(shuffled)
        for model, rating in online_elo(shuffled, **elo_kwargs).items():
            totals[model] += rating
    return {m: r / rounds for m, r in totals.items()}


def _old_elo_with_ci(battles: Sequence[Battle], models: Sequence[str], bootstrap: int = 1000,
                     seed: int = 0, rounds: int = 100, **elo_kwargs: float) -> RatingResult:
    initial = float(elo_kwargs.get("initial", 1000))
    point = _old_elo_ratings(battles, rounds=rounds, seed=seed, **elo_kwargs)
    rates = np.array([point.get(m, initial) for m in models])
    rng = random.Random(seed)
    samples = np.empty((bootstrap, len(models)))
    for r in range(bootstrap):
        drawn = [battles[rng.randrange(len(battles))] for _ in battles]
        got = online_elo(drawn, **elo_kwargs)
        samples[r] = [got.get(m, initial) for m in models]
    return with_intervals(models, rates, samples, "elo")


@pytest.mark.parametrize("seed", [0, 3])
def test_same_estimator_as_the_old_code(seed: int) -> None:
    """Only the random draws changed: on 400 battles the point ratings (100 orders) agree to within
    a point and the 95% bounds (1000 rounds each) to within 5 points (seen: 0.52 and 3.6), against
    intervals ~50 points wide and ratings ~250 points apart."""
    battles = _battles(400, 4, seed)
    models = ["m0", "m1", "m2", "m3"]
    new = elo_with_ci(battles, models, bootstrap=1000, seed=seed, rounds=100)
    old = _old_elo_with_ci(battles, models, bootstrap=1000, seed=seed, rounds=100)
    assert new.ratings.max() - new.ratings.min() > 200
    assert np.abs(new.ratings - old.ratings).max() < 1.0
    assert np.abs(new.lower - old.lower).max() < 5 and np.abs(new.upper - old.upper).max() < 5
