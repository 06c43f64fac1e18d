"""Bradley-Terry ratings by maximum likelihood, with bootstrap confidence intervals.

The likelihood depends on the battles only through the pairwise counts, so a fit costs
O(pairs), not O(battles), and a bootstrap round resamples the counts (a multinomial draw over the
distinct (pair, outcome) cells) instead of a million battle rows.

The model matches FastChat's and Arena-Hard's logistic regression on the duplicated-battle
design: each battle appears twice, a tie counting once as a win and once as a loss (half a win
each), with the same tiny L2 penalty (``C = 1e6``), and ratings on the Elo scale
``scale * beta / ln(base) + initial``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.core.errors import HarnessError
from harness.core.types import Battle

C_PENALTY = 1e6  # FastChat's LogisticRegression(C=1e6): all but unregularised
TIE_WINNERS = ("tie", "tie (bothbad)")


@dataclass(frozen=True)
class PairCounts:
    """Battles reduced to counts per unordered pair ``(a[k], b[k])``."""

    models: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    a_wins: np.ndarray
    b_wins: np.ndarray
    ties: np.ndarray

    @property
    def first(self) -> np.ndarray:
        return np.concatenate([self.a, self.b])

    @property
    def second(self) -> np.ndarray:
        return np.concatenate([self.b, self.a])

    def weights(self, a_wins: np.ndarray, b_wins: np.ndarray, ties: np.ndarray) -> np.ndarray:
        """Wins of ``first`` over ``second`` on the duplicated design: 2 a win, 1 a tie."""
        return np.concatenate([2 * a_wins + ties, 2 * b_wins + ties]).astype(float)

    @property
    def wins(self) -> np.ndarray:
        return self.weights(self.a_wins, self.b_wins, self.ties)


def pair_counts(battles: Sequence[Battle], models: Sequence[str] | None = None) -> PairCounts:
    """Count wins and ties per unordered pair (``a`` is the lower model index).

    >>> c = pair_counts([Battle("x", "y", "model_a", "t", "1"), Battle("y", "x", "tie", "t", "2")])
    >>> c.models, c.a_wins.tolist(), c.b_wins.tolist(), c.ties.tolist(), c.wins.tolist()
    (('x', 'y'), [1], [0], [1], [3.0, 1.0])
    """
    names = tuple(models) if models else tuple(sorted({m for b in battles for m in (b.model_a, b.model_b)}))
    index = {m: i for i, m in enumerate(names)}
    n = len(names)
    grid = np.zeros((3, n, n), dtype=np.int64)  # [wins of row, wins of column, ties], row < column
    for b in battles:
        try:
            i, j = index[b.model_a], index[b.model_b]
        except KeyError as exc:
            raise HarnessError(f"battle names model {exc.args[0]!r}, not in {', '.join(names)}") from None
        if b.winner in TIE_WINNERS:
            kind = 2
        elif b.winner in ("model_a", "model_b"):
            kind = 0 if (b.winner == "model_a") == (i < j) else 1
        else:
            raise HarnessError(f"battle winner {b.winner!r}: expected model_a, model_b, tie or tie (bothbad)")
        grid[kind, min(i, j), max(i, j)] += 1
    lo, hi = np.nonzero(grid.sum(axis=0))
    return PairCounts(names, lo, hi, grid[0, lo, hi], grid[1, lo, hi], grid[2, lo, hi])


def fit_bt(counts: PairCounts, weights: np.ndarray | None = None, start: np.ndarray | None = None,
           tol: float = 1e-10, max_iter: int = 100) -> np.ndarray:
    """Maximum-likelihood strengths (natural log-odds units) by Newton's method.

    ``weights`` replaces ``counts.wins`` (a bootstrap round); ``start`` warm-starts the search.
    Example: x beat y in 3 of 4 battles -> exp(bx - by) = 3 and bx - by = ln 3 = 1.0986.

    >>> c = pair_counts([Battle("x", "y", w, "t", str(i)) for i, w in
    ...                  enumerate(["model_a", "model_a", "model_a", "model_b"])])
    >>> round(float(np.diff(fit_bt(c)[::-1])[0]), 3)
    1.099
    """
    w = counts.wins if weights is None else weights
    n = len(counts.models)
    i, j = counts.first, counts.second
    beta = np.zeros(n) if start is None else start.astype(float).copy()
    # FastChat's penalty acts on coefficients c = beta / ln(10) of a design scaled by ln(10).
    ridge = 1.0 / (C_PENALTY * math.log(10) ** 2)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(beta[j] - beta[i]))  # P(i beats j)
        resid = w * (1.0 - p)  # d loglik / d(beta_i - beta_j), cell by cell
        grad = np.bincount(i, resid, n) - np.bincount(j, resid, n) - ridge * beta
        h = w * p * (1.0 - p)
        hess = np.zeros((n, n))
        np.add.at(hess, (i, j), h)
        np.add.at(hess, (j, i), h)
        hess = np.diag(hess.sum(axis=1)) - hess + ridge * np.eye(n)
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.max(np.abs(step)) < tol:
            break
    return beta


def to_elo(beta: np.ndarray, scale: float = 400, base: float = 10, initial: float = 1000) -> np.ndarray:
    return scale * beta / math.log(base) + initial


@dataclass(frozen=True)
class RatingResult:
    """Ratings (Bradley-Terry or Elo) with bootstrap percentile intervals."""

    models: tuple[str, ...]
    ratings: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rounds: int
    """Bootstrap rounds behind the interval (0: the interval is the point itself)."""
    method: str = "bt"

    def rank(self) -> list[int]:
        """1 + the number of models whose lower bound is above this model's upper bound."""
        return [1 + int(np.sum(self.lower > self.upper[k])) for k in range(len(self.models))]

    def win_matrix(self, scale: float = 400, base: float = 10) -> np.ndarray:
        """Predicted P(row beats column) from the ratings."""
        diff = (self.ratings[None, :] - self.ratings[:, None]) / scale
        return 1.0 / (1.0 + base ** diff)


def bradley_terry(battles: Sequence[Battle], models: Sequence[str] | None = None,
                  bootstrap: int = 1000, seed: int = 0, anchor: tuple[str, float] | None = None,
                  confidence: float = 0.95, scale: float = 400, base: float = 10,
                  initial: float = 1000) -> RatingResult:
    """Fit BT on ``battles`` and bootstrap ``bootstrap`` rounds (resampling battles)."""
    counts = pair_counts(battles, models)
    if not battles:
        raise HarnessError("no battles to rate")
    beta = fit_bt(counts)
    rng = np.random.default_rng(seed)
    # Resampling battles with replacement = one multinomial draw over (pair, outcome) cells.
    cells = np.concatenate([counts.a_wins, counts.b_wins, counts.ties])
    n_pairs = len(counts.a)
    samples = np.empty((bootstrap, len(counts.models)))
    for r in range(bootstrap):
        draw = rng.multinomial(len(battles), cells / cells.sum())
        weights = counts.weights(draw[:n_pairs], draw[n_pairs : 2 * n_pairs], draw[2 * n_pairs :])
        samples[r] = fit_bt(counts, weights, start=beta)
    return with_intervals(counts.models, to_elo(beta, scale, base, initial),
                          to_elo(samples, scale, base, initial), "bt", anchor, confidence)


def with_intervals(models: Sequence[str], ratings: np.ndarray, samples: np.ndarray, method: str,
                   anchor: tuple[str, float] | None = None, confidence: float = 0.95) -> RatingResult:
    """Percentile intervals from bootstrap ``samples`` (rounds x models), after pinning the anchor
    model to its rating in the point estimate and in every round. No rounds: the interval is the
    point itself."""
    if anchor is not None:
        name, rating = anchor
        if name not in models:
            raise HarnessError(f"anchor model {name!r} has no battles; models: {', '.join(models)}")
        k = list(models).index(name)
        ratings = ratings + (rating - ratings[k])
        samples = samples + (rating - samples[:, k])[:, None]
    if len(samples):
        alpha = (1 - confidence) / 2
        lower, upper = np.quantile(samples, [alpha, 1 - alpha], axis=0)
    else:
        lower, upper = ratings.copy(), ratings.copy()
    return RatingResult(tuple(models), ratings, lower, upper, len(samples), method)
