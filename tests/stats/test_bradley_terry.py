"""Bradley-Terry against an independent reference: FastChat's logistic regression design."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from harness.core.errors import HarnessError
from harness.core.types import Battle
from harness.stats.bradley_terry import PRIOR_SD, RatingResult, bradley_terry

TRUE = {"alpha": 1.2, "beta": 0.6, "gamma": 0.0, "delta": -0.3, "eps": -1.0}


def _battles(n: int, seed: int = 0, tie_rate: float = 0.2) -> list[Battle]:
    rng = np.random.default_rng(seed)
    names = list(TRUE)
    out = []
    for k in range(n):
        a, b = rng.choice(len(names), 2, replace=False)
        p = 1 / (1 + math.exp(TRUE[names[b]] - TRUE[names[a]]))
        u = rng.random()
        winner = "tie" if u < tie_rate else ("model_a" if rng.random() < p else "model_b")
        out.append(Battle(names[a], names[b], winner, "t", str(k)))  # type: ignore[arg-type]
    return out


def reference_ratings(battles: list[Battle], models: list[str], c: float = 1e6) -> np.ndarray:
    """Logistic regression on the duplicated-battle design, written out row by row as FastChat's
    compute_mle_elo builds it (each battle twice; a tie is Y=1 in one copy, Y=0 in the other;
    features +ln 10 / -ln 10; L2 penalty 1/(2C), C=1e6; ``c=inf``: no penalty at all, the
    coefficients then fixed only up to a common shift); Elo = 400 * coef + 1000."""
    index = {m: i for i, m in enumerate(models)}
    rows = battles + battles
    X = np.zeros((len(rows), len(models)))
    y = np.zeros(len(rows))
    for r, b in enumerate(rows):
        X[r, index[b.model_a]] = math.log(10)
        X[r, index[b.model_b]] = -math.log(10)
        y[r] = 1.0 if b.winner == "model_a" or (b.winner == "tie" and r < len(battles)) else 0.0

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = X @ w
        nll = np.sum(np.logaddexp(0, z) - y * z) + 0.5 * w @ w / c
        grad = X.T @ (1 / (1 + np.exp(-z)) - y) + w / c
        return float(nll), grad

    res = minimize(loss, np.zeros(len(models)), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 10000})
    return 400 * res.x + 1000


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bt_matches_the_logistic_regression_reference(seed: int) -> None:
    battles = _battles(3000, seed)
    models = list(TRUE)
    ours = bradley_terry(battles, models, bootstrap=0)
    # By default the fit is the maximum-likelihood one wherever it exists (it does here): FastChat's
    # and Arena-Hard's to 1e-4 Elo, and the unpenalised fit's to 1e-4 Elo once both are centred.
    assert not ours.separation and math.isinf(ours.prior_sd)
    ref = reference_ratings(battles, models)
    assert np.max(np.abs(ours.ratings - ref)) < 1e-4
    free = reference_ratings(battles, models, c=math.inf)
    assert np.max(np.abs((ours.ratings - ours.ratings.mean()) - (free - free.mean()))) < 1e-4
    # and it recovers the truth it was generated from (up to sampling noise)
    truth = 400 * np.array(list(TRUE.values())) / math.log(10)
    assert np.corrcoef(ours.ratings, truth)[0, 1] > 0.99


def test_bootstrap_intervals_ranks_and_win_matrix() -> None:
    battles = _battles(2000, seed=3)
    result = bradley_terry(battles, list(TRUE), bootstrap=200, seed=7)
    assert np.all(result.lower <= result.ratings) and np.all(result.ratings <= result.upper)
    again = bradley_terry(battles, list(TRUE), bootstrap=200, seed=7)
    assert np.array_equal(result.lower, again.lower)  # seeded
    wm = result.win_matrix()
    assert np.allclose(wm + wm.T, 1) and np.allclose(np.diag(wm), 0.5)
    assert wm[0, 4] > 0.8  # alpha vs eps


def test_rank_counts_models_clearly_above() -> None:
    r = RatingResult(("a", "b", "c"), np.array([1100.0, 1090.0, 900.0]), np.array([1050.0, 1040.0, 850.0]),
                 np.array([1150.0, 1140.0, 950.0]), 10)
    assert r.rank() == [1, 1, 3]


def test_anchor_pins_a_model() -> None:
    battles = _battles(500, seed=4)
    result = bradley_terry(battles, list(TRUE), bootstrap=20, anchor=("gamma", 1200.0))
    free = bradley_terry(battles, list(TRUE), bootstrap=0)
    assert result.ratings[2] == pytest.approx(1200.0)
    assert np.allclose(np.diff(result.ratings), np.diff(free.ratings))
    assert result.lower[2] == pytest.approx(1200.0) and result.upper[2] == pytest.approx(1200.0)
    with pytest.raises(HarnessError, match="anchor model 'zeta'"):
        bradley_terry(battles, list(TRUE), bootstrap=0, anchor=("zeta", 1000.0))


def test_bothbad_ties_count_as_ties() -> None:
    a = [Battle("x", "y", "tie", "t", "1"), Battle("x", "y", "model_a", "t", "2")]
    b = [Battle("x", "y", "tie (bothbad)", "t", "1"), Battle("x", "y", "model_a", "t", "2")]  # type: ignore[arg-type]
    assert np.allclose(bradley_terry(a, bootstrap=0).ratings, bradley_terry(b, bootstrap=0).ratings)


def test_the_cell_bootstrap_matches_resampling_battle_rows() -> None:
    """One multinomial draw over (pair, outcome) cells per round is, in distribution, resampling the
    battle rows with replacement (what FastChat does): the intervals agree with a naive row
    bootstrap to within a small share of their width."""
    battles = _battles(300, seed=3)
    models = list(TRUE)
    fast = bradley_terry(battles, models, bootstrap=1500, seed=1)
    rng = np.random.default_rng(2)
    naive = np.array([bradley_terry([battles[i] for i in rng.integers(0, len(battles), len(battles))],
                                    models, bootstrap=0).ratings for _ in range(1500)])
    lower, upper = np.percentile(naive, 2.5, axis=0), np.percentile(naive, 97.5, axis=0)
    width = upper - lower
    assert np.all(np.abs(fast.lower - lower) < 0.12 * width), (fast.lower, lower)
    assert np.all(np.abs(fast.upper - upper) < 0.12 * width), (fast.upper, upper)


def test_the_prior_is_used_only_where_asked_or_needed() -> None:
    """``prior_sd`` None: no prior where the maximum likelihood exists, the weak prior where a sweep
    leaves it none; a number uses that prior everywhere; ``inf`` none anywhere."""
    battles = _battles(300, seed=5)
    models = list(TRUE)
    default = bradley_terry(battles, models, bootstrap=0)
    forced = bradley_terry(battles, models, bootstrap=0, prior_sd=PRIOR_SD)
    assert math.isinf(default.prior_sd) and forced.prior_sd == PRIOR_SD
    # The prior pulls every rating towards the mean: the spread shrinks.
    assert np.ptp(forced.ratings) < np.ptp(default.ratings)
    sweep = [Battle("x", "y", "model_a", "t", str(i)) for i in range(5)]
    swept = bradley_terry(sweep, ["x", "y"], bootstrap=0)
    assert swept.separation and swept.prior_sd == PRIOR_SD
    assert "held finite by a weak prior" in swept.note()
    loose = bradley_terry(sweep, ["x", "y"], bootstrap=0, prior_sd=math.inf)
    assert loose.ratings[0] - loose.ratings[1] > 2 * (swept.ratings[0] - swept.ratings[1])
    assert "no prior was used (--prior-sd inf)" in loose.note()
    with pytest.raises(HarnessError, match="expected a positive number or inf"):
        bradley_terry(sweep, ["x", "y"], bootstrap=0, prior_sd=0.0)
