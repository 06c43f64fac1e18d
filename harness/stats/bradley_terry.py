"""Bradley-Terry ratings by maximum likelihood, with bootstrap confidence intervals.

The likelihood depends on the battles only through the pairwise counts, so a fit costs
O(pairs), not O(battles), and a bootstrap round resamples the counts (a multinomial draw over the
distinct (pair, outcome) cells) instead of a million battle rows.

The model is FastChat's and Arena-Hard's logistic regression on the duplicated-battle design:
each battle appears twice, a tie counting once as a win and once as a loss (half a win each),
ratings on the Elo scale ``scale * beta / ln(base) + initial``. By default the fit is theirs, the
maximum-likelihood estimate (with FastChat's vanishing penalty, ``C = 1e6``), wherever it exists,
so a published leaderboard rebuilt from its battles reproduces exactly.

It does not exist when one model (or group of models) won every battle against another: the
likelihood then keeps growing as the gap does, and FastChat's fit stops at a number set by when
Newton's method stopped, not by the data (+3761 against -1761 for two models). There, and only
there (:func:`separation`), a weak Gaussian prior on each model's log-strength (:data:`PRIOR_SD`)
keeps the gaps finite; they grow slowly with the number of battles (two models: 460 points after
5 straight wins, 650 after 20, 880 after 100), and the result's ``separation`` says which gaps the
data do not bound, for the report to say so. ``prior_sd`` chooses either way for every fit.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.core.errors import HarnessError
from harness.core.types import Battle

C_PENALTY = 1e6  # FastChat's LogisticRegression(C=1e6): all but unregularised
PRIOR_SD = 2.0
"""Standard deviation of the Gaussian prior on each model's log-strength, in natural log-odds
units (2 * 400 / ln 10 = 347 Elo points), centred on the average model. Its curvature, 1/4, is
that of one tie against a model of average strength: the prior weighs as much as one battle a
model. Used by default only where the battles leave a gap unbounded (:func:`separation`);
``math.inf`` means no prior (FastChat's fit exactly)."""


def parse_prior_sd(value: Any, *, where: str) -> float | None:
    """Bradley-Terry's prior as given: ``auto`` (None: only where the maximum likelihood does not
    exist), ``inf`` (never), or a positive number (always, with that standard deviation).

    >>> parse_prior_sd("auto", where="x"), parse_prior_sd("inf", where="x"), parse_prior_sd(2, where="x")
    (None, inf, 2.0)
    """
    if isinstance(value, str) and value.strip().lower() in ("auto", "inf", "infinity"):
        return None if value.strip().lower() == "auto" else math.inf
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    ok = (isinstance(number, (int, float)) and not isinstance(number, bool)
          and (math.isinf(number) or math.isfinite(number)) and number > 0)
    if not ok:
        raise HarnessError(f"{where}: expected auto, inf or a positive number (a standard deviation in "
                           f"log-odds units; 2 is harness's weak prior), got {value!r}")
    return float(number)


def resolve_prior(prior_sd: float | None, found: Separation) -> float:
    """The prior a fit uses: ``prior_sd`` when given; by default (None) none where the
    maximum-likelihood estimate exists, :data:`PRIOR_SD` where it does not.

    >>> resolve_prior(None, Separation()), resolve_prior(None, Separation(apart=(("x",), ("y",))))
    (inf, 2.0)
    >>> resolve_prior(1.0, Separation())
    1.0
    """
    if prior_sd is not None:
        if not (prior_sd > 0):
            raise HarnessError(f"prior standard deviation {prior_sd!r}: expected a positive number or inf")
        return float(prior_sd)
    return PRIOR_SD if found else math.inf
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


def pair_counts(battles: Sequence[Battle], models: Sequence[str] | None = None, *,
                soft: bool = False) -> PairCounts:
    """Count wins and ties per unordered pair (``a`` is the lower model index). With ``soft``, a
    battle with an expected outcome (``Battle.soft``) adds its probabilities instead of one count,
    so the counts are expected wins and ties; one without adds its hard outcome.

    >>> c = pair_counts([Battle("x", "y", "model_a", "t", "1"), Battle("y", "x", "tie", "t", "2")])
    >>> c.models, c.a_wins.tolist(), c.b_wins.tolist(), c.ties.tolist(), c.wins.tolist()
    (('x', 'y'), [1], [0], [1], [3.0, 1.0])
    >>> c = pair_counts([Battle("y", "x", "model_b", "t", "1", soft=(0.25, 0.25, 0.5))], soft=True)
    >>> c.a_wins.tolist(), c.b_wins.tolist(), c.ties.tolist()
    ([0.5], [0.25], [0.25])
    """
    names = tuple(models) if models else tuple(sorted({m for b in battles for m in (b.model_a, b.model_b)}))
    index = {m: i for i, m in enumerate(names)}
    n = len(names)
    # [wins of row, wins of column, ties], row < column
    grid = np.zeros((3, n, n), dtype=float if soft else np.int64)
    for b in battles:
        try:
            i, j = index[b.model_a], index[b.model_b]
        except KeyError as exc:
            raise HarnessError(f"battle names model {exc.args[0]!r}, not in {', '.join(names)}") from None
        if soft and b.soft is not None:
            p_a, p_tie, p_b = b.soft
            grid[:, min(i, j), max(i, j)] += (p_a, p_b, p_tie) if i < j else (p_b, p_a, p_tie)
            continue
        if b.winner in TIE_WINNERS:
            kind = 2
        elif b.winner in ("model_a", "model_b"):
            kind = 0 if (b.winner == "model_a") == (i < j) else 1
        else:
            raise HarnessError(f"battle winner {b.winner!r}: expected model_a, model_b, tie or tie (bothbad)")
        grid[kind, min(i, j), max(i, j)] += 1
    lo, hi = np.nonzero(grid.sum(axis=0))
    return PairCounts(names, lo, hi, grid[0, lo, hi], grid[1, lo, hi], grid[2, lo, hi])


def fit_bt(counts: PairCounts, weights: np.ndarray | None = None, start: np.ndarray | None = None, *,
           prior_sd: float = PRIOR_SD, tol: float = 1e-10, max_iter: int = 100) -> np.ndarray:
    """Penalised maximum-likelihood strengths (natural log-odds units) by Newton's method.

    ``weights`` replaces ``counts.wins`` (a bootstrap round); ``start`` warm-starts the search;
    ``prior_sd`` is the prior's standard deviation (:data:`PRIOR_SD`). Example: x beat y in 3 of
    4 battles -> without the prior exp(bx - by) = 3 and bx - by = ln 3 = 1.0986; the prior, one
    battle's weight a model against four battles, pulls that in a little.

    >>> c = pair_counts([Battle("x", "y", w, "t", str(i)) for i, w in
    ...                  enumerate(["model_a", "model_a", "model_a", "model_b"])])
    >>> round(float(np.diff(fit_bt(c, prior_sd=math.inf)[::-1])[0]), 3)
    1.099
    >>> round(float(np.diff(fit_bt(c)[::-1])[0]), 3)
    0.947
    """
    w = counts.wins if weights is None else weights
    beta = np.zeros(len(counts.models)) if start is None else start
    return fit_bt_rounds(counts, np.asarray(w, dtype=float)[None, :], beta, prior_sd=prior_sd, tol=tol,
                         max_iter=max_iter)[0]


def fit_bt_rounds(counts: PairCounts, weights: np.ndarray, start: np.ndarray, *, prior_sd: float = PRIOR_SD,
                  tol: float = 1e-10, max_iter: int = 100) -> np.ndarray:
    """:func:`fit_bt` on every row of ``weights`` (rounds x cells: a bootstrap's rounds) at once,
    each from ``start``: rounds x models. Each round stops when its own Newton step is below ``tol``
    (it is then left as it is while the others go on), so a round's numbers do not depend on the
    others; one whole-array step for all rounds instead of a Python loop of small ones per round
    (:func:`fit_bt` is the one-round case)."""
    rounds, n = len(weights), len(counts.models)
    i, j = counts.first, counts.second
    beta = np.repeat(start.astype(float)[None, :], rounds, axis=0)
    # FastChat's penalty acts on coefficients c = beta / ln(10) of a design scaled by ln(10). The
    # duplicated design doubles the log-likelihood, so the prior's 1 / sd^2 is doubled to match.
    ridge = 1.0 / (C_PENALTY * math.log(10) ** 2) + 2.0 / prior_sd**2
    eye = ridge * np.eye(n)
    active = np.arange(rounds)
    for _ in range(max_iter):
        if not len(active):
            break
        b, w = beta[active], weights[active]
        k = len(active)
        p = 1.0 / (1.0 + np.exp(b[:, j] - b[:, i]))  # P(i beats j)
        resid = w * (1.0 - p)  # d loglik / d(beta_i - beta_j), cell by cell
        # per round: bincount(i, resid) - bincount(j, resid), each row's cells summed in order
        offset = (np.arange(k) * n)[:, None]
        grad = (np.bincount((offset + i).ravel(), resid.ravel(), k * n).reshape(k, n)
                - np.bincount((offset + j).ravel(), resid.ravel(), k * n).reshape(k, n) - ridge * b)
        h = w * p * (1.0 - p)
        hess = np.zeros((k, n, n))
        rows = np.repeat(np.arange(k), len(i))
        np.add.at(hess, (rows, np.tile(i, k), np.tile(j, k)), h.ravel())
        np.add.at(hess, (rows, np.tile(j, k), np.tile(i, k)), h.ravel())
        diagonal = hess.sum(axis=2)
        hess = -hess + eye
        hess[:, np.arange(n), np.arange(n)] += diagonal
        step = np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
        beta[active] = b + step
        active = active[np.max(np.abs(step), axis=1) >= tol]
    return beta


@dataclass(frozen=True)
class Separation:
    """Where the battles give Bradley-Terry no finite maximum-likelihood estimate.

    The estimate of a gap exists only if each side of every split of the models won (or tied)
    at least one battle against the other side (Zermelo, 1929; Ford, 1957). Where that fails,
    the gap shown is the prior's doing (:data:`PRIOR_SD`): it grows with the number of battles
    and says who is ahead, not by how much.
    """

    swept: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    """(winners, losers): groups of models where the first won every battle against the second."""
    apart: tuple[tuple[str, ...], ...] = ()
    """Groups of models no battle links to each other (only when there are two or more)."""

    def __bool__(self) -> bool:
        return bool(self.swept or self.apart)

    def note(self, prior_sd: float = PRIOR_SD) -> str:
        """The finding in plain words; empty when every gap is estimable. ``prior_sd`` is the prior
        the fit used (``inf``: none, so the gaps are where the fit stopped).

        >>> Separation(((("x",), ("y", "z")),)).note()  # doctest: +ELLIPSIS
        'Bradley-Terry ratings not estimable from the battles alone: x won every battle against y and z. ...'
        """
        if not self:
            return ""
        said = [f"{_names(a)} won every battle against {_names(b)}" for a, b in self.swept[:MAX_LISTED]]
        if len(self.swept) > MAX_LISTED:
            said.append(f"{len(self.swept) - MAX_LISTED} more such sweeps")
        if self.apart:
            said.append("no battle links " + " with ".join(f"{{{', '.join(g)}}}" for g in self.apart))
        found = "Bradley-Terry ratings not estimable from the battles alone: " + "; ".join(said)
        if math.isinf(prior_sd):
            return (found + ". The data put no limit on those gaps, and no prior was used (--prior-sd "
                    "inf): the BT figures shown there are where the fit stopped (FastChat's C = 1e6), not "
                    "estimates; read them as an order, not as a size")
        return (found + ". The data put no limit on those gaps; the BT figures and intervals shown are held "
                f"finite by a weak prior (each log-strength Normal(0, {prior_sd:g}^2)"
                + (", the weight of one tie with an average model" if prior_sd == PRIOR_SD else "")
                + ") and grow with the number of battles: read them as an order, not as a size")


MAX_LISTED = 3
"""Sweeps a :class:`Separation` note names before it only counts the rest."""


def separation(counts: PairCounts) -> Separation:
    """The groups of models whose rating gaps the battles do not bound (models without battles,
    which simply keep the initial rating, are left out).

    >>> sweep = [Battle("x", "y", "model_a", "t", "1"), Battle("z", "x", "model_b", "t", "2"),
    ...          Battle("y", "z", "tie", "t", "3")]
    >>> separation(pair_counts(sweep))
    Separation(swept=((('x',), ('y', 'z')),), apart=())
    >>> bool(separation(pair_counts(sweep + [Battle("y", "x", "tie", "t", "4")])))
    False
    """
    n = len(counts.models)
    met = np.zeros((n, n), dtype=bool)
    met[counts.a, counts.b] = met[counts.b, counts.a] = True
    # i -> j when i won or tied a battle against j; a gap is bounded where j also reaches i.
    beat = np.zeros((n, n), dtype=bool)
    won = counts.wins > 0
    beat[counts.first[won], counts.second[won]] = True
    playing = [k for k in range(n) if met[k].any()]
    reach, linked = _closure(beat), _closure(met)
    groups = _classes(playing, reach & reach.T)
    swept = tuple((tuple(counts.models[k] for k in g), tuple(counts.models[k] for k in h))
                  for g in groups for h in groups
                  if g is not h and met[np.ix_(g, h)].any() and not beat[np.ix_(h, g)].any())
    parts = _classes(playing, linked)
    apart = tuple(tuple(counts.models[k] for k in g) for g in parts) if len(parts) > 1 else ()
    return Separation(swept, apart)


def unbounded_note(counts: PairCounts, prior_sd: float | None = None) -> str:
    """:meth:`Separation.note` for these counts under the prior setting ``prior_sd`` (None: the
    default, :func:`resolve_prior`); "" where every gap is estimable."""
    found = separation(counts)
    return found.note(resolve_prior(prior_sd, found)) if found else ""


def _closure(edges: np.ndarray) -> np.ndarray:
    """Reflexive-transitive closure of a boolean adjacency matrix (models are few: squaring is fine)."""
    reach = edges | np.eye(len(edges), dtype=bool)
    while True:
        wider = (reach.astype(np.int64) @ reach.astype(np.int64)) > 0
        if np.array_equal(wider, reach):
            return reach
        reach = wider


def _classes(members: list[int], same: np.ndarray) -> list[list[int]]:
    """``members`` grouped by the equivalence ``same``, in order of first member."""
    out: list[list[int]] = []
    for k in members:
        for g in out:
            if same[g[0], k]:
                g.append(k)
                break
        else:
            out.append([k])
    return out


def _names(models: Sequence[str]) -> str:
    return models[0] if len(models) == 1 else ", ".join(models[:-1]) + " and " + models[-1]


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
    separation: Separation = Separation()
    """Where the battles leave the Bradley-Terry gaps unbounded (Bradley-Terry only)."""
    prior_sd: float = math.inf
    """The prior the Bradley-Terry fit used (:func:`resolve_prior`); ``inf``: none, the
    maximum-likelihood fit."""

    def note(self) -> str:
        """The separation note for this fit ("" where every gap is estimable)."""
        return self.separation.note(self.prior_sd)

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
                  initial: float = 1000, *, prior_sd: float | None = None,
                  soft: bool = False) -> RatingResult:
    """Fit BT on ``battles`` and bootstrap ``bootstrap`` rounds (resampling battles); the result's
    ``separation`` names the gaps the battles leave unbounded. ``prior_sd`` None: the
    maximum-likelihood fit where it exists, the prior where it does not (:func:`resolve_prior`,
    decided on all the battles and kept for every bootstrap round). With ``soft``, on expected wins
    (:func:`pair_counts`): each battle with probabilities counts as that fraction of a win, a tie
    and a loss (a tie, as always, half a win and half a loss)."""
    counts = pair_counts(battles, models, soft=soft)
    if not battles:
        raise HarnessError("no battles to rate")
    found = separation(counts)
    prior_sd = resolve_prior(prior_sd, found)
    beta = fit_bt(counts, prior_sd=prior_sd)
    rng = np.random.default_rng(seed)
    if soft:
        draws = _soft_resamples(battles, counts, rng, bootstrap)
    else:
        # Resampling battles with replacement = one multinomial draw over (pair, outcome) cells.
        cells = np.concatenate([counts.a_wins, counts.b_wins, counts.ties])
        n_pairs = len(counts.a)
        draws = (counts.weights(d[:n_pairs], d[n_pairs : 2 * n_pairs], d[2 * n_pairs :])
                 for d in (rng.multinomial(len(battles), cells / cells.sum()) for _ in range(bootstrap)))
    samples = (fit_bt_rounds(counts, np.array(list(draws)), beta, prior_sd=prior_sd) if bootstrap > 0
               else np.empty((0, len(counts.models))))
    result = with_intervals(counts.models, to_elo(beta, scale, base, initial),
                            to_elo(samples, scale, base, initial), "bt", anchor, confidence)
    return dataclasses.replace(result, separation=found, prior_sd=prior_sd)


def _soft_resamples(battles: Sequence[Battle], counts: PairCounts, rng: np.random.Generator,
                    rounds: int) -> Iterator[np.ndarray]:
    """Each round's weights on expected wins, from the battle rows resampled with replacement
    (one battle's probabilities are not a count the cells' multinomial could draw)."""
    one = [pair_counts([b], counts.models, soft=True) for b in battles]
    pair = {(int(a), int(b)): k for k, (a, b) in enumerate(zip(counts.a, counts.b))}
    where = np.array([pair[(int(c.a[0]), int(c.b[0]))] for c in one])
    outcome = np.array([(c.a_wins[0], c.b_wins[0], c.ties[0]) for c in one])
    n_pairs = len(counts.a)
    for _ in range(rounds):
        times = rng.multinomial(len(battles), np.full(len(battles), 1 / len(battles)))
        a_w, b_w, ties = (np.bincount(where, times * outcome[:, k], n_pairs) for k in range(3))
        yield counts.weights(a_w, b_w, ties)


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
