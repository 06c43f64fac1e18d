"""Length (verbosity) bias: does the judge reward answers for being long?

All figures come from the run's own judgments, with no extra judge calls:

- how often the longer answer wins a decisive verdict (about 50% for a length-neutral judge on
  data whose quality is not tied to length);
- the slope of a logistic regression of the verdict on the length difference, in log-odds per 100
  characters, with a Wald 95% interval;
- per model, a *length-controlled win rate* in the spirit of AlpacaEval 2.0 (Dubois et al., 2024):
  fit ``logit P(model_a wins) = theta_a - theta_b + phi * tanh(d / sigma)`` and predict with the
  length term removed, with a bootstrap interval over comparisons.

Lengths are characters of the answer text. ``d`` is taken at the pair level, ``len(model_a's answer)
- len(model_b's answer)``, so both orders of a comparison share one ``d``. A tie counts as half a
win, which gives the same likelihood as FastChat's duplication of a tie into a win and a loss of
weight 1/2 each.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from harness.core.types import Answer, BiasCheck, CheckKind, Judgment
from harness.stats.length_control import LC_WIN_RATE as LC_WIN_RATE
from harness.stats.length_control import MAX_ITER as MAX_ITER
from harness.stats.length_control import PENALTY as PENALTY
from harness.stats.length_control import Rows, fit, lc_win_rates, left_out, logistic
from harness.stats.position import proportion_check
from harness.stats.significance import normal_quantile

LONGER_WINS = CheckKind.LONGER_WINS.value
SLOPE = CheckKind.LENGTH_SLOPE.value
PER_CHARS = 100.0
SLOPE_CAP = 50.0
"""Shown for a slope the data cannot bound (the verdicts are perfectly sorted by length)."""
RESAMPLES = 200
SEED = 0
BINS: tuple[float, ...] = (-math.inf, -200, -50, 50, 200, math.inf)

AnswerKey = tuple[str, str, str]
"""(model, task, question_id)."""


def length_checks(judgments: Sequence[Judgment], answers: Sequence[Answer], resamples: int = RESAMPLES,
                  seed: int = SEED) -> list[BiasCheck]:
    """Per judge, in order of first appearance: longer-answer wins, slope, then one LC win rate per model.

    Judgments with an ``error`` verdict are left out, and so are those whose answer text is missing
    (counted in the notes).
    """
    texts = _texts(answers)
    by_judge: dict[str, list[Judgment]] = defaultdict(list)
    for j in judgments:
        by_judge[j.judge].append(j)
    out: list[BiasCheck] = []
    for judge, js in by_judge.items():
        rows = _rows(js, texts)
        out.append(_longer_wins(judge, rows))
        out.append(_slope(judge, rows))
        out.extend(lc_win_rates(judge, rows, resamples, seed))
    return out


def win_by_length_bins(judgments: Sequence[Judgment], answers: Sequence[Answer], bins: Sequence[float] = BINS,
                       judge: str | None = None) -> list[tuple[str, int, float]]:
    """(bin label, judgments, share won by model_a) per bin of the length difference, ties as half a win.

    Bins are ``[lower, upper)`` in characters of model_a's answer minus model_b's. All judges are pooled
    unless ``judge`` names one. An empty bin has share nan.

    >>> j = lambda q, w: Judgment("t", q, "x", "y", "ab", w, "", "J", "generate", "p", "h", "")
    >>> ans = [Answer("x", "t", "q1", "a" * 300), Answer("y", "t", "q1", "a"),
    ...        Answer("x", "t", "q2", "a"), Answer("y", "t", "q2", "a" * 3)]
    >>> win_by_length_bins([j("q1", "model_a"), j("q2", "tie"), j("q2", "model_b")], ans)
    ... # doctest: +NORMALIZE_WHITESPACE
    [('< -200', 0, nan), ('[-200, -50)', 0, nan), ('[-50, 50)', 2, 0.25), ('[50, 200)', 0, nan),
     ('>= 200', 1, 1.0)]
    """
    chosen = [j for j in judgments if judge is None or j.judge == judge]
    rows = _rows(chosen, _texts(answers))
    edges = np.asarray(bins, dtype=float)
    where = np.searchsorted(edges, rows.d, side="right") - 1
    out = []
    for i in range(len(edges) - 1):
        y = rows.y[where == i]
        out.append((_bin_label(float(edges[i]), float(edges[i + 1])), len(y),
                    float(y.mean()) if len(y) else math.nan))
    return out


def _texts(answers: Sequence[Answer]) -> dict[AnswerKey, Answer]:
    return {(a.model, a.task, a.question_id): a for a in answers}


def _rows(judgments: Sequence[Judgment], texts: dict[AnswerKey, Answer]) -> Rows:
    """One row per valid judgment: the lengths of the judged turn's two answers."""
    outcome = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5}
    model_a, model_b, d, y, comparison = [], [], [], [], []
    ids: dict[tuple[str, str, int, str, str], int] = {}
    missing = 0
    for j in judgments:
        if j.winner not in outcome:
            continue
        found = [texts.get((m, j.task, j.question_id)) for m in (j.model_a, j.model_b)]
        a, b = (f.at_turn(j.turn) if f else None for f in found)
        if a is None or b is None:
            missing += 1
            continue
        model_a.append(j.model_a)
        model_b.append(j.model_b)
        d.append(len(a) - len(b))
        y.append(outcome[j.winner])
        key = (j.task, j.question_id, j.turn or 0, j.model_a, j.model_b)
        comparison.append(ids.setdefault(key, len(ids)))
    return Rows(tuple(model_a), tuple(model_b), np.asarray(d, dtype=float), np.asarray(y, dtype=float),
                 np.asarray(comparison, dtype=int), missing)


def _longer_wins(judge: str, rows: Rows) -> BiasCheck:
    decisive = (rows.y != 0.5) & (rows.d != 0)
    longer = (rows.y[decisive] == 1) == (rows.d[decisive] > 0)
    return proportion_check(judge, CheckKind.LONGER_WINS, int(longer.sum()), int(decisive.sum()),
                            "share of decisive verdicts (answers of different length) won by the longer "
                            "answer; a length-neutral judge is near 50% when quality is not tied to length"
                            + left_out(rows))


def _slope(judge: str, rows: Rows) -> BiasCheck:
    n = len(rows)
    x = rows.d / PER_CHARS
    if n == 0 or np.ptp(x) == 0:
        why = "no judgments" if n == 0 else "every comparison had the same length difference"
        return BiasCheck(judge, CheckKind.LENGTH_SLOPE, math.nan, math.nan, math.nan, n,
                         f"cannot be measured: {why}" + left_out(rows))
    if np.all(rows.y == 1) or np.all(rows.y == 0):
        # With one verdict throughout, the intercept runs off to infinity and takes all the
        # likelihood with it: every slope fits equally well (the Wald interval printed before was
        # +/-440 around an arbitrary point), so there is no slope to show.
        who = "model_a" if rows.y[0] == 1 else "model_b"
        return BiasCheck(judge, CheckKind.LENGTH_SLOPE, math.nan, math.nan, math.nan, n,
                         f"not estimable: every verdict went to its pair's {who} (with two models: one "
                         f"model won every comparison), so nothing is left for length to explain"
                         + left_out(rows))
    side = _separation(x, rows.y)
    if side:
        bound = side * _profile_bound(side * x, rows.y)
        # the data bound the slope on one side only; the other end is the cap standing for infinity
        lower, upper = ((min(bound, SLOPE_CAP), SLOPE_CAP) if side > 0
                        else (-SLOPE_CAP, max(bound, -SLOPE_CAP)))
        which = "larger" if side > 0 else "smaller"
        return BiasCheck(judge, CheckKind.LENGTH_SLOPE, side * SLOPE_CAP, lower, upper, n,
                         f"length alone sorts the verdicts perfectly (every verdict for model_a came at a "
                         f"{which} length difference than every verdict against it), so the slope has no "
                         f"finite estimate: shown as "
                         f"the cap {side * SLOPE_CAP:+g}, with the other end of its 95% profile-likelihood "
                         f"interval" + left_out(rows))
    design = np.column_stack([np.ones(n), x])
    beta, hessian = fit(design, rows.y)
    half = normal_quantile(0.975) * math.sqrt(float(np.linalg.inv(hessian)[1, 1]))
    slope = float(beta[1])
    return BiasCheck(judge, CheckKind.LENGTH_SLOPE, slope, slope - half, slope + half, n,
                     f"change in the log-odds of a verdict for model_a per {PER_CHARS:g} characters its "
                     f"answer is longer than model_b's (odds x{math.exp(slope):.2f}); 0 means length does "
                     f"not sway the judge" + left_out(rows))


def _separation(x: np.ndarray, y: np.ndarray) -> int:
    """+1 when no loss of model_a has a larger x than any of its wins, -1 for the mirror case, else 0.

    Then the slope's maximum-likelihood estimate is infinite. A tie is half a win and half a loss.

    >>> _separation(np.array([-1.0, 1.0, 2.0]), np.array([0.0, 1.0, 1.0]))
    1
    >>> _separation(np.array([-1.0, 1.0, 2.0]), np.array([0.0, 1.0, 0.5]))
    0
    """
    wins, losses = x[y > 0], x[y < 1]
    if not len(wins) or not len(losses) or np.ptp(x) == 0:
        return 0
    if losses.max() <= wins.min():
        return 1
    if wins.max() <= losses.min():
        return -1
    return 0


def _profile_bound(x: np.ndarray, y: np.ndarray) -> float:
    """Lower end of the 95% profile-likelihood interval of a slope whose estimate is +infinity.

    The profile log-likelihood rises toward its supremum as the slope grows; the bound is where it
    sits chi2(1)/2 below it.
    """
    from scipy.optimize import brentq
    from scipy.stats import chi2

    gaps = np.diff(np.unique(x))
    far = 50.0 / float(gaps.min())  # each distinct x is then 50 log-odds from the next: the limit, in effect
    drop = float(chi2.ppf(0.95, 1)) / 2
    top = _profile_loglik(far, x, y)

    def excess(slope: float) -> float:
        return _profile_loglik(slope, x, y) - (top - drop)

    low = 0.0
    for _ in range(60):
        if excess(low) < 0:
            return float(brentq(excess, low, far))
        low = 2 * low - 1  # 0, -1, -3, -7, ...: walk left until the likelihood has fallen far enough
    return -math.inf


def _profile_loglik(slope: float, x: np.ndarray, y: np.ndarray) -> float:
    from scipy.optimize import brentq

    # the intercept's score is decreasing in the intercept, and these ends give it both signs
    reach = abs(slope) * float(np.abs(x).max()) + 50.0

    def score(alpha: float) -> float:
        return float(np.sum(y - logistic(alpha + slope * x)))

    eta = brentq(score, -reach, reach) + slope * x
    return float(np.sum(y * eta - np.logaddexp(0.0, eta)))


def _bin_label(lower: float, upper: float) -> str:
    if math.isinf(lower):
        return f"< {upper:g}"
    if math.isinf(upper):
        return f">= {lower:g}"
    return f"[{lower:g}, {upper:g})"
