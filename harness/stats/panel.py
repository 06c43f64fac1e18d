"""A panel of judges: the majority verdict, and how far the judges agree with each other."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness.core.types import Battle
from harness.stats.significance import share_interval

Key = tuple[str, str, "int | None", str, str, "str | None"]
"""(task, question id, turn, model_a, model_b, source): one comparison (an imported event's source
row makes it one of its own)."""


def _by_comparison(battles: Sequence[Battle]) -> dict[Key, str]:
    return {(b.task, b.question_id, b.turn, b.model_a, b.model_b, b.source): b.winner for b in battles}


def panel_battles(by_judge: Mapping[str, Sequence[Battle]]) -> list[Battle]:
    """One battle per comparison: the winner named by a strict majority of the judges that gave
    a verdict on it; a split vote is a tie.

    >>> b = lambda w: [Battle("x", "y", w, "t", "q1")]
    >>> [x.winner for x in panel_battles({"j1": b("model_a"), "j2": b("model_a"), "j3": b("tie")})]
    ['model_a']
    >>> [x.winner for x in panel_battles({"j1": b("model_a"), "j2": b("model_b")})]
    ['tie']
    """
    votes: dict[Key, list[str]] = defaultdict(list)
    for battles in by_judge.values():
        for key, winner in _by_comparison(battles).items():
            votes[key].append(winner)
    out = []
    for (task, qid, turn, a, b, source), ballot in votes.items():
        winner, count = Counter(ballot).most_common(1)[0]
        out.append(Battle(a, b, winner if count * 2 > len(ballot) else "tie",  # type: ignore[arg-type]
                          task, qid, "panel", turn, source=source))
    return out


@dataclass(frozen=True)
class Agreement:
    """How often two judges' battle outcomes match on the comparisons both decided."""

    judge_1: str
    judge_2: str
    n: int
    agree: int
    kappa: float
    """Cohen's kappa: agreement beyond what the judges' own outcome rates give by chance."""
    kappa_lower: float = float("nan")
    kappa_upper: float = float("nan")
    """95% bootstrap interval of ``kappa`` (:func:`kappa_interval`)."""

    @property
    def rate(self) -> float:
        return self.agree / self.n if self.n else float("nan")

    @property
    def rate_interval(self) -> tuple[float, float]:
        """95% Wilson interval of :attr:`rate` (NaN with no shared comparison)."""
        return share_interval(self.agree, self.n)


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float:
    """Cohen's kappa for two raters' labels.

    >>> cohen_kappa([("a", "a"), ("b", "b"), ("a", "b"), ("b", "b")])
    0.5
    """
    n = len(pairs)
    if not n:
        return float("nan")
    observed = sum(x == y for x, y in pairs) / n
    first, second = Counter(x for x, _ in pairs), Counter(y for _, y in pairs)
    chance = sum(first[c] * second[c] for c in first) / (n * n)
    return 1.0 if chance == 1 else (observed - chance) / (1 - chance)


KAPPA_ROUNDS = 1000
"""Bootstrap resamples behind a kappa's interval."""


def kappa_interval(pairs: Sequence[tuple[str, str]], *, rounds: int = KAPPA_ROUNDS, seed: int = 0,
                   confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`cohen_kappa`, the compared items resampled with
    replacement (``rounds`` draws of ``n`` indices from ``numpy.random.default_rng(seed)``); NaN
    with no items. Each round's kappa comes from its 3x3 (or kxk) table, all rounds at once.

    >>> kappa_interval([("a", "a")] * 5 + [("b", "b")] * 5)
    (1.0, 1.0)
    >>> lo, hi = kappa_interval([("a", "a"), ("b", "b"), ("a", "b"), ("b", "b")] * 5)
    >>> lo < 0.5 < hi
    True
    """
    n = len(pairs)
    if not n:
        return (float("nan"), float("nan"))
    labels = sorted({v for p in pairs for v in p})
    code = {label: i for i, label in enumerate(labels)}
    k = len(labels)
    first = np.array([code[x] for x, _ in pairs])
    second = np.array([code[y] for _, y in pairs])
    draws = np.random.default_rng(seed).integers(0, n, size=(rounds, n))
    cells = first[draws] * k + second[draws] + (k * k) * np.arange(rounds)[:, None]
    table = np.bincount(cells.ravel(), minlength=rounds * k * k).reshape(rounds, k, k)
    observed = np.trace(table, axis1=1, axis2=2) / n
    chance = (table.sum(axis=2) * table.sum(axis=1)).sum(axis=1) / (n * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappas = np.where(chance == 1, 1.0, (observed - chance) / (1 - chance))
    alpha = (1 - confidence) / 2
    lower, upper = np.quantile(kappas, [alpha, 1 - alpha])
    return (float(lower), float(upper))


def agreements(by_judge: Mapping[str, Sequence[Battle]]) -> list[Agreement]:
    decided = {j: _by_comparison(b) for j, b in by_judge.items()}
    out = []
    for j1, j2 in itertools.combinations(decided, 2):
        shared = [(decided[j1][k], decided[j2][k]) for k in decided[j1] if k in decided[j2]]
        out.append(Agreement(j1, j2, len(shared), sum(x == y for x, y in shared), cohen_kappa(shared),
                             *kappa_interval(shared)))
    return out
