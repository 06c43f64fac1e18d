"""Single-answer grading: each answer scored alone (e.g. 1-10) by a judge.

Averaging the grades and turning them into battles (so the same Bradley-Terry and Elo
leaderboard works for graded runs) is arithmetic: ``harness.stats.grades``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.core.errors import HarnessError
from harness.core.types import Answer, Grade, Task
from harness.judges.asking import Ask, Judge, JudgeSettings, ask_judge
from harness.judges.prompts import JudgePrompt
from harness.models.cache import CallCache


def grade_answers(tasks: Sequence[Task], models: Sequence[str], answers: Sequence[Answer],
                  backend: Judge, prompt: JudgePrompt, settings: JudgeSettings, cache: CallCache,
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
                                prompt.render(q.question, input=q.input, reference=q.reference),
                                (by_key[(model, task.id, q.id)],), q.reference))
    return keys, asks
