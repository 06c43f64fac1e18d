"""Single-answer grading: each answer scored alone (e.g. 1-10), averaged per model.

Grades also yield battles (on each question, the higher score wins), so the same Bradley-Terry
and Elo leaderboard works for graded runs.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.backends import Backend
from harness.cache import CallCache
from harness.errors import HarnessError
from harness.types import Answer, Battle, Grade, Task
from judges.asking import Ask, JudgeSettings, ask_judge
from judges.prompts import JudgePrompt


def grade_answers(tasks: Sequence[Task], models: Sequence[str], answers: Sequence[Answer],
                  backend: Backend, prompt: JudgePrompt, settings: JudgeSettings, cache: CallCache,
                  progress: Callable[[int], None] = lambda n: None) -> list[Grade]:
    """One grade per model and question, in task, question, model order."""
    keys, asks = grade_asks(tasks, models, answers, prompt)
    method, verdicts = ask_judge(asks, backend, prompt, settings, cache, progress)
    return [Grade(task=t, question_id=q, model=m, score=None if s is None else float(s),
                  judge=settings.spec, method=method, prompt=prompt.name, prompt_hash=prompt.hash,
                  raw=raw, attempts=attempts)
            for (t, q, m), (s, raw, attempts) in zip(keys, verdicts)]


def grade_asks(tasks: Sequence[Task], models: Sequence[str], answers: Sequence[Answer],
               prompt: JudgePrompt) -> tuple[list[tuple[str, str, str]], list[Ask]]:
    """(task, question id, model) and the judge's question, for every answer to grade."""
    if prompt.pairwise:
        raise HarnessError(f"judge prompt {prompt.name!r} compares pairs; it cannot grade single answers")
    by_key = {(a.model, a.task, a.question_id): a.answer for a in answers}
    keys: list[tuple[str, str, str]] = []
    asks: list[Ask] = []
    for task in tasks:
        for qi, q in enumerate(task.questions):
            for model in models:
                if (model, task.id, q.id) not in by_key:
                    raise HarnessError(f"answers: no answer from model {model!r} to {task.id}/{q.id}")
                keys.append((task.id, q.id, model))
                asks.append(Ask(prompt.render(q.question, input=q.input, reference=q.reference,
                                              answer=by_key[(model, task.id, q.id)]),
                                "single", (task.id, qi),
                                prompt.render(q.question, input=q.input, reference=q.reference)))
    return keys, asks


def battles_from_grades(grades: Sequence[Grade], models: Sequence[str]) -> list[Battle]:
    """On each question, every pair of graded models: the higher score wins, equal is a tie.

    >>> g = lambda m, s: Grade("t", "q1", m, s, "j", "generate", "p", "h", "")
    >>> [b.winner for b in battles_from_grades([g("x", 7), g("y", 4), g("z", None)], ["x", "y", "z"])]
    ['model_a']
    """
    scores: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    for g in grades:
        if g.score is not None:
            scores[(g.task, g.question_id, g.judge)][g.model] = g.score
    battles = []
    for (task, qid, judge), by_model in scores.items():
        for a, b in itertools.combinations([m for m in models if m in by_model], 2):
            sa, sb = by_model[a], by_model[b]
            winner = "model_a" if sa > sb else "model_b" if sb > sa else "tie"
            battles.append(Battle(a, b, winner, task, qid, judge))  # type: ignore[arg-type]
    return battles


@dataclass(frozen=True)
class MeanScore:
    """A model's average grade with a t-based 95% interval."""

    model: str
    mean: float
    lower: float
    upper: float
    n: int
    errors: int


def mean_scores(grades: Sequence[Grade], models: Sequence[str], confidence: float = 0.95) -> list[MeanScore]:
    """Average score per model, best first.

    >>> g = lambda s: Grade("t", "q", "x", s, "j", "generate", "p", "h", "")
    >>> m = mean_scores([g(6.0), g(8.0), g(None)], ["x"])[0]
    >>> (m.mean, m.n, m.errors, round(m.lower, 2), round(m.upper, 2))
    (7.0, 2, 1, -5.71, 19.71)
    """
    from scipy.stats import t as student_t

    out = []
    for model in models:
        mine = [g for g in grades if g.model == model]
        values = [g.score for g in mine if g.score is not None]
        n = len(values)
        mean = sum(values) / n if n else math.nan
        if n > 1:
            sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
            half = float(student_t.ppf(1 - (1 - confidence) / 2, n - 1)) * sd / math.sqrt(n)
        else:
            half = math.nan
        out.append(MeanScore(model, mean, mean - half, mean + half, n, len(mine) - n))
    return sorted(out, key=lambda s: (math.inf if math.isnan(s.mean) else -s.mean, s.model))
