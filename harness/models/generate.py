"""The generation stage: every model answers every question, through the cache."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.core.errors import BackendError
from harness.core.notes import say_once
from harness.core.types import Answer, Message, ModelConfig, Question, Task
from harness.models import calls
from harness.models.adapters import keyed_spec
from harness.models.backends import load_backend
from harness.models.cache import CallCache

ProgressFactory = Callable[[int, str], Callable[[int], None]]


def user_text(instruction: str, input: str = "") -> str:
    """Alpaca's layout: the instruction, then its input. Fine-tuning formats data the same way."""
    return instruction if not input else f"{instruction}\n\n{input}"


def question_messages(question: Question, system_prompt: str = "") -> list[Message]:
    """The chat a candidate sees."""
    text = user_text(question.question, question.input)
    messages: list[Message] = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*messages, {"role": "user", "content": text}]


def turn_messages(question: Question, answers_so_far: Sequence[str],
                  system_prompt: str = "") -> list[Message]:
    """The chat a candidate sees when asked turn ``len(answers_so_far) + 1`` of ``question``.

    The earlier user turns alternate with ``answers_so_far``, the candidate's own answers to them:
    ``[system?, user turn 1, assistant answer 1, user turn 2, ...]``. With no earlier answers it is
    :func:`question_messages`, so turn 1 (and every single-turn question) is sent, and cached, as
    before multi-turn questions existed.

    >>> q = Question("q1", "Write a poem.", "writing", "", turns=("Shorter.",))
    >>> [m["role"] for m in turn_messages(q, ["Roses are red."], "Be brief.")]
    ['system', 'user', 'assistant', 'user']
    """
    user_turns = question.all_turns
    if len(answers_so_far) >= len(user_turns):
        raise ValueError(f"question {question.id} has {len(user_turns)} turns; "
                         f"{len(answers_so_far)} are answered already")
    messages = question_messages(question, system_prompt)
    for answer, turn in zip(answers_so_far, user_turns[1:]):
        messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": turn}]
    return messages


def generation_request(model: ModelConfig, messages: list[Message]) -> dict:
    """What determines an answer, hence its cache key (the display name does not). A LoRA adapter
    counts by its content, not its folder (:func:`harness.models.adapters.keyed_spec`): retrained
    weights are asked again, a moved adapter is not. Dry runs and batch exports build their keys
    here too, so they match the calls a run makes."""
    return {"spec": keyed_spec(model.spec), "decoding": model.decoding.to_row(), "messages": messages}


def generate_answers(tasks: Sequence[Task], models: Sequence[ModelConfig], cache: CallCache,
                     batch_size: int = 64, progress: ProgressFactory | None = None) -> list[Answer]:
    """Answers of every model to every question, in model, task, question order.

    Cached answers are reused. The rest are generated in batches by local models and concurrently
    by endpoints; each answer is committed to the cache as soon as it exists, so an interrupted
    run loses at most the batch or the requests in flight.

    A multi-turn question is asked turn by turn: turn 1 with every other question, then each later
    turn ``k`` in one batch per ``k``, in a conversation holding the earlier user turns and this
    model's own earlier answers (:func:`turn_messages`). Each turn is a cached call of its own whose
    key covers the whole conversation, hence the earlier answers.
    """
    items = [(t, q) for t in tasks for q in t.questions]
    total = sum(len(q.all_turns) for _, q in items)
    answers: list[Answer] = []
    failures: list[str] = []
    for model in models:
        backend = load_backend(model.spec)  # loads its weights or client only if a call is made
        tick = progress(total, f"generate {model.name}") if progress else (lambda n: None)
        so_far: list[list[str]] = [[] for _ in items]
        traces: list[list[str]] = [[] for _ in items]
        turn = 0
        while True:
            # A question whose earlier turn failed is asked no further: its conversation has a hole.
            asked = [i for i, (_, q) in enumerate(items)
                     if len(q.all_turns) > turn and len(so_far[i]) == turn]
            if not asked:
                break
            requests = [generation_request(model, turn_messages(items[i][1], so_far[i],
                                                                model.system_prompt))
                        for i in asked]
            # None: not answered now (a batch export records the call and answers nothing), so the
            # question is asked no further in this pass.
            replies: list[calls.Reply | None] = [None] * len(asked)
            for j, got in calls.generate(backend, requests, model.decoding, cache=cache,
                                         kind="generate", name=model.name, batch_size=batch_size,
                                         by_length=True, tags=model.reasoning_tags):
                replies[j] = got
                tick(1)
            for i, reply in zip(asked, replies):
                if reply is None:
                    continue
                if reply.failure:
                    task, question = items[i]
                    failures.append(f"{model.name} on {task.id}/{question.id} (turn {turn + 1}): "
                                    f"{reply.failure}")
                    continue
                # Later turns show the model its own earlier answers, without their reasoning (as
                # reasoning models' chat templates do).
                so_far[i].append(reply.text)
                traces[i].append(reply.reasoning)
            turn += 1
        answers.extend(
            Answer(model=model.name, task=t.id, question_id=q.id, answer=got[0] if got else "",
                   spec=model.spec, decoding=model.decoding.to_row(), turns=tuple(got[1:]),
                   reasoning=tuple(trace) if any(trace) else ())
            for (t, q), got, trace in zip(items, so_far, traces)
        )
        _say_only_traces(model.name, answers[-len(items):] if items else [])
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise BackendError(f"no answer from {failures[0]}{more}; every other answer is stored, and "
                           "a re-run with a larger --reasoning-cap asks only these")
    return answers


def _say_only_traces(model: str, answers: Sequence[Answer]) -> None:
    """One line when some answers are only a reasoning trace: the judge will see them empty."""
    empty = [f"{a.task}/{a.question_id}" for a in answers if a.only_trace]
    if empty:
        say_once(f"{model}: {len(empty)} of {len(answers)} answers are only a reasoning trace, with no "
                 f"answer after it (e.g. {empty[0]}); they are judged as empty answers (raise "
                 "max_new_tokens to let the model finish)")
