"""Combining the two orders of a comparison into one battle, and the judge's consistency."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.core.types import Battle, Judgment


def combine(judgments: Iterable[Judgment]) -> list[Battle]:
    """One battle per (question, pair, judge) whose two orders both have a valid verdict.

    The same winner in both orders wins; anything else (a flip, or a tie in either order) is a tie.
    A comparison with an ``error`` verdict in either order gives no battle: it is counted in
    :func:`judge_stats`, never turned into a tie.

    >>> j = lambda order, w: Judgment("t", "q1", "x", "y", order, w, "", "judge", "generate", "p", "h", "")
    >>> [b.winner for b in combine([j("ab", "model_a"), j("ba", "model_a")])]
    ['model_a']
    >>> [b.winner for b in combine([j("ab", "model_a"), j("ba", "model_b")])]
    ['tie']
    >>> combine([j("ab", "model_a"), j("ba", "error")])
    []
    """
    battles = []
    for (task, qid, a, b, judge), orders in _group(judgments).items():
        ab, ba = orders.get("ab"), orders.get("ba")
        if ab is None or ba is None or "error" in (ab.winner, ba.winner):
            continue
        winner = ab.winner if ab.winner == ba.winner else "tie"
        battles.append(Battle(model_a=a, model_b=b, winner=winner, task=task,  # type: ignore[arg-type]
                              question_id=qid, judge=judge))
    return battles


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
    """Valid judgments that named a winner (not ``equal``)."""
    first_slot: int
    """Of those, the ones won by the answer shown first."""

    @property
    def consistency(self) -> float:
        return self.consistent / self.pairs if self.pairs else float("nan")

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
        pairs = consistent = 0
        for orders in _group(js).values():
            ab, ba = orders.get("ab"), orders.get("ba")
            if ab and ba and "error" not in (ab.winner, ba.winner):
                pairs += 1
                consistent += ab.winner == ba.winner
        valid = [j for j in js if j.winner not in ("error", "tie")]
        first = sum((j.winner == "model_a") == (j.order == "ab") for j in valid)
        out.append(JudgeStats(judge, len(js), sum(j.winner == "error" for j in js), pairs,
                              consistent, len(valid), first))
    return out


def _group(judgments: Iterable[Judgment]) -> dict[tuple[str, str, str, str, str], dict[str, Judgment]]:
    groups: dict[tuple[str, str, str, str, str], dict[str, Judgment]] = defaultdict(dict)
    for j in judgments:
        groups[(j.task, j.question_id, j.model_a, j.model_b, j.judge)][j.order] = j
    return groups
