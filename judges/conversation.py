"""Multi-turn questions in judging: which turns are judged, and the conversations a judge sees.

A multi-turn question (MT-Bench style) is judged turn by turn (``each``, the default) or at its
last turn only (``last``); turn k is judged with turns 1..k of both conversations shown. A
single-turn question is judged once, as before turns existed (its turn is None). Not handled here:
rendering (the prompt's template lays the conversations out) and counting (``harness.stats``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.types import Answer, Question, Task
from harness.judges.asking import Ask, JudgeSettings
from harness.judges.prompts import JudgePrompt, load_prompt, turn_record

TURNS = ("each", "last")
"""``each``: one judgment per turn; ``last``: the last turn only (the whole conversation shown)."""


def check_turns(turns: str, where: str = "--turns") -> str:
    if turns not in TURNS:
        raise HarnessError(f"{where}: {turns!r} is not one of {', '.join(TURNS)}")
    return turns


def has_turns(task_list: Sequence[Task]) -> bool:
    """Whether any question of ``task_list`` is multi-turn (and so needs a turns prompt)."""
    return any(q.is_multi_turn for t in task_list for q in t.questions)


def judged_turns(question: Question, turns: str) -> tuple[int | None, ...]:
    """The turns of ``question`` to judge: ``(None,)`` for a single-turn question.

    >>> q = Question("q1", "Write a poem.", "writing", "", turns=("Shorter.", "In French."))
    >>> judged_turns(q, "each"), judged_turns(q, "last")
    ((1, 2, 3), (3,))
    """
    if not question.is_multi_turn:
        return (None,)
    count = len(question.all_turns)
    return tuple(range(1, count + 1)) if check_turns(turns) == "each" else (count,)


def answer_turns(answer: Answer, question: Question, task: str) -> tuple[str, ...]:
    """Every turn's answer, checked against the question's number of turns (an answer file made
    before a turn was added, or imported with fewer turns, is an error naming it, never judged as
    if the missing turn were empty)."""
    got, want = answer.all_turns, len(question.all_turns)
    if len(got) != want:
        raise HarnessError(f"answers: model {answer.model!r} answered {len(got)} turn(s) of "
                           f"{task}/{question.id}, which has {want}; generate the answers again")
    return got


def conversation(question: Question, answers: Sequence[str], turn: int | None) -> list[dict[str, str]]:
    """The conversation up to ``turn`` (all of a single-turn question) as a turns template sees it."""
    upto = turn or 1
    return [turn_record(user, assistant, reference) for user, assistant, reference
            in zip(question.all_turns[:upto], answers[:upto], question.all_references[:upto])]


ONE_TOKEN_TURNS = {"verdict_token_en": "verdict_token_turns_en", "verdict_token_zh": "verdict_token_turns_zh"}
"""The built-in one-token prompts' turns versions, so ``--judge-method logprobs`` reads
probabilities on multi-turn questions too."""


def turn_prompt_name(prompt: JudgePrompt) -> str:
    """The built-in turns prompt that judges multi-turn questions for a run judged with ``prompt``:
    ``prompt`` itself when it shows conversations, the one-token turns prompt for a one-token
    prompt (:data:`ONE_TOKEN_TURNS`), else ``multiturn[_single]_LANG`` in its language."""
    if prompt.turns:
        return prompt.name
    if prompt.name in ONE_TOKEN_TURNS:
        return ONE_TOKEN_TURNS[prompt.name]
    language = "zh" if prompt.language.startswith("zh") else "en"
    return f"multiturn_{language}" if prompt.pairwise else f"multiturn_single_{language}"


def load_turn_prompt(settings: JudgeSettings, prompt: JudgePrompt,
                     prompts_dirs: Sequence[Path] = ()) -> JudgePrompt:
    """The prompt that judges the multi-turn questions of a judge using ``prompt``: the judge's
    ``turn_prompt`` if set, else :func:`turn_prompt_name`; it must show conversations and give
    the same kind of verdict (pairwise or a grade) as ``prompt``."""
    name = settings.turn_prompt or turn_prompt_name(prompt)
    found = prompt if name == prompt.name else load_prompt(name, prompts_dirs)
    if not found.turns:
        raise HarnessError(f"turn prompt {name!r} is a {found.mode} prompt; multi-turn questions "
                           "need a pairwise_turns or single_turns prompt (e.g. multiturn_en)")
    if found.pairwise != prompt.pairwise:
        raise HarnessError(f"turn prompt {name!r} ({found.mode}) and judge prompt {prompt.name!r} "
                           f"({prompt.mode}) give different kinds of verdict; pick a matching pair")
    return found


def pair_turn_ask(prompt: JudgePrompt, question: Question, neutral_key: tuple[str, int], slot: str,
                  answers_1: Sequence[str], answers_2: Sequence[str]) -> Ask:
    """The judge's question on the last turn of two conversations (each assistant's answers up to
    the judged turn), shown whole and apart by a turns ``prompt``. The content-free version
    (likelihood calibration) leaves every assistant message empty."""
    turn = len(answers_1)
    user, reference = question.all_turns[turn - 1], question.all_references[turn - 1]

    def render(one: Sequence[str], two: Sequence[str]) -> list:
        return prompt.render(user, one[-1], two[-1], input=question.input, reference=reference,
                             turn=turn, conversation_1=conversation(question, one, turn),
                             conversation_2=conversation(question, two, turn))

    blank = ("",) * turn
    return Ask(render(answers_1, answers_2), slot, (*neutral_key, turn), render(blank, blank),
               (answers_1[-1], answers_2[-1]), reference)


def turn_prompt_for(settings: JudgeSettings, prompt: JudgePrompt, task_list: Sequence[Task],
                    prompts_dirs: Sequence[Path] = ()) -> JudgePrompt | None:
    """:func:`load_turn_prompt` where it is needed: when ``task_list`` has a multi-turn question, or
    when the judge names a turn prompt (loaded even if unused, so a misspelt name is an error rather
    than silently ignored); else None."""
    if not (settings.turn_prompt or has_turns(task_list)):
        return None
    return load_turn_prompt(settings, prompt, prompts_dirs)
