"""The length-controlled win rate of :mod:`harness.stats.length`, in the spirit of AlpacaEval 2.0
(Dubois et al., 2024): per model, fit ``logit P(model_a wins) = theta_a - theta_b + phi * tanh(d / sigma)``,
predict with the length term removed, and bootstrap the comparisons for an interval.

Also the pieces the slope in :mod:`harness.stats.length` shares with it: the judgments as arrays (``Rows``),
the lightly penalised logistic fit (``_fit``) and the note on judgments left out (``_left_out``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.core.types import BiasCheck, CheckKind

LC_WIN_RATE = CheckKind.LC_WIN_RATE.value + " ({model})"
PENALTY = 1e-6  # a whisper of L2, as in FastChat's C=1e6: keeps every fit finite without moving it
MAX_ITER = 100


def logistic(x: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + e^-x), without overflow for large |x|.

    >>> [round(float(v), 6) for v in logistic(np.array([-800.0, 0.0, 2.0]))]
    [0.0, 0.5, 0.880797]
    """
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass(frozen=True)
class Rows:
    """Usable judgments as arrays, one entry per judgment (both orders of a comparison are two rows)."""

    model_a: tuple[str, ...]
    model_b: tuple[str, ...]
    d: np.ndarray
    """Characters of model_a's answer minus model_b's."""
    y: np.ndarray
    """1 when model_a won, 0 when model_b won, 0.5 for a tie."""
    comparison: np.ndarray
    """Index of the row's comparison (task, question, pair), so a bootstrap keeps both orders together."""
    missing: int = 0
    """Valid judgments left out because an answer's text was not found."""

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index: np.ndarray) -> Rows:
        return Rows(tuple(self.model_a[i] for i in index), tuple(self.model_b[i] for i in index),
                     self.d[index], self.y[index], self.comparison[index], self.missing)


def left_out(rows: Rows) -> str:
    return f" ({rows.missing} judgments left out: an answer's text was not found)" if rows.missing else ""


def lc_win_rates(judge: str, rows: Rows, resamples: int, seed: int) -> list[BiasCheck]:
    if len(rows) == 0:
        return []
    models = tuple(sorted(set(rows.model_a) | set(rows.model_b)))
    lc, phi, sigma = _length_controlled(rows, models)
    # resample whole comparisons so the two orders of one comparison stay together
    members = [np.flatnonzero(rows.comparison == c) for c in range(int(rows.comparison.max()) + 1)]
    rng = np.random.default_rng(seed)
    draws = np.full((resamples, len(models)), math.nan)
    for r in range(resamples):
        pick = rng.integers(0, len(members), len(members))
        draws[r] = _length_controlled(rows.take(np.concatenate([members[c] for c in pick])), models)[0]
    # One verdict throughout leaves phi without information (the thetas absorb everything), so
    # its fitted value, whatever the penalty left, is not shown.
    weight = ("length weight not estimable: every verdict went to the same side of its pair"
              if np.all(rows.y == 1) or np.all(rows.y == 0)
              else f"length weight phi = {phi:.2f} on tanh(length difference / {sigma:.0f} chars)")
    out = []
    for k, model in enumerate(models):
        mine = np.array([model in pair for pair in zip(rows.model_a, rows.model_b, strict=True)])
        won = np.where(np.array(rows.model_a)[mine] == model, rows.y[mine], 1 - rows.y[mine])
        raw = float(won.mean())
        column = draws[:, k][~np.isnan(draws[:, k])]
        lower, upper = (np.percentile(column, [2.5, 97.5]) if len(column) else (math.nan, math.nan))
        out.append(BiasCheck(
            judge, CheckKind.LC_WIN_RATE, float(lc[k]), float(lower), float(upper), int(mine.sum()),
            f"win rate against its opponents with the judge's taste for length taken out: raw win rate "
            f"{raw:.0%}; with length removed {lc[k]:.0%} (a tie counts half; {weight}; interval from "
            f"{resamples} bootstrap resamples of the comparisons)" + left_out(rows), model))
    return out


def _length_controlled(rows: Rows, models: tuple[str, ...]) -> tuple[np.ndarray, float, float]:
    """LC win rate per model (nan where absent), the length weight phi and the scale sigma.

    One theta per model, the first fixed at 0 (only differences are identified), and one shared phi.
    """
    index = {m: i for i, m in enumerate(models)}
    a = np.array([index[m] for m in rows.model_a], dtype=int)
    b = np.array([index[m] for m in rows.model_b], dtype=int)
    n = len(rows)
    sigma = float(np.std(rows.d)) or 1.0
    design = np.zeros((n, len(models)))
    np.add.at(design, (np.arange(n), a), 1.0)
    np.add.at(design, (np.arange(n), b), -1.0)
    design[:, 0] = np.tanh(rows.d / sigma)  # the first model's theta column becomes phi's
    beta, _ = fit(design, rows.y)
    theta = np.concatenate([[0.0], beta[1:]])
    lc = np.full(len(models), math.nan)
    for k in range(len(models)):
        mine = (a == k) | (b == k)
        if mine.any():
            opponent = np.where(a[mine] == k, b[mine], a[mine])
            lc[k] = float(logistic(theta[k] - theta[opponent]).mean())
    return lc, float(beta[0]), sigma


def fit(design: np.ndarray, y: np.ndarray, penalty: float | np.ndarray = PENALTY
        ) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and observed information of a lightly penalised logistic regression (Newton's method).

    ``y`` may be fractional (a tie is 0.5). A backtracking line search keeps Newton's method safe when
    a coefficient runs off toward infinity, where the penalty stops it. ``penalty`` is the L2 weight,
    one for all coefficients or one each (a Gaussian prior of variance ``1 / penalty``).

    >>> beta, _ = fit(np.ones((4, 1)), np.array([1.0, 1.0, 1.0, 0.0]))
    >>> round(float(logistic(beta[0])), 6)
    0.75
    """
    k = design.shape[1]
    ridge = np.broadcast_to(np.asarray(penalty, dtype=float), (k,))

    def loss(b: np.ndarray) -> float:
        eta = design @ b
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta) + 0.5 * float(np.sum(ridge * b * b)))

    def information(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = logistic(design @ b)
        grad = design.T @ (p - y) + ridge * b
        return grad, (design.T * (p * (1 - p))) @ design + np.diag(ridge)

    beta = np.zeros(k)
    current = loss(beta)
    for _ in range(MAX_ITER):
        grad, hessian = information(beta)
        step = np.linalg.solve(hessian, grad)
        decrement = float(grad @ step)
        if decrement < 1e-12:
            break
        t, trial = 1.0, loss(beta - step)
        while trial > current - 1e-4 * t * decrement:
            t /= 2
            if t < 1e-10:  # no step lowers the loss any more: as close to the optimum as floats allow
                return beta, hessian
            trial = loss(beta - t * step)
        beta, current = beta - t * step, trial
    return beta, information(beta)[1]
