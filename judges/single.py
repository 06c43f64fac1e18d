"""Single-answer grading: each answer scored alone (e.g. 1-10) by a judge.

Averaging the grades and turning them into battles (so the same Bradley-Terry and Elo
leaderboard works for graded runs) is arithmetic: ``harness.stats.grades``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.core.errors import HarnessError
from harness.core.types import Answer, Grade, Task
from harness.judges.asking import Ask, BuiltJudge, ask_judge
from harness.judges.conversation import answer_turns, conversation, judged_turns
from harness.judges.prompts import JudgePrompt
from harness.models.cache import CallCache


def grade_answers(judge: BuiltJudge, *, tasks: Sequence[Task], models: Sequence[str],
                  answers: Sequence[Answer], cache: CallCache,
                  progress: Callable[[int], None] = lambda n: None) -> list[Grade]:
    """One grade per model and question (and judged turn, ``judge.settings.turns``): the
    single-turn questions' first, then the multi-turn questions' (each in task, question, turn,
    model order), these graded with ``judge.turn_prompt`` (a turns prompt; ``judge.prompt`` if None)."""
    prompt, turns = judge.prompt, judge.settings.turns
    turn_prompt = judge.turn_prompt or prompt
    keys, asks = grade_asks(tasks, models, answers, prompt, turns=turns, single_turn=True)
    turn_keys, turn_asks = grade_asks(tasks, models, answers, turn_prompt, turns=turns, single_turn=False)
    out: list[Grade] = []
    for used, these, those in ((prompt, keys, asks), (turn_prompt, turn_keys, turn_asks)):
        if not those:
            continue
        method, verdicts = ask_judge(judge, those, cache=cache, prompt=used, progress=progress)
        out += [Grade(task=t, question_id=q, model=m, score=None if s is None else float(s),
                      judge=judge.spec, method=method, prompt=used.name, prompt_hash=used.hash,
                      raw=raw, attempts=attempts, turn=turn)
                for (t, q, turn, m), (s, raw, attempts, _) in zip(these, verdicts)]
    return out


GradeKey = tuple[str, str, "int | None", str]
"""(task, question id, turn, model)."""


def grade_asks(tasks: Sequence[Task], models: Sequence[str], answers: Sequence[Answer],
               prompt: JudgePrompt, *, turns: str = "each", single_turn: bool | None = None
               ) -> tuple[list[GradeKey], list[Ask]]:
    """(task, question id, turn, model) and the judge's question, for every answer to grade:
    with ``single_turn`` True or False, only the single-turn or only the multi-turn questions."""
    if prompt.pairwise:
        raise HarnessError(f"judge prompt {prompt.name!r} compares pairs; it cannot grade single answers")
    by_key = {(a.model, a.task, a.question_id): a for a in answers}
    keys: list[GradeKey] = []
    asks: list[Ask] = []
    for task in tasks:
        for qi, q in enumerate(task.questions):
            if single_turn is not None and single_turn == q.is_multi_turn:
                continue
            for turn in judged_turns(q, turns):
                for model in models:
                    if (model, task.id, q.id) not in by_key:
                        raise HarnessError(f"answers: no answer from model {model!r} to {task.id}/{q.id}")
                    keys.append((task.id, q.id, turn, model))
                    asks.append(_ask(prompt, task, qi, turn, by_key[(model, task.id, q.id)]))
    return keys, asks


def _ask(prompt: JudgePrompt, task: Task, qi: int, turn: int | None, answer: Answer) -> Ask:
    q = task.questions[qi]
    if not prompt.turns:
        if turn is not None:
            raise HarnessError(f"judge prompt {prompt.name!r} shows one answer per question; "
                               f"{task.id}/{q.id} has turns: use a turns prompt such as "
                               "multiturn_single_en")
        return Ask(prompt.render(q.question, input=q.input, reference=q.reference, answer=answer.answer),
                   "single", (task.id, qi), prompt.render(q.question, input=q.input, reference=q.reference),
                   (answer.answer,), q.reference)
    mine = answer_turns(answer, q, task.id) if q.is_multi_turn else (answer.answer,)
    upto = turn or 1
    user, reference = q.all_turns[upto - 1], q.all_references[upto - 1]

    def render(texts: Sequence[str]) -> list:
        return prompt.render(user, input=q.input, reference=reference, answer=texts[upto - 1],
                             turn=upto, conversation=conversation(q, texts, upto))

    return Ask(render(mine), "single", (task.id, qi, upto), render(("",) * upto),
               (mine[upto - 1],), reference)
