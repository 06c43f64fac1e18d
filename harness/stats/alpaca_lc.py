"""AlpacaEval 2.0's length-controlled win rate, computed as its ``get_length_controlled_winrate``
computes it (``alpaca_eval/metrics/glm_winrate.py``, unchanged from 2024 to 0.6.6).

Per model against the baseline, over the instructions both answered, with ``p`` the preference for
the model (its expected outcome, in [0, 1]) and ``d`` the baseline's answer length minus the model's
in characters, divided by the standard deviation of ``d`` over the model's instructions:

- a logistic model without intercept, ``p ~ tanh(d) + not_gamed_baseline`` (AlpacaEval's
  ``length_controlled_minimal``), or, given the gamed baselines' annotations AlpacaEval keeps on the
  Hugging Face hub (``df_gamed.csv``), ``p ~ tanh(d) + instruction_difficulty + not_gamed_baseline``
  fitted with those annotations added at weight 0.2 / 2 (``length_controlled_v1``, its leaderboard's);
- fitted as AlpacaEval fits it: each instruction twice (won with weight ``p``, lost with ``1 - p``),
  L1-penalised, liblinear, no intercept, the penalty chosen by 5-fold group cross-validation on the
  log loss of the soft outcomes (scikit-learn's ``LogisticRegressionCV``, seed 123): the figures
  depend on liblinear's solution, so this module calls scikit-learn rather than a rewrite;
- the length-controlled win rate is the mean predicted preference with the length term at zero, in
  percent, and its standard error the standard error of that mean.

The instruction index that looks up an instruction's difficulty is its position in the evaluation set
(AlpacaEval's annotations are in that order); ``df_gamed.csv``'s difficulties are read as AlpacaEval
reads them (the first row of each instruction, looked up by row number).

Not handled: AlpacaEval's ``predict_winrate`` against another baseline (it needs the hub's
``instruction_difficulty.csv`` and the saved weights of every model), and the other GLMs it lists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from harness.core.errors import HarnessError
from harness.core.types import Answer, Battle, Task


class Variant(str, Enum):
    """Which of AlpacaEval's GLMs was fitted."""

    V1 = "length_controlled_v1"
    """The leaderboard's: instruction difficulty, regularised towards the gamed baselines."""
    MINIMAL = "length_controlled_minimal"
    """Length and the baseline term only: what the annotations alone allow."""

    def describe(self, gamed: object = None) -> str:
        """Which GLM gave the figures, in words (``gamed``: the df_gamed.csv used)."""
        if self is Variant.V1:
            return f"AlpacaEval's {self.value}, its leaderboard's GLM, with {gamed}"
        return (f"AlpacaEval's {self.value} (length only; its leaderboard's {Variant.V1.value} also "
                "needs AlpacaEval's df_gamed.csv: harness rate RUN/battles.jsonl --baseline MODEL "
                "--alpaca-gamed CSV)")


REGULARIZE = 0.2
"""``regularize_to_baseline_lambda`` of ``length_controlled_v1`` (halved over its two gamed models)."""
SPLITS = 5
SEED = 123
GAMED_COLUMNS = ("index", "instruction_difficulty", "preference", "std_delta_len", "not_gamed_baseline")


@dataclass(frozen=True)
class Gamed:
    """AlpacaEval's ``df_gamed.csv``: the gamed baselines' annotations, featurised."""

    index: np.ndarray
    difficulty: np.ndarray
    preference: np.ndarray
    std_delta_len: np.ndarray
    not_gamed: np.ndarray

    def difficulty_of(self, index: np.ndarray, *, source: str) -> np.ndarray:
        """Each instruction's difficulty as AlpacaEval looks it up: the rows that first name an
        instruction, keyed by their row number (pandas' ``drop_duplicates`` keeps the row labels)."""
        first: dict[int, float] = {}
        seen: set[int] = set()
        for row, (i, v) in enumerate(zip(self.index.tolist(), self.difficulty.tolist())):
            if i not in seen:
                seen.add(i)
                first[row] = v
        missing = [int(k) for k in index if int(k) not in first]
        if missing:
            raise HarnessError(f"{source}: no difficulty for instruction {missing[0]} (AlpacaEval reads the "
                               "row of that number among the first rows of each instruction)")
        return np.array([first[int(k)] for k in index], dtype=float)


def read_gamed(path: Path) -> Gamed:
    """``df_gamed.csv`` as AlpacaEval publishes it; a missing column or a value that is not a number
    is one error naming the file and column."""
    import pandas as pd

    if not path.is_file():
        raise HarnessError(f"{path}: no such file")
    try:
        df = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: not a CSV file ({exc})") from None
    missing = [c for c in GAMED_COLUMNS if c not in df.columns]
    if missing:
        raise HarnessError(f"{path}: no column {missing[0]!r} (AlpacaEval's df_gamed.csv has "
                           f"{', '.join(GAMED_COLUMNS)})")
    out = {}
    for column in GAMED_COLUMNS:
        values = df[column]
        if column == "not_gamed_baseline":
            values = values.map({True: 1.0, False: 0.0, "True": 1.0, "False": 0.0})
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna() & (values.notna() if column == "preference" else True)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise HarnessError(f"{path}: row {row + 2}: column {column!r}: {df[column].iloc[row]!r} is not a "
                               "number" + (" (True or False)" if column == "not_gamed_baseline" else ""))
        out[column] = numbers.to_numpy(dtype=float)
    return Gamed(out["index"].astype(int), out["instruction_difficulty"], out["preference"],
                 out["std_delta_len"], out["not_gamed_baseline"])


@dataclass(frozen=True)
class LengthControlled:
    """One model's length-controlled win rate against the baseline."""

    win_rate: float
    """Percent."""
    standard_error: float
    """Percent; 0 for the minimal GLM (its prediction is one number)."""
    variant: Variant


def length_controlled(*, preference: np.ndarray, len_baseline: np.ndarray, len_model: np.ndarray,
                      index: np.ndarray, gamed: Gamed | None = None,
                      source: str = "df_gamed.csv") -> LengthControlled:
    """The length-controlled win rate of a model from its instructions against the baseline (see
    the module): ``preference`` for the model in [0, 1] (NaN: no verdict, left out of the fit as
    AlpacaEval leaves it out), the two answers' lengths in characters and each instruction's index.

    A model whose answers are mostly shorter and lose (a raw win rate of 36.3%), to a judge that
    prefers length:

    >>> p = np.array([0.38, 0.02, 0.63, 0, 0, 0, 0, 1, 0, 1, 1, 0.32])
    >>> base = np.array([636, 744, 118, 746, 475, 512, 604, 328, 883, 143, 322, 406])
    >>> mine = np.array([556, 426, 204, 136, 100, 139, 219, 899, 252, 621, 700, 287])
    >>> lc = length_controlled(preference=p, len_baseline=base, len_model=mine, index=np.arange(12))
    >>> lc.variant.value, round(lc.win_rate, 1), round(lc.standard_error, 6)
    ('length_controlled_minimal', 50.6, 0.0)
    """
    delta = np.asarray(len_baseline, dtype=float) - np.asarray(len_model, dtype=float)
    spread = float(np.std(delta, ddof=1)) if len(delta) > 1 else float("nan")
    std_delta = delta / spread  # pandas' std; a spread of 0 makes NaN features, as in AlpacaEval
    p = np.asarray(preference, dtype=float)
    ones = np.ones(len(p))
    if gamed is None:
        variant = Variant.MINIMAL
        x = np.column_stack([np.tanh(std_delta), ones])
        x_test = np.column_stack([np.zeros(len(p)), ones])
        y, weight = p, None
    else:
        variant = Variant.V1
        difficulty = gamed.difficulty_of(np.asarray(index), source=source)
        x = np.column_stack([np.tanh(np.concatenate([gamed.std_delta_len, std_delta])),
                             np.concatenate([gamed.difficulty, difficulty]),
                             np.concatenate([gamed.not_gamed, ones])])
        x_test = np.column_stack([np.zeros(len(p)), difficulty, ones])
        y = np.concatenate([gamed.preference, p])
        weight = np.concatenate([gamed.not_gamed + REGULARIZE * (1 - gamed.not_gamed) / 2, ones])
    keep = ~np.isnan(y)
    if not np.isfinite(x[keep]).all():
        raise HarnessError("the length-controlled fit has no length spread to work with (every answer pair "
                           "differs by the same number of characters)")
    predicted = _fit(x[keep], y[keep], None if weight is None else weight[keep]).predict_proba(x_test)[:, 1]
    sem = float(np.std(predicted, ddof=1) / math.sqrt(len(predicted))) if len(predicted) > 1 else float("nan")
    return LengthControlled(float(predicted.mean() * 100), sem * 100, variant)


def _soft_log_loss(y_true: np.ndarray, y_pred: np.ndarray, true_prob: np.ndarray,
                   true_sample_weight: np.ndarray | None = None) -> float:
    """The cross-validation score: the log loss against the soft outcome each duplicated row
    stands for (AlpacaEval's ``logloss_continuous``), clipped at 1e-15, weighted, averaged."""
    target = np.where(y_true == 1, true_prob, 1 - true_prob)
    q = np.clip(y_pred, 1e-15, 1 - 1e-15)
    losses = target * np.log(q) + (1 - target) * np.log(1 - q)
    if true_sample_weight is not None:
        losses = losses * true_sample_weight
    return float(-np.mean(losses))


def _fit(x: np.ndarray, p: np.ndarray, weight: np.ndarray | None):  # type: ignore[no-untyped-def]
    """The cross-validated L1 logistic fit on soft outcomes: each row once as a win weighted ``p``
    and once as a loss weighted ``1 - p``, both in the row's cross-validation group."""
    import sklearn
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GroupKFold

    n = len(p)
    xx = np.vstack([x, x])
    yy = np.concatenate([np.ones(n), np.zeros(n)])
    true_prob = np.concatenate([p, 1 - p])
    groups = np.concatenate([np.arange(n), np.arange(n)])
    true_weight = None if weight is None else np.concatenate([weight, weight])
    sample_weight = true_prob if true_weight is None else true_prob * true_weight
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = make_scorer(_soft_log_loss, response_method="predict_proba", greater_is_better=False)
        scorer = scorer.set_score_request(true_sample_weight=True, true_prob=True)
        model = LogisticRegressionCV(cv=GroupKFold(n_splits=SPLITS), scoring=scorer, random_state=SEED,
                                     dual=False, penalty="l1", solver="liblinear", fit_intercept=False)
        model.set_fit_request(sample_weight=True)
        import warnings

        with warnings.catch_warnings():  # scikit-learn's notices about its parameters' future defaults
            warnings.simplefilter("ignore", FutureWarning)
            model.fit(xx, yy, sample_weight=sample_weight, groups=groups, true_sample_weight=true_weight,
                      true_prob=true_prob)
    return model


MIN_INSTRUCTIONS = SPLITS
"""Five-fold cross-validation needs five instructions."""


@dataclass(frozen=True)
class Rates:
    """Every model's length-controlled win rate against one baseline."""

    variant: Variant
    rates: dict[str, LengthControlled]
    skipped: tuple[str, ...] = ()
    """Models left out: an answer or the question of one of their battles is missing, they have
    fewer than :data:`MIN_INSTRUCTIONS` instructions, or their answers' lengths all differ from the
    baseline's by the same amount."""

    def skipped_note(self) -> str:
        """``; not computed for ...`` naming :attr:`skipped` and why, or ``""``."""
        if not self.skipped:
            return ""
        return (f"; not computed for {', '.join(self.skipped)} (an answer or question missing, fewer than "
                f"{MIN_INSTRUCTIONS} instructions, or no spread in length difference)")


def rates(battles: Sequence[Battle], baseline: str, *, answers: Sequence[Answer], tasks: Sequence[Task],
          gamed: Gamed | None = None, source: str = "df_gamed.csv") -> Rates:
    """Each model with battles against ``baseline``: its length-controlled win rate, from its
    preferences (``harness.stats.ratings.preference``), the answers' lengths and each question's
    position in its task (its index in the evaluation set)."""
    from harness.stats.ratings import preference

    texts = {(a.task, a.question_id, a.model): a.answer for a in answers}
    position = {(t.id, q.id): i for t in tasks for i, q in enumerate(t.questions)}
    rows: dict[str, list[tuple[float, int, int, int]]] = {}
    lacking: set[str] = set()
    for b in battles:
        seen = preference(b, baseline)
        if seen is None:
            continue
        model, pref = seen
        mine, theirs = texts.get((b.task, b.question_id, model)), texts.get((b.task, b.question_id, baseline))
        where = position.get((b.task, b.question_id))
        if mine is None or theirs is None or where is None:
            lacking.add(model)
            continue
        rows.setdefault(model, []).append((pref, len(theirs), len(mine), where))
    out = {}
    for model, got in rows.items():
        if model in lacking or len(got) < MIN_INSTRUCTIONS:
            continue
        p, len_base, len_model, index = (np.array(c) for c in zip(*got))
        if np.ptp(len_base - len_model) == 0:  # no length difference to control for: no fit exists
            continue
        out[model] = length_controlled(preference=p, len_baseline=len_base, len_model=len_model, index=index,
                                       gamed=gamed, source=source)
    skipped = tuple(sorted({*lacking, *(m for m in rows if m not in out)}))
    return Rates(Variant.MINIMAL if gamed is None else Variant.V1, out, skipped)
