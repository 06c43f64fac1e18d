"""Combining the two orders of a comparison into one battle, and the judge's consistency."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from harness.core.types import Battle, Judgment


def combine(judgments: Iterable[Judgment]) -> list[Battle]:
    """One battle per (question, turn, pair, judge) whose two orders both have a valid verdict, or whose
    one verdict was seen once (order ``once``, imported from tools that judge each pair once).

    The same winner in both orders wins; anything else (a flip, or a tie in either order) is a tie.
    Where both orders carry probabilities (``logprobs`` judges), the battle also carries their mean
    as its expected outcome (``soft``).
    A verdict seen once is the battle as it stands. A comparison with an ``error`` verdict in either
    order gives no battle: it is counted in :func:`judge_stats`, never turned into a tie.

    >>> j = lambda order, w: Judgment("t", "q1", "x", "y", order, w, "", "judge", "generate", "p", "h", "")
    >>> [b.winner for b in combine([j("ab", "model_a"), j("ba", "model_a")])]
    ['model_a']
    >>> [b.winner for b in combine([j("ab", "model_a"), j("ba", "model_b")])]
    ['tie']
    >>> combine([j("ab", "model_a"), j("ba", "error")])
    []
    >>> [b.winner for b in combine([j("once", "model_b")])]
    ['model_b']
    """
    battles = []
    for (task, qid, turn, a, b, judge, source), orders in _group(judgments).items():
        ab, ba, once = orders.get("ab"), orders.get("ba"), orders.get("once")
        if once is not None and ab is None and ba is None:
            ab = ba = once  # one verdict: nothing to reconcile
        if ab is None or ba is None or "error" in (ab.winner, ba.winner):
            continue
        winner = ab.winner if ab.winner == ba.winner else "tie"
        battles.append(Battle(model_a=a, model_b=b, winner=winner, task=task,  # type: ignore[arg-type]
                              question_id=qid, judge=judge, turn=turn, soft=_mean_soft(ab, ba),
                              source=source))
    return battles


def _mean_soft(ab: Judgment, ba: Judgment) -> tuple[float, float, float] | None:
    """The battle's expected outcome: both orders' probabilities averaged (the same judgment twice
    for a verdict seen once), as the hard rule weighs both orders alike; None unless both have them.

    >>> j = lambda order, soft: Judgment("t", "q1", "x", "y", order, "model_a", "", "judge", "logprobs",
    ...                                  "p", "h", "", soft=soft)
    >>> _mean_soft(j("ab", (0.9, 0.1, 0.0)), j("ba", (0.3, 0.1, 0.6)))
    (0.6, 0.1, 0.3)
    >>> _mean_soft(j("ab", (0.9, 0.1, 0.0)), j("ba", None)) is None
    True
    """
    if ab.soft is None or ba.soft is None:
        return None
    return tuple((x + y) / 2 for x, y in zip(ab.soft, ba.soft))  # type: ignore[return-value]


R = TypeVar("R", Judgment, Battle)


def last_turns(rows: Sequence[R]) -> list[R]:
    """Only each judge's verdicts on each question's last judged turn: what the judge said of a
    multi-turn question's whole conversation, which is what a person votes on (single-turn rows
    all stay).

    >>> j = lambda turn: Judgment("t", "q1", "x", "y", "ab", "tie", "", "judge", "generate", "p", "h", "",
    ...                           turn=turn)
    >>> [r.turn for r in last_turns([j(1), j(2), j(None)])]
    [2]
    """
    last: dict[tuple[str, str, str], int] = {}
    for r in rows:
        key = (r.judge, r.task, r.question_id)
        last[key] = max(last.get(key, 0), r.turn or 0)
    return [r for r in rows if (r.turn or 0) == last[(r.judge, r.task, r.question_id)]]


@dataclass(frozen=True)
class JudgeStats:
    """How a judge behaved over a run: errors, swap consistency and first-slot preference."""

    judge: str
    judgments: int
    errors: int
    """Judgments with no valid label after all attempts."""
    pairs: int
    """Comparisons with a valid verdict in both orders."""
    consistent: int
    """Of those, the ones whose verdict did not change when the order was swapped."""
    decisive: int
    """Valid judgments with a known order that named a winner (not ``equal``)."""
    first_slot: int
    """Of those, the ones won by the answer shown first."""
    single: int = 0
    """Comparisons judged once (order ``once``): no swap to check, no known first slot."""

    @property
    def consistency(self) -> float:
        """Share of both-order comparisons whose verdict survived the swap; nan with none (a judge
        that saw every pair once: reports print "n/a (one order)")."""
        return self.consistent / self.pairs if self.pairs else float("nan")

    @property
    def one_order(self) -> bool:
        """Every comparison was judged once: swap consistency cannot be measured."""
        return self.single > 0 and self.pairs == 0

    @property
    def first_slot_rate(self) -> float:
        return self.first_slot / self.decisive if self.decisive else float("nan")


def judge_stats(judgments: Sequence[Judgment]) -> list[JudgeStats]:
    """Per-judge statistics, in order of first appearance."""
    by_judge: dict[str, list[Judgment]] = defaultdict(list)
    for j in judgments:
        by_judge[j.judge].append(j)
    out = []
    for judge, js in by_judge.items():
        pairs = consistent = single = 0
        for orders in _group(js).values():
            ab, ba = orders.get("ab"), orders.get("ba")
            if ab and ba and "error" not in (ab.winner, ba.winner):
                pairs += 1
                consistent += ab.winner == ba.winner
            elif not ab and not ba and "once" in orders:
                single += 1
        # a verdict seen once has no known first slot
        valid = [j for j in js if j.winner not in ("error", "tie") and j.order != "once"]
        first = sum((j.winner == "model_a") == (j.order == "ab") for j in valid)
        out.append(JudgeStats(judge, len(js), sum(j.winner == "error" for j in js), pairs,
                              consistent, len(valid), first, single))
    return out


_Key = tuple[str, str, "int | None", str, str, str, "str | None"]


def _group(judgments: Iterable[Judgment]) -> dict[_Key, dict[str, Judgment]]:
    """Each comparison's verdicts by order; an imported event (its ``source``) is a comparison of
    its own, so a battle file's repeated rows stay separate battles."""
    groups: dict[_Key, dict[str, Judgment]] = defaultdict(dict)
    for j in judgments:
        groups[(j.task, j.question_id, j.turn, j.model_a, j.model_b, j.judge, j.source)][j.order] = j
    return groups
