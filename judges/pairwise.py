"""Pairwise judging: every pair of models on every question, asked in both orders.

``generate`` judges write a reply whose last label is the verdict; a reply with no label is
re-asked (bounded) and, failing that, recorded as ``error`` with its raw text. ``likelihood``
judges (small local models) pick the most likely label, so they always give a valid one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.backends import Backend, LabelScorer
from harness.cache import CallCache
from harness.errors import HarnessError
from harness.types import Answer, DecodingParams, Judgment, JudgmentWinner, Message, Order, Task
from judges.prompts import JudgePrompt
from judges.verdict import parse_verdict

METHODS = ("auto", "generate", "likelihood")
CHUNK = 16  # conversations per backend call: progress and cache commits stay frequent


@dataclass(frozen=True)
class JudgeSettings:
    """How to judge: which model, which prompt, and how to read its verdict."""

    spec: str = "embedded"
    """Backend spec of the judge model."""
    prompt: str = "assignment_en"
    """Name of the judge prompt."""
    method: str = "auto"
    """``generate``, ``likelihood``, or ``auto``: likelihood for local models, else generate."""
    max_attempts: int = 3
    """How many times a reply without a valid label is asked for again."""
    decoding: DecodingParams = field(
        default_factory=lambda: DecodingParams(max_new_tokens=512, temperature=0.0))
    """How the judge decodes (greedy by default, so verdicts repeat)."""


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


def resolve_method(settings: JudgeSettings, backend: Backend) -> str:
    if settings.method not in METHODS:
        raise HarnessError(f"judge method {settings.method!r}: use one of {', '.join(METHODS)}")
    if settings.method == "auto":
        return "likelihood" if isinstance(backend, LabelScorer) else "generate"
    if settings.method == "likelihood" and not isinstance(backend, LabelScorer):
        raise HarnessError(f"judge {settings.spec!r} cannot score labels; use --judge-method generate")
    return settings.method


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


def judge_jobs(jobs: Sequence[Job], backend: Backend, prompt: JudgePrompt,
               settings: JudgeSettings, cache: CallCache,
               progress: Callable[[int], None] = lambda n: None) -> list[Judgment]:
    """Judge every job, reading from and writing to ``cache``; results in job order."""
    method = resolve_method(settings, backend)
    convs = [_render(prompt, j) for j in jobs]
    base: dict[str, Any] = {"judge": settings.spec, "method": method, "prompt": prompt.name,
            "prompt_hash": prompt.hash}
    if method == "likelihood":
        results = _by_likelihood(jobs, convs, backend, prompt, base, cache, progress)
    else:
        base["decoding"] = settings.decoding.to_row()
        results = _by_generation(jobs, convs, backend, prompt, settings, base, cache, progress)
    return [
        Judgment(task=j.task.id, question_id=j.task.questions[j.question_index].id,
                 model_a=j.model_a, model_b=j.model_b, order=j.order,
                 winner=winner_for(meaning, j.order) if meaning else "error", label=meaning or "",
                 judge=settings.spec, method=method, prompt=prompt.name, prompt_hash=prompt.hash,
                 raw=raw, attempts=attempts)
        for j, (meaning, raw, attempts) in zip(jobs, results)
    ]


def _render(prompt: JudgePrompt, job: Job) -> list[Message]:
    q = job.task.questions[job.question_index]
    return prompt.render(q.question, job.answer_1, job.answer_2, input=q.input,
                         reference=q.reference)


def _by_likelihood(jobs: Sequence[Job], convs: list[list[Message]], backend: Backend,
                   prompt: JudgePrompt, base: dict, cache: CallCache,
                   progress: Callable[[int], None]) -> list[tuple[str, str, int]]:
    """Contextually calibrated label likelihoods (Zhao et al., 2021, "Calibrate Before Use").

    A small model's raw label probabilities mostly reflect the labels themselves (SmolLM2-135M
    says "better" whatever the answers). Subtracting each label's log-probability under the same
    prompt with both answers left empty keeps only what the answers changed.
    """
    assert isinstance(backend, LabelScorer)
    labels = list(prompt.labels)

    def scores(messages: list[Message], order: str) -> list[float]:
        request = {**base, "order": order, "messages": messages, "labels": labels}
        found = cache.get("judge", request)
        if found is None:
            found = backend.label_logprobs(messages, labels)
            cache.put("judge", request, found)
        return found

    neutral_by_question: dict[tuple[str, int], list[float]] = {}
    out = []
    for job, conv in zip(jobs, convs):
        key = (job.task.id, job.question_index)
        if key not in neutral_by_question:
            q = job.task.questions[job.question_index]
            empty = prompt.render(q.question, "", "", input=q.input, reference=q.reference)
            neutral_by_question[key] = scores(empty, "content-free")
        raw, neutral = scores(conv, job.order), neutral_by_question[key]
        shifted = [r - n for r, n in zip(raw, neutral)]
        best = max(range(len(labels)), key=lambda i: shifted[i])
        detail = "; ".join(f"{lab}: {r:.3f} - {n:.3f} = {d:+.3f}"
                           for lab, r, n, d in zip(labels, raw, neutral, shifted))
        out.append((prompt.labels[labels[best]],
                    f"{labels[best]}\n[calibrated likelihood: logprob - content-free logprob] {detail}", 1))
        progress(1)
    return out


def _by_generation(jobs: Sequence[Job], convs: list[list[Message]], backend: Backend,
                   prompt: JudgePrompt, settings: JudgeSettings, base: dict, cache: CallCache,
                   progress: Callable[[int], None]) -> list[tuple[str, str, int]]:
    replies: list[list[str]] = [[] for _ in jobs]
    meanings: list[str] = [""] * len(jobs)
    pending = {i: conv for i, conv in enumerate(convs)}
    for attempt in range(1, settings.max_attempts + 1):
        requests = {i: {**base, "order": jobs[i].order, "messages": c} for i, c in pending.items()}
        for i, reply in _cached_generate(requests, backend, settings.decoding, cache):
            replies[i].append(reply)
            meaning = parse_verdict(reply, prompt.labels)
            if meaning is not None:
                meanings[i] = meaning
                progress(1)
            elif attempt < settings.max_attempts:
                # Show the judge its own reply and ask for the label alone.
                pending[i] = [*pending[i], {"role": "assistant", "content": reply},
                              prompt.retry_message()]
            else:
                progress(1)
        pending = {i: c for i, c in pending.items() if not meanings[i] and attempt < settings.max_attempts}
        if not pending:
            break
    sep = "\n\n--- re-asked ---\n\n"
    return [(m, sep.join(r), len(r)) for m, r in zip(meanings, replies)]


def _cached_generate(requests: dict[int, dict], backend: Backend, params: DecodingParams,
                     cache: CallCache) -> Iterator[tuple[int, str]]:
    misses = []
    for i, req in requests.items():
        hit = cache.get("judge", req)
        if hit is None:
            misses.append(i)
        else:
            yield i, hit
    for start in range(0, len(misses), CHUNK):
        chunk = misses[start : start + CHUNK]
        for i, reply in zip(chunk, backend.generate([requests[i]["messages"] for i in chunk], params)):
            cache.put("judge", requests[i], reply)
            yield i, reply
