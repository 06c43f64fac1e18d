"""Pairwise judging: every pair of models on every question, asked in both orders."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.core.errors import HarnessError
from harness.core.types import Answer, Judgment, JudgmentWinner, Order, Task
from harness.judges.asking import Ask, Judge, JudgeSettings, ask_judge, recorded_prompt
from harness.judges.prompts import JudgePrompt
from harness.models.cache import CallCache

__all__ = ["JudgeSettings", "Job", "make_jobs", "winner_for", "judge_jobs", "pair_asks"]


@dataclass(frozen=True)
class Job:
    """One comparison to judge: a question, a model pair and an order."""

    task: Task
    question_index: int
    model_a: str
    model_b: str
    order: Order
    answer_1: str
    answer_2: str


def make_jobs(tasks: Sequence[Task], models: Sequence[str], answers: Sequence[Answer]) -> list[Job]:
    """Every question x model pair x order; a missing answer is an error naming it."""
    by_key = {(a.model, a.task, a.question_id): a.answer for a in answers}
    jobs: list[Job] = []
    for task in tasks:
        for qi, q in enumerate(task.questions):
            for a, b in itertools.combinations(models, 2):
                try:
                    ans_a, ans_b = by_key[(a, task.id, q.id)], by_key[(b, task.id, q.id)]
                except KeyError as exc:
                    raise HarnessError(f"answers: no answer from model {exc.args[0][0]!r} to "
                                       f"{task.id}/{q.id}") from None
                jobs.append(Job(task, qi, a, b, "ab", ans_a, ans_b))
                jobs.append(Job(task, qi, a, b, "ba", ans_b, ans_a))
    return jobs


def winner_for(meaning: str, order: Order) -> JudgmentWinner:
    """Map a slot-level verdict back to the pair.

    >>> winner_for("better", "ab"), winner_for("better", "ba"), winner_for("equal", "ba")
    ('model_a', 'model_b', 'tie')
    """
    if meaning == "equal":
        return "tie"
    first_wins = meaning == "better"
    return "model_a" if first_wins == (order == "ab") else "model_b"


def judge_jobs(jobs: Sequence[Job], backend: Judge, prompt: JudgePrompt,
               settings: JudgeSettings, cache: CallCache,
               progress: Callable[[int], None] = lambda n: None) -> list[Judgment]:
    """Judge every job, reading from and writing to ``cache``; results in job order."""
    if not prompt.pairwise:
        raise HarnessError(f"judge prompt {prompt.name!r} grades single answers; it cannot compare pairs")
    method, verdicts = ask_judge(pair_asks(prompt, jobs), backend, prompt, settings, cache, progress)
    name, digest = recorded_prompt(backend, prompt)
    return [
        Judgment(task=j.task.id, question_id=j.task.questions[j.question_index].id,
                 model_a=j.model_a, model_b=j.model_b, order=j.order,
                 winner=winner_for(meaning, j.order) if meaning else "error", label=meaning or "",
                 judge=settings.spec, method=method, prompt=name, prompt_hash=digest, raw=raw,
                 attempts=attempts)
        for j, (meaning, raw, attempts) in zip(jobs, verdicts)
    ]


def pair_asks(prompt: JudgePrompt, jobs: Sequence[Job]) -> list[Ask]:
    """The judge's question for each job."""
    if not prompt.pairwise:
        raise HarnessError(f"judge prompt {prompt.name!r} grades single answers; it cannot compare pairs")
    asks = []
    for job in jobs:
        q = job.task.questions[job.question_index]
        asks.append(Ask(
            prompt.render(q.question, job.answer_1, job.answer_2, input=q.input, reference=q.reference),
            job.order, (job.task.id, job.question_index),
            prompt.render(q.question, "", "", input=q.input, reference=q.reference),
            (job.answer_1, job.answer_2), q.reference))
    return asks
