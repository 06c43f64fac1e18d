"""Picking the best checkpoint on half of the questions and judging it on the other half.

Judging every checkpoint against the base and reporting the best one's win rate on the same
questions overstates it: the best of several noisy figures is high partly by luck (the winner's
curse). So the questions are split in two by a seeded shuffle; the checkpoint is picked on the
*selection* half (highest win rate against the base, a tie counting half a win; equal rates go to
the earlier step), and its win rate is estimated on the *held-out* half only, where the choice
cannot have flattered it, with the Wilson interval the rest of harness gives pair win rates.

A question counts once per pair: of a multi-turn question only its last judged turn (the whole
conversation) is counted, so ``n`` is questions, not turns. Reads no file and calls no model; not
handled here: which checkpoints there are, running them (``harness.app.sweep_command``), drawing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from harness.core.errors import HarnessError
from harness.core.types import Battle, PairRecord
from harness.stats.battles import last_turns
from harness.stats.significance import share_interval

Question = tuple[str, str]
"""A question as (task, question id)."""
Verdict = Literal["better", "worse", "undecided"]


def split_halves(questions: Sequence[Question], *, seed: int
                 ) -> tuple[tuple[Question, ...], tuple[Question, ...]]:
    """The selection half and the held-out half of ``questions`` (duplicates counted once), by a
    shuffle seeded with ``seed``; the held-out half takes the odd one out. Each half keeps the
    questions' own order.

    >>> qs = [("law", f"q{i}") for i in range(5)]
    >>> pick, held = split_halves(qs, seed=0)
    >>> len(pick), len(held), sorted(pick + held) == qs
    (2, 3, True)
    >>> split_halves(qs, seed=0) == (pick, held)
    True
    """
    unique = list(dict.fromkeys(questions))
    if len(unique) < 2:
        raise HarnessError(f"a sweep needs at least 2 questions to split into a selection half and a "
                           f"held-out half; the run has {len(unique)}")
    order = list(unique)
    random.Random(seed).shuffle(order)
    picked = set(order[: len(order) // 2])
    return (tuple(q for q in unique if q in picked), tuple(q for q in unique if q not in picked))


def tally(battles: Sequence[Battle], *, model: str, opponent: str,
          questions: Collection[Question]) -> PairRecord:
    """Wins, ties and losses of ``model`` against ``opponent`` on ``questions`` only (a tie of
    any kind counts as a tie); a multi-turn question by its last judged turn.

    >>> b = lambda q, w: Battle("ft", "base", w, "law", q, "j")
    >>> r = tally([b("q1", "model_a"), b("q2", "tie"), b("q3", "model_b")], model="base", opponent="ft",
    ...           questions=[("law", "q1"), ("law", "q3")])
    >>> r.wins, r.ties, r.losses
    (1, 0, 1)
    """
    keep = set(questions)
    pair = {model, opponent}
    mine = last_turns([b for b in battles if {b.model_a, b.model_b} == pair
                       and (b.task, b.question_id) in keep])
    wins = ties = losses = 0
    for b in mine:
        if b.winner not in ("model_a", "model_b"):
            ties += 1
        elif (b.model_a if b.winner == "model_a" else b.model_b) == model:
            wins += 1
        else:
            losses += 1
    return PairRecord(model, opponent, wins, ties, losses)


def win_rate(r: PairRecord) -> float:
    """Share won, a tie counting half; NaN with no battle (not the 0 of :attr:`PairRecord.win_rate`:
    a checkpoint that was never judged did not lose)."""
    return r.win_rate if r.n else math.nan


def best(records: Sequence[tuple[int, PairRecord]]) -> int | None:
    """Index in ``records`` ((step, record against the base), any order) of the highest win rate;
    equal rates (compared exactly) go to the earlier step; records with no battle are passed
    over; None when none has any.

    >>> r = lambda w, t, l: PairRecord("m", "base", w, t, l)
    >>> best([(3, r(1, 0, 1)), (1, r(0, 2, 0)), (2, r(0, 0, 2))])
    1
    >>> best([(1, r(0, 0, 0))]) is None
    True
    """
    scored = [(Fraction(2 * r.wins + r.ties, 2 * r.n), -step, i)
              for i, (step, r) in enumerate(records) if r.n]
    return max(scored)[2] if scored else None


def verdict(lower: float, upper: float) -> Verdict:
    """``better`` when the interval of a win rate lies above one half, ``worse`` when below,
    ``undecided`` otherwise (and with no interval at all).

    >>> verdict(0.55, 0.9), verdict(0.1, 0.45), verdict(0.3, 0.8), verdict(math.nan, math.nan)
    ('better', 'worse', 'undecided', 'undecided')
    """
    if lower > 0.5:
        return "better"
    if upper < 0.5:
        return "worse"
    return "undecided"


@dataclass(frozen=True)
class SweepPoint:
    """One checkpoint's showing on the selection half."""

    step: int
    model: str
    selection: PairRecord
    """Its wins, ties and losses against the base on the selection half."""
    lower: float
    """Lower end of the Wilson interval of its selection-half win rate (NaN with no battle)."""
    upper: float

    @property
    def win_rate(self) -> float:
        return win_rate(self.selection)


@dataclass(frozen=True)
class Sweep:
    """The checkpoints on the selection half, the one picked there, and its held-out figure."""

    baseline: str
    seed: int
    selection_questions: tuple[Question, ...]
    held_out_questions: tuple[Question, ...]
    points: tuple[SweepPoint, ...]
    """Earliest step first."""
    chosen: int
    """Index in :attr:`points` of the checkpoint picked on the selection half."""
    held_out: PairRecord
    """The chosen checkpoint against the base on the held-out questions only."""
    lower: float
    """Lower end of the Wilson interval of the held-out win rate (NaN with no battle)."""
    upper: float
    confidence: float
    """Of the intervals (0.95: two-sided, alpha 0.05)."""

    @property
    def pick(self) -> SweepPoint:
        return self.points[self.chosen]

    @property
    def held_out_win_rate(self) -> float:
        return win_rate(self.held_out)

    @property
    def alpha(self) -> float:
        return round(1 - self.confidence, 10)

    @property
    def verdict(self) -> Verdict:
        """What the held-out interval supports: ``better`` only when all of it is above one half."""
        return verdict(self.lower, self.upper)


def sweep(battles: Sequence[Battle], *, checkpoints: Sequence[tuple[int, str]], baseline: str,
          questions: Sequence[Question], seed: int, confidence: float = 0.95) -> Sweep:
    """Split ``questions`` (:func:`split_halves`), tally each checkpoint ((step, model name))
    against ``baseline`` on the selection half, pick the :func:`best`, and tally it on the
    held-out half.

    >>> bs = [Battle(f"s{s}", "base", w, "t", q, "j")
    ...       for s, w in ((1, "model_b"), (2, "model_a")) for q in ("a", "b", "c", "d")]
    >>> found = sweep(bs, checkpoints=[(1, "s1"), (2, "s2")], baseline="base",
    ...               questions=[("t", q) for q in "abcd"], seed=0)
    >>> found.pick.model, found.held_out.n, found.held_out_win_rate, found.verdict
    ('s2', 2, 1.0, 'undecided')
    """
    pick_half, held_half = split_halves(questions, seed=seed)
    points = []
    for step, model in sorted(checkpoints):
        record = tally(battles, model=model, opponent=baseline, questions=pick_half)
        low, high = share_interval(record.wins + record.ties / 2, record.n, confidence)
        points.append(SweepPoint(step, model, record, low, high))
    chosen = best([(p.step, p.selection) for p in points])
    if chosen is None:
        raise HarnessError(f"no checkpoint has a judged battle against {baseline!r} on the selection half "
                           f"({len(pick_half)} questions); see the run's judgments for errors")
    held = tally(battles, model=points[chosen].model, opponent=baseline, questions=held_half)
    low, high = share_interval(held.wins + held.ties / 2, held.n, confidence)
    return Sweep(baseline, seed, pick_half, held_half, tuple(points), chosen, held, low, high, confidence)
