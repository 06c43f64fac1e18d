"""Pairwise judging: every pair of models on every question (and every judged turn of a
multi-turn question), asked in both orders."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from harness.core.errors import HarnessError
from harness.core.types import Answer, Judgment, JudgmentWinner, Order, Task
from harness.judges.asking import Ask, BuiltJudge, JudgeSettings, ask_judge, recorded_prompt
from harness.judges.conversation import answer_turns, judged_turns, pair_turn_ask
from harness.judges.prompts import JudgePrompt
from harness.models.cache import CallCache

__all__ = ["BuiltJudge", "JudgeSettings", "Job", "make_jobs", "winner_for", "judge_jobs", "pair_asks"]


@dataclass(frozen=True)
class Job:
    """One comparison to judge: a question (and turn), a model pair and an order."""

    task: Task
    question_index: int
    model_a: str
    model_b: str
    order: Order
    answer_1: str
    """The judged turn's answer in the first slot."""
    answer_2: str
    turn: int | None = None
    """The judged turn of a multi-turn question; None for a single-turn question."""
    turns_1: tuple[str, ...] = ()
    """Every answer of the first slot's conversation up to ``turn`` (multi-turn questions)."""
    turns_2: tuple[str, ...] = ()


def make_jobs(tasks: Sequence[Task], models: Sequence[str], answers: Sequence[Answer],
              turns: str = "each") -> list[Job]:
    """Every question x judged turn x model pair x order; a missing answer is an error naming it.
    ``turns`` (``each`` or ``last``) picks the judged turns of multi-turn questions."""
    by_key = {(a.model, a.task, a.question_id): a for a in answers}
    jobs: list[Job] = []
    for task in tasks:
        for qi, q in enumerate(task.questions):
            for a, b in itertools.combinations(models, 2):
                try:
                    ans_a, ans_b = by_key[(a, task.id, q.id)], by_key[(b, task.id, q.id)]
                except KeyError as exc:
                    raise HarnessError(f"answers: no answer from model {exc.args[0][0]!r} to "
                                       f"{task.id}/{q.id}") from None
                for turn in judged_turns(q, turns):
                    jobs += comparison_jobs(task, qi, ans_a, ans_b, turn)
    return jobs


def comparison_jobs(task: Task, question_index: int, answer_a: Answer, answer_b: Answer,
                    turn: int | None) -> tuple[Job, Job]:
    """Both orders (``ab``, ``ba``) of one comparison: a single-turn question (``turn`` None), or
    one turn of a multi-turn one with both conversations up to it."""
    a, b = answer_a.model, answer_b.model
    if turn is None:
        return (Job(task, question_index, a, b, "ab", answer_a.answer, answer_b.answer),
                Job(task, question_index, a, b, "ba", answer_b.answer, answer_a.answer))
    q = task.questions[question_index]
    ta, tb = answer_turns(answer_a, q, task.id)[:turn], answer_turns(answer_b, q, task.id)[:turn]
    return (Job(task, question_index, a, b, "ab", ta[-1], tb[-1], turn, ta, tb),
            Job(task, question_index, a, b, "ba", tb[-1], ta[-1], turn, tb, ta))


def winner_for(meaning: str, order: Order) -> JudgmentWinner:
    """Map a slot-level verdict back to the pair.

    >>> winner_for("better", "ab"), winner_for("better", "ba"), winner_for("equal", "ba")
    ('model_a', 'model_b', 'tie')
    """
    if meaning == "equal":
        return "tie"
    first_wins = meaning == "better"
    return "model_a" if first_wins == (order == "ab") else "model_b"


def soft_for(soft: Mapping[str, float], order: Order) -> tuple[float, float, float]:
    """Slot-level probabilities mapped back to the pair: (P(model_a wins), P(tie), P(model_b wins)).

    >>> soft_for({"better": 0.7, "equal": 0.2, "worse": 0.1}, "ba")
    (0.1, 0.2, 0.7)
    """
    first, second = soft.get("better", 0.0), soft.get("worse", 0.0)
    if order == "ba":
        first, second = second, first
    return (first, soft.get("equal", 0.0), second)


def judge_jobs(judge: BuiltJudge, jobs: Sequence[Job], *, cache: CallCache,
               progress: Callable[[int], None] = lambda n: None) -> list[Judgment]:
    """Judge every job, reading from and writing to ``cache``; results in job order. Jobs on a
    turn of a multi-turn question are judged with ``judge.turn_prompt`` (a turns prompt; see
    :func:`harness.judges.conversation.load_turn_prompt`), unless ``judge.prompt`` is one itself."""
    prompt, settings = judge.prompt, judge.settings
    if not prompt.pairwise:
        raise HarnessError(f"judge prompt {prompt.name!r} grades single answers; it cannot compare pairs")
    out: list[Judgment | None] = [None] * len(jobs)
    for used, wanted in prompt_groups(jobs, prompt, judge.turn_prompt):
        mine = [jobs[i] for i in wanted]
        method, verdicts = ask_judge(judge, pair_asks(used, mine), cache=cache, prompt=used,
                                     progress=progress)
        name, digest = recorded_prompt(judge.backend, used)
        for i, j, (meaning, raw, attempts, soft) in zip(wanted, mine, verdicts):
            out[i] = Judgment(task=j.task.id, question_id=j.task.questions[j.question_index].id,
                              model_a=j.model_a, model_b=j.model_b, order=j.order,
                              winner=winner_for(meaning, j.order) if meaning else "error",
                              label=meaning or "", judge=settings.spec, method=method, prompt=name,
                              prompt_hash=digest, raw=raw, attempts=attempts, turn=j.turn,
                              soft=soft_for(soft, j.order) if soft and meaning else None)
    return [j for j in out if j is not None]


def prompt_groups(jobs: Sequence[Job], prompt: JudgePrompt, turn_prompt: JudgePrompt | None
                  ) -> list[tuple[JudgePrompt, list[int]]]:
    """Which prompt judges which jobs (by index): ``prompt`` the single-turn questions, and
    ``turn_prompt`` the turns of multi-turn ones (``prompt`` judges all when it is a turns prompt,
    or when there is no ``turn_prompt``: then :func:`pair_asks` refuses a turn it cannot show)."""
    if turn_prompt is None or prompt.turns:
        return [(prompt, list(range(len(jobs))))] if jobs else []
    groups = [(prompt, [i for i, j in enumerate(jobs) if j.turn is None]),
              (turn_prompt, [i for i, j in enumerate(jobs) if j.turn is not None])]
    return [(used, wanted) for used, wanted in groups if wanted]


def pair_asks(prompt: JudgePrompt, jobs: Sequence[Job]) -> list[Ask]:
    """The judge's question for each job."""
    if not prompt.pairwise:
        raise HarnessError(f"judge prompt {prompt.name!r} grades single answers; it cannot compare pairs")
    asks = []
    for job in jobs:
        q = job.task.questions[job.question_index]
        if prompt.turns:
            asks.append(_turn_ask(prompt, job))
            continue
        if job.turn is not None:
            raise HarnessError(f"judge prompt {prompt.name!r} shows one answer per question; "
                               f"{job.task.id}/{q.id} has turns: use a turns prompt such as "
                               "multiturn_en")
        asks.append(Ask(
            prompt.render(q.question, job.answer_1, job.answer_2, input=q.input, reference=q.reference),
            job.order, (job.task.id, job.question_index),
            prompt.render(q.question, "", "", input=q.input, reference=q.reference),
            (job.answer_1, job.answer_2), q.reference))
    return asks


def _turn_ask(prompt: JudgePrompt, job: Job) -> Ask:
    q = job.task.questions[job.question_index]
    return pair_turn_ask(prompt, q, (job.task.id, job.question_index), job.order,
                         job.turns_1 or (job.answer_1,), job.turns_2 or (job.answer_2,))
