"""Ratings from battles: online Elo, and win/tie/lose counts per model pair.

Elo's shuffle orders and bootstrap rounds run together as whole-array steps, one per battle position
(:func:`_elo_runs`); not handled: spreading that one sequential loop over several cores.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import get_args

import numpy as np

from harness.core.errors import HarnessError
from harness.core.types import Battle, PairRecord, Rating, Winner
from harness.stats.bradley_terry import RatingResult, bradley_terry, with_intervals

SCORE = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}


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


def _order_key(b: Battle) -> tuple[str, str, int, str, str, str, str]:
    return (b.task, b.question_id, b.turn or 0, b.model_a, b.model_b, b.judge, b.winner)


def _streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The shuffles' and the bootstrap's random streams: separate, so that changing the number of
    bootstrap rounds leaves the point estimate as it was, and the other way round."""
    shuffles, resamples = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(shuffles), np.random.default_rng(resamples)


CHUNK = 256
"""Battle positions drawn and coded at a time: bounds the index arrays to CHUNK x rows. The
bootstrap draws come position by position (each position's draws for every round, in round order),
so the numbers do not depend on it."""


@dataclass(frozen=True)
class _Coded:
    """Battles as arrays, sorted (:func:`_order_key`) so no result depends on the stored order."""

    names: list[str]
    """``models`` first, then every other model that has a battle (its battles still move the
    ratings of the models it met)."""
    a: np.ndarray
    b: np.ndarray
    score: np.ndarray
    """Model A's score: 1 win, 0.5 tie, 0 loss (:data:`SCORE`)."""


def _coded(battles: Sequence[Battle], models: Sequence[str] = ()) -> _Coded:
    ordered = sorted(battles, key=_order_key)
    index = {m: i for i, m in enumerate(dict.fromkeys([*models, *(m for b in ordered
                                                                   for m in (b.model_a, b.model_b))]))}
    a = np.fromiter((index[b.model_a] for b in ordered), np.intp, len(ordered))
    b = np.fromiter((index[b.model_b] for b in ordered), np.intp, len(ordered))
    score = np.fromiter((SCORE[b.winner] for b in ordered), float, len(ordered))
    return _Coded(list(index), a, b, score)


def _elo_runs(coded: _Coded, *, orders: np.ndarray, resamples: int, rng: np.random.Generator,
              k: float = 4, base: float = 10, scale: float = 400, initial: float = 1000) -> np.ndarray:
    """Online Elo (:func:`online_elo`) on many battle sequences at once: one row per permutation in
    ``orders`` (rounds x battles), then ``resamples`` rows of battles drawn with replacement.

    The update is sequential within a row but rows are independent, so each step updates every
    row's two ratings for the battle at that position with whole-array operations (a flat array of
    rows x models ratings, gathered and scattered by index): one Python step per battle position
    instead of one per battle per row. Returns the final ratings, rows x ``coded.names``.
    """
    n, m = len(coded.a), len(coded.names)
    rows = len(orders) + resamples
    ratings = np.full(rows * m, float(initial))
    if not rows or not n:
        return ratings.reshape(rows, m)
    offset = np.arange(rows, dtype=np.intp) * m
    k_score = k * coded.score
    # base ** ((rb - ra) / scale) as exp((rb - ra) * c): one ufunc pass instead of a power
    c = math.log(base) / scale
    d = np.empty(rows)
    with np.errstate(over="ignore"):  # a gap past ~300 / c points: expected 0, as the limit says
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            drawn = np.concatenate([orders[:, start:stop].T,
                                    rng.integers(0, n, (stop - start, resamples), dtype=np.intp)], axis=1)
            flat_a, flat_b, k_s = coded.a[drawn] + offset, coded.b[drawn] + offset, k_score[drawn]
            for ia, ib, ks in zip(flat_a, flat_b, k_s):
                ra, rb = ratings.take(ia), ratings.take(ib)
                np.subtract(rb, ra, out=d)
                d *= c
                np.exp(d, out=d)
                d += 1
                np.divide(k, d, out=d)  # k * expected_a
                np.subtract(ks, d, out=d)  # delta = k * (score - expected_a)
                ra += d
                rb -= d
                ratings[ia] = ra
                ratings[ib] = rb  # after A's: a self-battle (a == b) ends at rb - delta, as online_elo
    return ratings.reshape(rows, m)


def _shuffles(n: int, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """``rounds`` seeded permutations of ``n`` battles, as int32 (half of int64's memory: 200 MB for
    100 orders of 500,000 battles)."""
    out = np.empty((max(rounds, 0), n), np.int32 if n < 2**31 else np.int64)
    for r in range(len(out)):
        out[r] = rng.permutation(n)
    return out


def elo_ratings(battles: Sequence[Battle], rounds: int = 100, seed: int = 0,
                **elo_kwargs: float) -> dict[str, float]:
    """Online Elo averaged over ``rounds`` seeded random battle orders (permutations of the battles
    sorted first, so that the result does not depend on the order they happen to be stored in).

    The orders are numpy's draws (issue 29); before, Python's ``random.shuffle`` drew them, a
    pure-Python loop (1.7 s a million battles, 170 s for 100 orders) whose draws no vectorised code
    reproduces, so a seed's figures changed with that, by the draws only.

    Example: x beats y twice; every order gives 1002 after the first win, then 1002 + 4 * (1 -
    0.50576) = 1003.977 (:func:`online_elo`), so the average is that too.

    >>> b = [Battle("x", "y", "model_a", "t", f"q{i}") for i in range(2)]
    >>> {m: round(r, 3) for m, r in elo_ratings(b, rounds=5).items()}
    {'x': 1003.977, 'y': 996.023}
    """
    if not battles:
        return {}
    coded = _coded(battles)
    if rounds <= 0:
        return dict.fromkeys(coded.names, float(elo_kwargs.get("initial", 1000)))
    shuffles, resamples = _streams(seed)
    runs = _elo_runs(coded, orders=_shuffles(len(coded.a), rounds, shuffles), resamples=0, rng=resamples,
                     **elo_kwargs)
    return {m: float(r) for m, r in zip(coded.names, runs.mean(axis=0))}


OVERALL_TURNS = ("Overall counts every judged turn of a multi-turn question as one battle (a two-turn "
                 "question judged turn by turn gives two battles per pair, as MT-Bench averages its two "
                 "turns) and every single-turn question as one; the per-turn leaderboards rate the "
                 "battles of one turn of the multi-turn questions only.")
"""How the overall leaderboard combines turns, as reports state it."""


def by_turn(battles: Sequence[Battle]) -> dict[int, list[Battle]]:
    """The battles of each judged turn of the multi-turn questions, by turn; single-turn battles
    (turn None) belong to no turn.

    >>> b = lambda turn: Battle("x", "y", "tie", "t", "q1", turn=turn)
    >>> {k: len(v) for k, v in by_turn([b(None), b(1), b(2), b(2)]).items()}
    {1: 1, 2: 2}
    """
    out: dict[int, list[Battle]] = {}
    for b in battles:
        if b.turn is not None:
            out.setdefault(b.turn, []).append(b)
    return dict(sorted(out.items()))


def pair_records(battles: Sequence[Battle], models: Sequence[str]) -> list[PairRecord]:
    """Win/tie/lose of each model against each other model it met, in ``models`` order."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for b in battles:
        for me, other, my_win in ((b.model_a, b.model_b, "model_a"), (b.model_b, b.model_a, "model_b")):
            slot = 1 if b.winner in ("tie", "tie (bothbad)") else (0 if b.winner == my_win else 2)
            counts[(me, other)][slot] += 1
    return [PairRecord(m, o, *counts[(m, o)]) for m in models for o in models
            if m != o and (m, o) in counts]


def leaderboard(battles: Sequence[Battle], models: Sequence[str], bootstrap: int = 1000,
                elo_rounds: int = 100, seed: int = 0, *, prior_sd: float | None = None) -> list[Rating]:
    """One row per model, best Bradley-Terry rating first, with Elo alongside. ``prior_sd``: the
    Bradley-Terry prior (None: maximum likelihood where it exists; :func:`bradley_terry`).

    Models without any battle (say, every comparison was a judge error) keep the initial rating
    and an interval of [initial, initial].
    """
    if battles:
        bt = rate_battles(battles, "bt", models, bootstrap=bootstrap, seed=seed, prior_sd=prior_sd)
        elo = elo_with_ci(battles, models, bootstrap=bootstrap, seed=seed, rounds=elo_rounds)
        bt_rows = zip(bt.ratings, bt.lower, bt.upper, bt.rank())
        elo_rows = list(zip(elo.ratings, elo.lower, elo.upper))
    else:
        bt_rows = zip([1000.0] * len(models), [1000.0] * len(models), [1000.0] * len(models),
                      [1] * len(models))
        elo_rows = [(1000.0, 1000.0, 1000.0)] * len(models)
    totals = {m: [0, 0, 0] for m in models}
    for rec in pair_records(battles, models):
        for i, v in enumerate((rec.wins, rec.ties, rec.losses)):
            totals[rec.model][i] += v
    rows = [Rating(m, float(b), float(bl), float(bu), float(e), float(el), float(eu), int(rank), *totals[m])
            for m, (b, bl, bu, rank), (e, el, eu) in zip(models, bt_rows, elo_rows)]
    return sorted(rows, key=lambda r: (-r.bt, r.model))


def elo_with_ci(battles: Sequence[Battle], models: Sequence[str], bootstrap: int = 1000,
                seed: int = 0, rounds: int = 100, confidence: float = 0.95,
                anchor: tuple[str, float] | None = None, **elo_kwargs: float) -> RatingResult:
    """Shuffle-averaged online Elo (:func:`elo_ratings`), with percentile intervals from
    ``bootstrap`` rounds of online Elo on battles resampled with replacement (FastChat's bootstrap
    of ``compute_elo``). All rounds run at once (:func:`_elo_runs`)."""
    if not battles:
        raise HarnessError("no battles to rate")
    initial = float(elo_kwargs.get("initial", 1000))
    coded = _coded(battles, models)
    shuffles, resamples = _streams(seed)
    rounds = max(rounds, 0)
    runs = _elo_runs(coded, orders=_shuffles(len(coded.a), rounds, shuffles), resamples=max(bootstrap, 0),
                     rng=resamples, **elo_kwargs)[:, :len(models)]
    ratings = runs[:rounds].mean(axis=0) if rounds else np.full(len(models), initial)
    return with_intervals(models, ratings, runs[rounds:], "elo", anchor, confidence)


def rate_battles(battles: Sequence[Battle], method: str = "bt", models: Sequence[str] | None = None,
                 bootstrap: int = 1000, seed: int = 0, anchor: tuple[str, float] | None = None,
                 k: float = 4, base: float = 10, scale: float = 400,
                 initial: float = 1000, soft: bool = False, prior_sd: float | None = None) -> RatingResult:
    """Ratings by ``bt`` (Bradley-Terry MLE) or ``elo`` (online Elo), with bootstrap intervals;
    ``soft``: Bradley-Terry on the battles' expected outcomes (``Battle.soft``) where they have one;
    ``prior_sd``: Bradley-Terry's prior (None: only where the maximum likelihood does not exist)."""
    names = list(models) if models else sorted({m for b in battles for m in (b.model_a, b.model_b)})
    if soft and method != "bt":
        raise HarnessError(f"--soft rates expected wins by Bradley-Terry; it does not apply to "
                           f"--method {method}")
    if method == "bt":
        return bradley_terry(battles, names, bootstrap=bootstrap, seed=seed, anchor=anchor,
                             scale=scale, base=base, initial=initial, soft=soft, prior_sd=prior_sd)
    if method == "elo":
        if prior_sd is not None:
            raise HarnessError("--prior-sd is Bradley-Terry's prior; it does not apply to --method elo")
        return elo_with_ci(battles, names, bootstrap=bootstrap, seed=seed, anchor=anchor,
                           k=k, base=base, scale=scale, initial=initial)
    raise HarnessError(f"rating method {method!r}: use bt or elo")


@dataclass(frozen=True)
class Score:
    """A model's expected win rate against a baseline, from the ratings (Arena-Hard's score)."""

    model: str
    score: float
    """Percent: 100 / (1 + base ** ((baseline's rating - model's rating) / scale)); 50 for the
    baseline itself."""
    lower: float
    """The same from the model's and the baseline's lower rating bounds."""
    upper: float


def baseline_scores(result: RatingResult, baseline: str, *, scale: float = 400, base: float = 10
                    ) -> list[Score]:
    """Each model's score against ``baseline``, as Arena-Hard's and WildVision-Bench's
    ``show_result.py`` computes it: the predicted win rate from the point ratings, and from the
    lower and upper bounds (the baseline's own bounds in each; with the baseline anchored, as they
    anchor it, those are its rating).

    Example: a model rated 100 points above the baseline is expected to win
    1 / (1 + 10 ** (-100 / 400)) = 64.0% of their battles.

    >>> r = RatingResult(("base", "m"), np.array([1000.0, 1100.0]), np.array([1000.0, 1050.0]),
    ...                  np.array([1000.0, 1150.0]), 10)
    >>> [(s.model, round(s.score, 2), round(s.lower, 2), round(s.upper, 2))
    ...  for s in baseline_scores(r, "base")]
    [('base', 50.0, 50.0, 50.0), ('m', 64.01, 57.15, 70.34)]
    """
    if baseline not in result.models:
        raise HarnessError(f"baseline model {baseline!r} has no battles; models: {', '.join(result.models)}")
    k = result.models.index(baseline)

    def rate(r: float, rb: float) -> float:
        return float(100.0 / (1.0 + base ** ((rb - r) / scale)))

    return [Score(m, 50.0, 50.0, 50.0) if i == k else
            Score(m, rate(result.ratings[i], result.ratings[k]), rate(result.lower[i], result.lower[k]),
                  rate(result.upper[i], result.upper[k]))
            for i, m in enumerate(result.models)]


@dataclass(frozen=True)
class HeadToHead:
    """A model's figures against a baseline, as AlpacaEval's ``get_winrate`` reports them."""

    model: str
    win_rate: float
    """Percent: the mean preference for the model (a win 1, a draw 0.5, a loss 0; an expected
    outcome where the battle has one, AlpacaEval's weighted preferences)."""
    standard_error: float
    """Percent: the standard error of that mean (sample standard deviation / sqrt(n))."""
    discrete_win_rate: float
    """Percent: the same with each preference rounded to a win, a draw (exactly 0.5) or a loss."""
    n_wins: int
    """Battles whose preference leans to the model (above 0.5)."""
    n_wins_base: int
    n_draws: int
    """Battles whose preference is exactly 0.5."""
    n_total: int


def preference(b: Battle, baseline: str) -> tuple[str, float] | None:
    """The model a battle pits against ``baseline`` and the preference for it (its expected outcome
    where the battle has one, ``soft``: P(model wins) + P(tie) / 2; else 1, 0.5 or 0 by its
    winner); None for a battle without the baseline.

    >>> preference(Battle("m", "base", "model_b", "t", "1"), "base")
    ('m', 0.0)
    >>> preference(Battle("x", "y", "tie", "t", "1"), "b") is None
    True
    """
    if baseline not in (b.model_a, b.model_b) or b.model_a == b.model_b:
        return None
    model_is_a = b.model_b == baseline
    model = b.model_a if model_is_a else b.model_b
    if b.soft is not None:
        p_a, p_tie, p_b = b.soft
        return model, (p_a if model_is_a else p_b) + p_tie / 2
    won = (b.winner == "model_a") == model_is_a
    return model, 0.5 if b.winner in ("tie", "tie (bothbad)") else float(won)


def head_to_head(battles: Sequence[Battle], baseline: str) -> list[HeadToHead]:
    """Each model's head-to-head figures against ``baseline`` from the battles between them, as
    AlpacaEval's ``get_winrate`` computes them (``AbsoluteScoringRule`` for the win rate and its
    standard error, ``ZeroOneScoringRule`` for the discrete one). A battle's preference for the
    model is its expected outcome where it has one (``soft``: P(model wins) + P(tie) / 2), else 1,
    0.5 or 0 by its winner.

    Example: preferences 1, 0.75 and 0.5 give a win rate of 75%, a standard error of
    100 * 0.25 / sqrt(3) = 14.43%, and a discrete win rate of (1 + 1 + 0.5) / 3 = 83.33%.

    >>> bs = [Battle("base", "m", "model_b", "t", "1"), Battle("m", "base", "model_a", "t", "2",
    ...       soft=(0.75, 0.0, 0.25)), Battle("base", "m", "tie", "t", "3")]
    >>> h = head_to_head(bs, "base")[0]
    >>> round(h.win_rate, 2), round(h.standard_error, 2), round(h.discrete_win_rate, 2), h.n_wins, h.n_draws
    (75.0, 14.43, 83.33, 2, 1)
    """
    prefs: dict[str, list[float]] = defaultdict(list)
    for b in battles:
        seen = preference(b, baseline)
        if seen is not None:
            prefs[seen[0]].append(seen[1])
    out = []
    for model, values in prefs.items():
        x = np.asarray(values, dtype=float)
        n = len(x)
        sem = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
        # AlpacaEval's ZeroOneScoringRule: an exact draw stays a draw, the rest rounds to 0 or 1.
        discrete = np.where(x == 0.5, 0.5, np.round(x))
        out.append(HeadToHead(model, float(x.mean() * 100), sem * 100, float(discrete.mean() * 100),
                              int((x > 0.5).sum()), int((x < 0.5).sum()), int((x == 0.5).sum()), n))
    return out


WINNERS = get_args(Winner)


def parse_battle(row: dict) -> Battle:
    """One FastChat battle row; extra fields are ignored, wrong values are errors.

    ``Battle.from_row`` decides what a valid battle is, so ``harness rate`` and every reader of a
    run's battles accept and reject the same rows.
    """
    return Battle.from_row(row)
