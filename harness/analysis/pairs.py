"""Judged pairs for reading: the question, both answers, and the judge's reply in each order; for a
turn of a multi-turn question, both conversations up to that turn. The report's pair browser and
its case studies show them; not handled: how (``harness.reports``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.core.types import Answer, Judgment, Question, Task
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
    turn: int | None = None
    """The judged turn of a multi-turn question; None for a single-turn one."""
    conversation: tuple[tuple[str, str, str], ...] = ()
    """For a judged turn: (user message, model_a's answer, model_b's answer) for every turn up to
    it, turn 1 first (what the judge was shown); empty for a single-turn question, whose
    ``question``, ``answer_a`` and ``answer_b`` say it all."""


def verdict(winner: str, a: str, b: str) -> str:
    return VERDICTS.get(winner, winner).format(a=a, b=b)


MISSING_QUESTION = "(question text not in the run)"


def _user_turns(q: Question) -> tuple[str, ...]:
    """Each user message; the first with the question's input, as the models were asked it."""
    return (q.question + (f"\n\n{q.input}" if q.input else ""), *q.turns)


def _conversation(turn: int, users: tuple[str, ...], a: Answer | None, b: Answer | None
                  ) -> tuple[tuple[str, str, str], ...]:
    """Turns 1..``turn``: each user message with both models' answers ("" where one is missing).

    >>> a, b = Answer("x", "t", "q1", "A1", turns=("A2",)), Answer("y", "t", "q1", "B1", turns=("B2",))
    >>> _conversation(2, ("U1", "U2"), a, b)
    (('U1', 'A1', 'B1'), ('U2', 'A2', 'B2'))
    >>> _conversation(2, ("U1",), a, None)
    (('U1', 'A1', ''), ('(question text not in the run)', 'A2', ''))
    """
    def said(ans: Answer | None, k: int) -> str:
        return (ans.at_turn(k) if ans is not None else None) or ""

    return tuple((users[k - 1] if k <= len(users) else MISSING_QUESTION, said(a, k), said(b, k))
                 for k in range(1, turn + 1))


def judged_pairs(*, tasks: Sequence[Task], answers: Sequence[Answer], judgments: Sequence[Judgment]
                 ) -> list[JudgedPair]:
    """Every judged pair of ``judgments``, in the order its first judgment stands."""
    questions = {(t.id, q.id): _user_turns(q) for t in tasks for q in t.questions}
    answer = {(a.model, a.task, a.question_id): a for a in answers}
    groups: dict[tuple[str, str, str, int | None, str, str], list[Judgment]] = {}
    for j in judgments:
        groups.setdefault((j.judge, j.task, j.question_id, j.turn, j.model_a, j.model_b), []).append(j)
    # the battles the leaderboard counts: both orders combined by the one rule in judges.battles
    combined = {(b.judge, b.task, b.question_id, b.turn, b.model_a, b.model_b): b.winner
                for b in combine(judgments)}
    out = []
    for (judge, task, qid, turn, a, b), js in groups.items():
        winner = combined.get((judge, task, qid, turn, a, b))
        outcome = "not counted (a verdict is missing)" if winner is None else verdict(winner, a, b)
        users = questions.get((task, qid), ())
        ans_a, ans_b = answer.get((a, task, qid)), answer.get((b, task, qid))
        out.append(JudgedPair(judge, task, qid, users[0] if users else MISSING_QUESTION, a, b,
                              (ans_a.at_turn(turn) if ans_a else None) or "",
                              (ans_b.at_turn(turn) if ans_b else None) or "",
                              tuple(JudgedOrder(j.order, verdict(j.winner, a, b), j.raw)
                                    for j in sorted(js, key=lambda j: j.order)), outcome, turn,
                              () if turn is None else _conversation(turn, users, ans_a, ans_b)))
    return out


def case_studies(pairs: Sequence[JudgedPair], per_task: int = 1) -> list[JudgedPair]:
    """A few pairs per task for a paper's case-study section: decisive verdicts first."""
    chosen: list[JudgedPair] = []
    for task in dict.fromkeys(p.task for p in pairs):
        mine = [p for p in pairs if p.task == task]
        mine.sort(key=lambda p: ("wins" not in p.outcome, p.question_id))
        chosen += mine[:per_task]
    return chosen
