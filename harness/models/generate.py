"""The generation stage: every model answers every question, through the cache."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.core.types import Answer, Message, ModelConfig, Question, Task
from harness.models import calls
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


def generation_request(model: ModelConfig, messages: list[Message]) -> dict:
    """What determines an answer, hence its cache key (the display name does not)."""
    return {"spec": model.spec, "decoding": model.decoding.to_row(), "messages": messages}


def generate_answers(tasks: Sequence[Task], models: Sequence[ModelConfig], cache: CallCache,
                     batch_size: int = 64, progress: ProgressFactory | None = None) -> list[Answer]:
    """Answers of every model to every question, in model, task, question order.

    Cached answers are reused. The rest are generated in batches by local models and concurrently
    by endpoints; each answer is committed to the cache as soon as it exists, so an interrupted
    run loses at most the batch or the requests in flight.
    """
    items = [(t, q) for t in tasks for q in t.questions]
    answers: list[Answer] = []
    for model in models:
        requests = [generation_request(model, question_messages(q, model.system_prompt))
                    for _, q in items]
        texts: list[str | None] = [None] * len(items)
        tick = progress(len(items), f"generate {model.name}") if progress else (lambda n: None)
        # The backend loads its weights or client only if a request is not cached.
        for i, text in calls.generate(load_backend(model.spec), requests, model.decoding, cache=cache,
                                      kind="generate", name=model.name, batch_size=batch_size,
                                      by_length=True):
            texts[i] = text
            tick(1)
        answers.extend(
            Answer(model=model.name, task=t.id, question_id=q.id, answer=text or "",
                   spec=model.spec, decoding=model.decoding.to_row())
            for (t, q), text in zip(items, texts)
        )
    return answers
