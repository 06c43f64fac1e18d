"""Style control beyond length (as Chatbot Arena and Arena-Hard v2 do): Bradley-Terry ratings with
the answers' style differences as covariates.

Each battle is one row of a logistic regression: ``logit P(model_a wins) = theta_a - theta_b +
sum_f gamma_f * x_f``, where ``x_f`` is the normalised difference ``(a - b) / (a + b)`` of one style
feature of the two answers (0 when both are 0), scaled to unit standard deviation over the battles:
length in characters, Markdown headers, list items and bold spans. A tie is half a win. The
ratings ``theta`` (on the Elo scale, centred on 1000) are what is left of each model's strength once
the judge's taste for style is taken out; ``gamma_f`` is that taste: the change in log-odds of
winning per standard deviation of feature f's difference (does this judge reward bullet lists?).
Intervals come from resampling the battles (percentile bootstrap).

Not handled: style inside code blocks is counted like any other text; interactions between
features; battles whose answers are not in the run (counted in ``left_out``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness.core.types import Answer, Battle
from harness.stats.bradley_terry import PRIOR_SD
from harness.stats.length_control import fit

FEATURES = ("length", "headers", "list items", "bold")
_HEADER = re.compile(r"^ {0,3}#{1,6}\s+\S", re.MULTILINE)
_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
SCALE = 400 / math.log(10)
"""Natural log-odds to Elo points."""
MIN_BATTLES = 10


def style_counts(text: str) -> tuple[int, int, int, int]:
    """Characters, Markdown headers, list items and bold spans of one answer.

    >>> style_counts("# Plan\\n\\n- **Save** first\\n- then invest\\n1. Review")
    (48, 1, 3, 1)
    """
    return len(text), len(_HEADER.findall(text)), len(_ITEM.findall(text)), len(_BOLD.findall(text))


@dataclass(frozen=True)
class StyleFit:
    """Style-controlled ratings and the judge's style weights, with 95% bootstrap intervals."""

    models: tuple[str, ...]
    ratings: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    weights: tuple[float, ...]
    """One per :data:`FEATURES`: log-odds per standard deviation of the feature's difference."""
    weight_lower: tuple[float, ...]
    weight_upper: tuple[float, ...]
    n: int
    """Battles fitted."""
    left_out: int
    """Battles without both answers' text in the run."""


def _differences(battles: Sequence[Battle], answers: Mapping[tuple[str, str, str], Answer]
                 ) -> tuple[list[Battle], np.ndarray, int]:
    kept, rows, missing = [], [], 0
    for b in battles:
        found = [answers.get((m, b.task, b.question_id)) for m in (b.model_a, b.model_b)]
        texts = [f.at_turn(b.turn) if f is not None else None for f in found]
        if texts[0] is None or texts[1] is None:
            missing += 1
            continue
        ca, cb = style_counts(texts[0]), style_counts(texts[1])
        rows.append([(x - y) / (x + y) if x + y else 0.0 for x, y in zip(ca, cb)])
        kept.append(b)
    return kept, np.asarray(rows, dtype=float).reshape(-1, len(FEATURES)), missing


def _coefficients(index: np.ndarray, y: np.ndarray, x: np.ndarray, n_models: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Ratings (centred, natural units) and style weights of one fit. As in the leaderboard's
    Bradley-Terry, each model's strength has a weak Gaussian prior (:data:`PRIOR_SD`), which keeps a
    model that won every battle finite; the style weights get the same weak prior."""
    rows = np.arange(len(y))
    design = np.zeros((len(y), n_models + x.shape[1]))
    design[rows, index[:, 0]] += 1.0
    design[rows, index[:, 1]] -= 1.0
    design[:, n_models:] = x
    beta, _ = fit(design, y, penalty=1.0 / PRIOR_SD**2)
    theta = beta[:n_models]
    return theta - theta.mean(), beta[n_models:]


def style_controlled(battles: Sequence[Battle], answers: Sequence[Answer], models: Sequence[str], *,
                     bootstrap: int = 200, seed: int = 0) -> StyleFit | None:
    """The style-controlled fit, or None with fewer than :data:`MIN_BATTLES` usable battles or two
    models. Features that never vary get weight 0 (interval [0, 0])."""
    texts = {(a.model, a.task, a.question_id): a for a in answers}
    kept, x, missing = _differences(battles, texts)
    present = [m for m in models if any(m in (b.model_a, b.model_b) for b in kept)]
    if len(kept) < MIN_BATTLES or len(present) < 2:
        return None
    position = {m: i for i, m in enumerate(present)}
    index = np.array([[position[b.model_a], position[b.model_b]] for b in kept])
    y = np.array([1.0 if b.winner == "model_a" else 0.0 if b.winner == "model_b" else 0.5 for b in kept])
    sd = x.std(axis=0)
    varies = sd > 1e-12
    scaled = np.where(varies, x / np.where(varies, sd, 1.0), 0.0)

    def once(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        theta, gamma = _coefficients(index[rows], y[rows], scaled[rows][:, varies], len(present))
        weights = np.zeros(len(FEATURES))
        weights[varies] = gamma
        return theta, weights

    theta, weights = once(np.arange(len(y)))
    rng = np.random.default_rng(seed)
    draws = [once(rng.integers(0, len(y), len(y))) for _ in range(bootstrap)]
    thetas, gammas = np.array([d[0] for d in draws]), np.array([d[1] for d in draws])
    low_t, high_t = np.percentile(thetas, [2.5, 97.5], axis=0)
    low_g, high_g = np.percentile(gammas, [2.5, 97.5], axis=0)

    def elo(v: np.ndarray) -> tuple[float, ...]:
        return tuple(float(SCALE * t + 1000) for t in v)

    return StyleFit(tuple(present), elo(theta), elo(low_t), elo(high_t), tuple(float(w) for w in weights),
                    tuple(float(w) for w in low_g), tuple(float(w) for w in high_g), len(kept), missing)
