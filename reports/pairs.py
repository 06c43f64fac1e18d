"""Judged pairs for reading: the question, both answers, and the judge's reply in each order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.core.types import Judgment
from harness.reports.data import ReportData
from harness.stats.battles import combine

VERDICTS = {"model_a": "{a} wins", "model_b": "{b} wins", "tie": "tie", "tie (bothbad)": "tie (both bad)",
            "error": "no valid verdict"}


@dataclass(frozen=True)
class JudgedOrder:
    order: str
    """``ab``: model_a's answer was shown first."""
    verdict: str
    raw: str


@dataclass(frozen=True)
class JudgedPair:
    judge: str
    task: str
    question_id: str
    question: str
    model_a: str
    model_b: str
    answer_a: str
    answer_b: str
    orders: tuple[JudgedOrder, ...]
    outcome: str
    """The combined verdict of both orders (what the leaderboard counts)."""


def verdict(winner: str, a: str, b: str) -> str:
    return VERDICTS.get(winner, winner).format(a=a, b=b)


def judged_pairs(data: ReportData) -> list[JudgedPair]:
    questions = {(t.id, q.id): q.question + (f"\n\n{q.input}" if q.input else "")
                 for t in data.tasks for q in t.questions}
    answers = {(a.model, a.task, a.question_id): a.answer for a in data.answers}
    groups: dict[tuple[str, str, str, str, str], list[Judgment]] = {}
    for j in data.judgments:
        groups.setdefault((j.judge, j.task, j.question_id, j.model_a, j.model_b), []).append(j)
    # the battles the leaderboard counts: both orders combined by the one rule in judges.battles
    combined = {(b.judge, b.task, b.question_id, b.model_a, b.model_b): b.winner
                for b in combine(data.judgments)}
    out = []
    for (judge, task, qid, a, b), js in groups.items():
        winner = combined.get((judge, task, qid, a, b))
        outcome = "not counted (a verdict is missing)" if winner is None else verdict(winner, a, b)
        out.append(JudgedPair(judge, task, qid, questions.get((task, qid), "(question text not in the run)"),
                              a, b, answers.get((a, task, qid), ""), answers.get((b, task, qid), ""),
                              tuple(JudgedOrder(j.order, verdict(j.winner, a, b), j.raw)
                                    for j in sorted(js, key=lambda j: j.order)), outcome))
    return out


def case_studies(pairs: Sequence[JudgedPair], per_task: int = 1) -> list[JudgedPair]:
    """A few pairs per task for a paper's case-study section: decisive verdicts first."""
    chosen: list[JudgedPair] = []
    for task in dict.fromkeys(p.task for p in pairs):
        mine = [p for p in pairs if p.task == task]
        mine.sort(key=lambda p: ("wins" not in p.outcome, p.question_id))
        chosen += mine[:per_task]
    return chosen
