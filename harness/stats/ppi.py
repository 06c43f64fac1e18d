"""Human-calibrated win rates: prediction-powered inference on a run's judge and its human labels.

Reference: A. N. Angelopoulos, S. Bates, C. Fannjiang, M. I. Jordan and T. Zrnic, "Prediction-powered
inference", Science 382 (6671), 669-674, 2023 (the mean estimator of its section 2).

For one pair of models, each judged comparison (one question, the two models) is scored for
``model_a``: 1 a win, 0.5 a tie (``tie (bothbad)`` too), 0 a loss. ``f`` is the judge's score (its
battle), ``y`` the people's: the annotators' majority label (:func:`harness.stats.agreement.majority`,
each label one vote), a tied vote a tie (0.5). Over the ``N`` judged comparisons and the ``n`` of
them people labelled (:func:`ppi_mean`)::

    estimate = mean_N(f) + mean_n(y - f)
    interval = estimate +/- 1.96 * sqrt(var_N(f) / N + var_n(y - f) / n)

with sample variances (``ddof=1``). The first term is the judge's own win rate; the second, the
rectifier, is the judge's bias as the labels measure it, taken away. :func:`labels_to_halve` says how
many more labels would halve the interval.

Conventions:

- A label belongs to a judged comparison when the task, the question and the two models are the
  same, whichever way round; a label written the other way round scores ``1 - y`` (its
  ``model_a`` is the pair's ``model_b``). Each pair is read with ``model_a`` the one that comes
  first in ``models`` (the leaderboard's order), models it does not list after, in the order the
  battles first name them.
- A multi-turn question counts once, by the judge's verdict on its last judged turn (what a person
  votes on: the whole conversation), as :mod:`harness.stats.agreement` reads it.
- Several battles on one comparison (an imported file that lists it twice): ``f`` is their mean.
- Labels on comparisons the judge did not decide are left out; a pair nobody labelled has no row.
- No interval with fewer than two labelled comparisons (``var(y - f)`` needs two; ``N >= n``, so
  ``N < 2`` is covered): ``lower`` and ``upper`` are None, and so is the count to halve it.

Not handled:

- Labels chosen by the judge's doubt. The interval assumes the labelled comparisons are a uniform
  random sample of the judged ones (``harness human serve --order random``); ``--order
  disagreement`` (its default) sends people where the judge is least sure, which serves the
  agreement figures but measures the rectifier where the judge errs most, so the interval is then
  not guaranteed (no inverse-probability weights, as active inference would use).
- The covariance of the two means: the labelled comparisons count in both (as specified), which
  adds ``2 cov(f, y - f) / N`` to the true variance; the formula leaves it out (it is of order
  ``1 / N``, negligible when ``n`` is much smaller than ``N``).
- Clipping to [0, 1], a finite-population correction, and PPI++'s power tuning (a weight on ``f``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.core.numbers import json_number
from harness.core.types import Battle, HumanLabel
from harness.stats.agreement import majority
from harness.stats.battles import last_turns

Z = 1.96
"""The normal quantile of a two-sided 95% interval."""

SCORE = {"model_a": 1.0, "tie": 0.5, "tie (bothbad)": 0.5, "model_b": 0.0}
"""A verdict as ``model_a``'s score."""


@dataclass(frozen=True)
class PPIEstimate:
    """The prediction-powered mean of one set of scores and its parts."""

    estimate: float
    """``mean_N(f) + mean_n(y - f)``."""
    judge_mean: float
    """``mean_N(f)``: the judge's own win rate."""
    n_judged: int
    """``N``: judged comparisons (the labelled ones included)."""
    n_labelled: int
    """``n``: labelled ones."""
    judge_variance: float | None
    """``var_N(f)`` (ddof=1); None with ``N < 2``."""
    residual_variance: float | None
    """``var_n(y - f)`` (ddof=1); None with ``n < 2``."""

    @property
    def half_width(self) -> float | None:
        """``1.96 sqrt(var(f)/N + var(y-f)/n)``; None without both variances."""
        if self.judge_variance is None or self.residual_variance is None:
            return None
        return Z * math.sqrt(self.judge_variance / self.n_judged + self.residual_variance / self.n_labelled)

    @property
    def lower(self) -> float | None:
        return None if (h := self.half_width) is None else self.estimate - h

    @property
    def upper(self) -> float | None:
        return None if (h := self.half_width) is None else self.estimate + h


def _mean(xs: Sequence[float]) -> float:
    return math.fsum(xs) / len(xs)


def _variance(xs: Sequence[float]) -> float | None:
    """The sample variance (ddof=1); None for fewer than two values."""
    if len(xs) < 2:
        return None
    m = _mean(xs)
    return math.fsum((x - m) ** 2 for x in xs) / (len(xs) - 1)


def ppi_mean(*, judged: Sequence[float], labelled_judge: Sequence[float],
             labelled_human: Sequence[float]) -> PPIEstimate:
    """The prediction-powered mean (see the module).

    Args:
        judged: ``f`` on every judged comparison, the labelled ones included (``N`` values).
        labelled_judge: ``f`` on the labelled comparisons (``n`` values).
        labelled_human: ``y`` on the same comparisons, in the same order.

    >>> e = ppi_mean(judged=[1, 1, 0, 1], labelled_judge=[1, 0], labelled_human=[0.5, 0])
    >>> e.estimate, e.judge_mean, round(e.half_width or 0, 3)
    (0.5, 0.75, 0.693)
    """
    if not judged or not labelled_judge:
        raise ValueError("ppi_mean needs at least one judged and one labelled comparison")
    if len(labelled_judge) != len(labelled_human):
        raise ValueError(f"{len(labelled_judge)} judge scores but {len(labelled_human)} human scores")
    if len(labelled_judge) > len(judged):
        raise ValueError("more labelled comparisons than judged ones (the labelled ones are among them)")
    residual = [y - f for f, y in zip(labelled_judge, labelled_human)]
    judge_mean = _mean(judged)
    return PPIEstimate(judge_mean + _mean(residual), judge_mean, len(judged), len(residual),
                       _variance(judged), _variance(residual))


def labels_to_halve(e: PPIEstimate) -> int | None:
    """How many more labels (on judged comparisons not yet labelled) would halve the interval, at
    the variances measured now; None when labels alone cannot, or there is no interval.

    The half-width is ``1.96 sqrt(A + B/n)`` with ``A = var(f)/N`` (fixed by the judged comparisons)
    and ``B = var(y - f)``; half of it needs ``A + B/n' = (A + B/n) / 4``, so ``n' = 4B / (B/n - 3A)``
    when ``B/n > 3A``. Otherwise the judge's term alone is at least half the current half-width, and
    no number of labels halves it (judging more questions does).

    >>> labels_to_halve(ppi_mean(judged=[1, 0] * 50, labelled_judge=[1, 0, 1, 0],
    ...                          labelled_human=[0, 0, 1, 1]))
    13
    >>> labels_to_halve(ppi_mean(judged=[1, 0, 1, 0], labelled_judge=[1, 0], labelled_human=[1, 0]))
    """
    if e.judge_variance is None or e.residual_variance is None:
        return None
    a, b, n = e.judge_variance / e.n_judged, e.residual_variance, e.n_labelled
    room = b / n - 3 * a
    if room <= 0 or b <= 0:
        return None
    needed = 4 * b / room
    # Rounding error must not ask for one label more than the exact solution (4n when A = 0).
    return max(0, math.ceil(needed - 1e-9) - n)


@dataclass(frozen=True)
class CalibratedRate:
    """One pair's judge win rate and its human-calibrated win rate (``model_a``'s, ties half)."""

    model_a: str
    model_b: str
    estimate: PPIEstimate
    more_labels_to_halve: int | None
    """More labelled comparisons that would halve the interval (:func:`labels_to_halve`); None
    when labels alone cannot, or there is no interval yet."""

    @property
    def n_judged(self) -> int:
        return self.estimate.n_judged

    @property
    def n_labelled(self) -> int:
        return self.estimate.n_labelled

    @property
    def judge_win_rate(self) -> float:
        return self.estimate.judge_mean

    @property
    def win_rate(self) -> float:
        return self.estimate.estimate

    @property
    def lower(self) -> float | None:
        return self.estimate.lower

    @property
    def upper(self) -> float | None:
        return self.estimate.upper

    def to_json(self) -> dict[str, Any]:
        """The row of ``harness agreement --format json``'s ``calibrated`` (full precision; null
        bounds without an interval)."""
        return {"model_a": self.model_a, "model_b": self.model_b, "n_judged": self.n_judged,
                "n_labelled": self.n_labelled, "judge_win_rate": self.judge_win_rate,
                "win_rate": self.win_rate, "lower": json_number(self.lower), "upper": json_number(self.upper),
                "more_labels_to_halve": self.more_labels_to_halve}


Comparison = tuple[str, str, frozenset[str]]
_FLIP = {"model_a": "model_b", "model_b": "model_a"}


def _score(winner: str, model_a: str, first: str) -> float:
    """``winner`` (a verdict on ``model_a`` vs the other) as the score of ``first``."""
    s = SCORE[winner]
    return s if model_a == first else 1.0 - s


def calibrated_win_rates(*, battles: Sequence[Battle], labels: Sequence[HumanLabel],
                         models: Sequence[str] = ()) -> list[CalibratedRate]:
    """Each pair with labels on some of its judged comparisons, in ``models``' order (see the
    module's conventions).

    Args:
        battles: the judge's battles (the run's ``battles.jsonl``).
        labels: the human labels (every annotator's; their majority is ``y``).
        models: the order that decides each pair's ``model_a`` (the leaderboard's).
    """
    kept = last_turns(battles)
    named = dict.fromkeys([*models, *(m for b in kept for m in (b.model_a, b.model_b))])
    rank = {m: i for i, m in enumerate(named)}
    judge: dict[Comparison, list[float]] = {}
    firsts: dict[frozenset[str], str] = {}
    for b in kept:
        pair = frozenset((b.model_a, b.model_b))
        first = firsts.setdefault(pair, min(pair, key=rank.__getitem__))
        judge.setdefault((b.task, b.question_id, pair), []).append(_score(b.winner, b.model_a, first))
    votes: dict[Comparison, list[str]] = {}
    for h in labels:
        key = (h.task, h.question_id, frozenset((h.model_a, h.model_b)))
        if key in judge:  # a label on a comparison the judge did not decide is left out
            # Oriented as the pair's model_a: a label the other way round is flipped.
            winner = h.winner if h.model_a == firsts[key[2]] else _FLIP.get(h.winner, h.winner)
            votes.setdefault(key, []).append(winner)
    out = []
    for pair, first in sorted(firsts.items(), key=lambda kv: sorted(rank[m] for m in kv[0])):
        second = next(iter(pair - {first}))
        mine = {k: _mean(v) for k, v in judge.items() if k[2] == pair}
        labelled = [k for k in mine if k in votes]
        if not labelled:
            continue
        e = ppi_mean(judged=list(mine.values()), labelled_judge=[mine[k] for k in labelled],
                     labelled_human=[SCORE[majority(votes[k])] for k in labelled])
        out.append(CalibratedRate(first, second, e, labels_to_halve(e)))
    return out
