"""Asking a judge: render, read the verdict (or score the labels), re-ask, cache.

``generate`` judges write a reply whose last label is the verdict; a reply with no label is
re-asked (bounded) and, failing that, recorded as an error with its raw text. ``logprobs`` judges
are asked the same way, with the endpoint's likeliest tokens at each position: the verdict's
probabilities are read where the reply starts (:func:`harness.judges.verdict.soft_verdict`), the
hard verdict from its text as before; replies whose log-probabilities are no numbers in (-inf, 0]
keep that text verdict without probabilities, counted in one note. ``likelihood``
judges (small local models) pick the most likely label, so they always give a valid one.
``reference`` judges call no model: :mod:`harness.judges.reference` compares each answer with the
question's reference answer.
Used by pairwise judging and by single-answer grading alike, each given the judge built once
(:class:`BuiltJudge`: settings, backend, prompt, turns prompt) and the call site's cache.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from harness.core.errors import HarnessError
from harness.core.notes import say_once
from harness.core.types import DecodingParams, Message
from harness.judges.prompts import JudgePrompt
from harness.judges.reference import METHOD as REFERENCE_METHOD
from harness.judges.reference import ReferenceJudge, is_reference
from harness.judges.reference import create as create_reference
from harness.judges.verdict import (
    parse_structured,
    parse_verdict,
    soft_label_problem,
    soft_verdict,
    verdict_schema,
)
from harness.models import calls
from harness.models.backends import Backend, LabelScorer, LogprobStreamer, StructuredStreamer, load_backend
from harness.models.cache import CallCache

METHODS = ("auto", "generate", "likelihood", "logprobs", "json")
"""What a user may ask for; a reference judge's verdicts are recorded with method ``reference``."""
CHUNK = 16  # conversations per local batch: progress and cache commits stay frequent
TOP_LOGPROBS = 20
"""Alternatives asked for at each position by a ``logprobs`` judge (OpenAI's most): a label
outside them counts as probability 0."""


@dataclass(frozen=True)
class JudgeSettings:
    """How to judge: which model, which prompt, and how to read its verdict."""

    spec: str = "reference:chrf"
    """Backend spec of the judge model, or ``reference[:METRIC]`` for a judge with no model. The
    default compares each answer with the task's reference answer (chrF): offline, instant, and
    right about gibberish; an API judge is the one to trust on correctness."""
    prompt: str = "assignment_en"
    """Name of the judge prompt."""
    method: str = "auto"
    """``generate``, ``likelihood``, ``logprobs`` (generate, plus each verdict's probabilities from
    the endpoint's log-probabilities), ``json`` (generate, the reply asked for as JSON holding one of
    the labels, where the endpoint takes a JSON schema), or ``auto``: likelihood for local models,
    else generate."""
    max_attempts: int = 3
    """How many times a reply without a valid label is asked for again."""
    decoding: DecodingParams = field(
        default_factory=lambda: DecodingParams(max_new_tokens=512, temperature=0.0))
    """How the judge decodes (greedy by default, so verdicts repeat)."""
    turns: str = "each"
    """Multi-turn questions: ``each`` judges every turn (turn k with turns 1..k shown), ``last``
    only the last (the whole conversation shown)."""
    turn_prompt: str = ""
    """The turns prompt that judges multi-turn questions; empty: ``prompt`` itself when it is a
    turns prompt, else the built-in ``multiturn[_single]_LANG`` in ``prompt``'s language."""


@dataclass(frozen=True)
class Ask:
    """One question put to the judge."""

    messages: list[Message]
    slot: str
    """``ab`` / ``ba`` for the two orders of a comparison, ``single`` for a graded answer."""
    neutral_key: Hashable
    """Asks sharing this key share one content-free prompt (likelihood calibration)."""
    neutral_messages: list[Message]
    """The same prompt with the answers left empty."""
    answers: tuple[str, ...] = ()
    """The answers shown, in slot order (what a reference judge compares without a prompt)."""
    reference: str | None = None
    """The question's reference answer, if the task has one."""


class Verdict(NamedTuple):
    """What the judge said of one ask."""

    meaning: Any
    """The label's meaning or score; None on error."""
    raw: str
    """The raw reply (every attempt)."""
    attempts: int
    soft: Mapping[Any, float] | None = None
    """Each meaning's probability at the verdict position (``logprobs`` judges that could read
    it); None otherwise."""


Judge = Backend | ReferenceJudge
"""A judge model's backend, or a reference judge (no model)."""


@dataclass(frozen=True)
class BuiltJudge:
    """A judge made once and passed whole to every judging function (the way alpaca_eval's
    ``PairwiseAnnotator`` is built, then called): its settings, its backend, its prompt and the turns
    prompt for multi-turn questions. The next judge option is one more field here, not one more
    parameter in every signature. :func:`harness.judges.built.build_judges` makes it from settings
    and prompt folders.

    The call cache and the progress callback are not in it: they belong to one call site, not to
    the judge. A cache is an open file with the lifetime of a ``with`` block, and one judge is asked
    through different ones (a run's cache, a recheck's own per seed); a progress bar is sized to the
    one call it counts.
    """

    settings: JudgeSettings
    """How to judge (spec, prompt name, method, decoding, turns)."""
    backend: Judge
    """:func:`load_judge` of ``settings.spec``."""
    prompt: JudgePrompt
    """The judge prompt (single-turn questions, and all questions when it is a turns prompt)."""
    turn_prompt: JudgePrompt | None = None
    """The turns prompt for multi-turn questions
    (:func:`harness.judges.conversation.turn_prompt_for`); None when none is needed."""

    @property
    def spec(self) -> str:
        """The judge's spec, as its verdicts are recorded."""
        return self.settings.spec


def load_judge(spec: str) -> Judge:
    """The judge a spec names: ``reference[:METRIC]``, else a model backend spec."""
    return create_reference(spec) if is_reference(spec) else load_backend(spec)


def check_judge(settings: JudgeSettings, judge: Judge, prompt: JudgePrompt) -> None:
    """Raise before any work when ``judge`` (:func:`load_judge` of ``settings.spec``) cannot
    judge with this prompt and method."""
    method = resolve_method(settings, judge)
    if isinstance(judge, ReferenceJudge) and not prompt.pairwise:
        raise judge.cannot_grade()
    refused = getattr(judge, "refused_logprobs", None)
    if method == "logprobs" and refused is not None and refused():
        raise HarnessError(f"judge {refused()}")
    problem = soft_label_problem(prompt.labels) if method == "logprobs" and prompt.pairwise else ""
    if problem:
        raise HarnessError(f"judge prompt {prompt.name!r}: --judge-method logprobs reads the verdict "
                           f"from one token, but {problem}; use a one-token prompt such as "
                           "verdict_token_en")


def recorded_prompt(judge: Judge, prompt: JudgePrompt) -> tuple[str, str]:
    """The name and hash a verdict is recorded under: the prompt's, or the reference metric's
    (a reference judge never reads the prompt)."""
    if isinstance(judge, ReferenceJudge):
        return judge.name, judge.hash
    return prompt.name, prompt.hash


def resolve_method(settings: JudgeSettings, backend: Judge) -> str:
    if settings.method not in METHODS:
        raise HarnessError(f"judge method {settings.method!r}: use one of {', '.join(METHODS)}")
    if isinstance(backend, ReferenceJudge):
        if settings.method != "auto":
            raise HarnessError(f"judge {settings.spec!r} compares answers with the reference; "
                               f"--judge-method {settings.method} does not apply to it")
        return REFERENCE_METHOD
    if settings.method == "auto":
        return "likelihood" if isinstance(backend, LabelScorer) else "generate"
    if settings.method == "likelihood" and not isinstance(backend, LabelScorer):
        raise HarnessError(f"judge {settings.spec!r} cannot score labels; use --judge-method generate")
    if settings.method == "logprobs" and not isinstance(backend, LogprobStreamer):
        say_once(f"judge {settings.spec}: this backend returns no log-probabilities (an "
                  "OpenAI-compatible endpoint does); its verdicts are read from the text alone "
                  "(method generate)")
        return "generate"
    if settings.method == "json" and not isinstance(backend, StructuredStreamer):
        say_once(f"judge {settings.spec}: this backend cannot be asked for JSON (an OpenAI-compatible "
                 "endpoint can); its verdicts are read from the text alone (method generate)")
        return "generate"
    return settings.method


def ask_judge(judge: BuiltJudge, asks: Sequence[Ask], *, cache: CallCache,
              prompt: JudgePrompt | None = None, progress: Callable[[int], None] = lambda n: None
              ) -> tuple[str, list[Verdict]]:
    """The method used and one verdict per ask, reading from and writing to ``cache``. ``prompt``:
    the one the asks were rendered with (``judge.prompt`` if None, or ``judge.turn_prompt``)."""
    backend, settings = judge.backend, judge.settings
    prompt = judge.prompt if prompt is None else prompt
    method = resolve_method(settings, backend)
    if isinstance(backend, ReferenceJudge):
        return method, [Verdict(*v) for v in
                        backend.verdicts([(a.answers, a.reference) for a in asks], progress)]
    base = _base(settings, prompt, method)
    if method == "likelihood":
        verdicts, malformed = _by_likelihood(asks, backend, prompt, base, cache, progress)
    else:
        verdicts, malformed = _by_generation(asks, backend, prompt, settings, base, cache, progress)
    if malformed:
        counted = ("verdicts are errors" if method == "likelihood"
                   else "verdicts count by their text alone")
        say_once(f"judge {settings.spec}, prompt {prompt.name}: {len(malformed)} of {len(verdicts)} "
                 f"replies had malformed log-probabilities ({malformed[0]}); their {counted}")
    unread = sum(v.meaning is not None and v.soft is None for v in verdicts) - len(malformed)
    if method == "logprobs" and unread > 0:
        say_once(f"judge {settings.spec}, prompt {prompt.name}: {unread} of {len(verdicts)} verdicts "
                  "have no probabilities (the endpoint returned no log-probabilities, or the reply "
                  "did not start with a label); they count by their text alone")
    return method, verdicts


def _base(settings: JudgeSettings, prompt: JudgePrompt, method: str) -> dict[str, Any]:
    """What every request of this judge shares (and its cache key depends on)."""
    base: dict[str, Any] = {"judge": settings.spec, "method": method, "prompt": prompt.name,
                            "prompt_hash": prompt.hash}
    if method in ("generate", "logprobs"):
        base["decoding"] = settings.decoding.to_row()
    if method == "logprobs":
        base["top_logprobs"] = TOP_LOGPROBS
    if method == "json":
        base["decoding"] = settings.decoding.to_row()
        base["response_format"] = verdict_schema(prompt.labels)
    return base


def _request(base: dict[str, Any], messages: list[Message], slot: str, labels: list[str] | None
             ) -> dict[str, Any]:
    extra = {"labels": labels} if labels is not None else {}
    return {**base, "order": slot, "messages": messages, **extra}


def planned_requests(asks: Sequence[Ask], settings: JudgeSettings, prompt: JudgePrompt,
                     method: str) -> list[dict[str, Any]]:
    """The first-attempt requests :func:`ask_judge` would send (re-asks not included), for
    ``--dry-run``; a likelihood judge adds one content-free request per neutral key."""
    if method == REFERENCE_METHOD:
        return []  # no model is called
    base = _base(settings, prompt, method)
    if method != "likelihood":
        return [_request(base, a.messages, a.slot, None) for a in asks]
    labels = list(prompt.labels)
    neutral = {a.neutral_key: _request(base, a.neutral_messages, "content-free", labels) for a in asks}
    return [_request(base, a.messages, a.slot, labels) for a in asks] + list(neutral.values())


def _by_likelihood(asks: Sequence[Ask], backend: Backend, prompt: JudgePrompt, base: dict[str, Any],
                   cache: CallCache, progress: Callable[[int], None]) -> tuple[list[Verdict], list[str]]:
    """Contextually calibrated label likelihoods (Zhao et al., 2021, "Calibrate Before Use"), and
    what was wrong with each score that was no log-probability.

    A small model's raw label probabilities mostly reflect the labels themselves (SmolLM2-135M
    says "better" whatever the answers). Subtracting each label's log-probability under the same
    prompt with the answers left empty keeps only what the answers changed. A score that is no
    number in (-inf, 0] (NaN from overflowing logits) leaves no label to pick: an error verdict.
    """
    assert isinstance(backend, LabelScorer)
    labels = list(prompt.labels)

    def scores(messages: list[Message], slot: str) -> list[float | None]:
        return calls.label_logprobs(backend, _request(base, messages, slot, labels), labels, cache=cache,
                                    kind="judge", spec=base["judge"])

    neutral: dict[Hashable, list[float | None]] = {}
    out: list[Verdict] = []
    malformed: list[str] = []
    for ask in asks:
        if ask.neutral_key not in neutral:
            neutral[ask.neutral_key] = scores(ask.neutral_messages, "content-free")
        raw, free = scores(ask.messages, ask.slot), neutral[ask.neutral_key]
        known = [(r, n) for r, n in zip(raw, free) if r is not None and n is not None]
        if len(known) < len(labels):
            bad = next((lab for lab, r, n in zip(labels, raw, free) if r is None or n is None),
                       labels[len(known)])  # or a backend that scored fewer labels than asked
            problem = f"label {bad!r}: the model's score is not a number in (-inf, 0]"
            malformed.append(problem)
            out.append(Verdict(None, f"[likelihood: {problem}]", 1))
            progress(1)
            continue
        shifted = [r - n for r, n in known]
        best = max(range(len(labels)), key=lambda i: shifted[i])
        detail = "; ".join(f"{lab}: {r:.3f} - {n:.3f} = {d:+.3f}"
                           for lab, (r, n), d in zip(labels, known, shifted))
        out.append(Verdict(
            prompt.labels[labels[best]],
            f"{labels[best]}\n[calibrated likelihood: logprob - content-free logprob] {detail}", 1))
        progress(1)
    return out, malformed


def _by_generation(asks: Sequence[Ask], backend: Backend, prompt: JudgePrompt,
                   settings: JudgeSettings, base: dict[str, Any], cache: CallCache,
                   progress: Callable[[int], None]) -> tuple[list[Verdict], list[str]]:
    """Verdicts read from the judge's replies, each re-asked (bounded) until it holds a label, and
    why each verdict's log-probabilities were malformed (:attr:`calls.Reply.top_problem`).

    A reasoning judge's trace is kept in the raw reply but never parsed: a label it weighed while
    thinking is not its verdict. A reply with no answer at all (cut off while reasoning at the
    largest budget allowed) is an error with that reason at once; asking again would pay for the
    same failure.
    """
    replies: list[list[str]] = [[] for _ in asks]
    meanings: list[Any] = [None] * len(asks)
    softs: list[Mapping[Any, float] | None] = [None] * len(asks)
    problems: list[str] = [""] * len(asks)
    pending = {i: ask.messages for i, ask in enumerate(asks)}
    read = parse_structured if "response_format" in base else parse_verdict
    for attempt in range(1, settings.max_attempts + 1):
        requests = {i: _request(base, c, asks[i].slot, None) for i, c in pending.items()}
        order = list(requests)
        failed: set[int] = set()
        for j, reply in _replies(backend, [requests[i] for i in order], settings, base, cache):
            i = order[j]
            replies[i].append(_shown(reply))
            meaning = read(reply.text, prompt.labels) if not reply.failure else None
            if meaning is not None:
                meanings[i] = meaning
                softs[i] = soft_verdict(reply.top, prompt.labels) if reply.top else None
                problems[i] = reply.top_problem
                progress(1)
            elif reply.failure:
                failed.add(i)
                progress(1)
            elif attempt < settings.max_attempts:
                # Show the judge its own answer (not its reasoning) and ask for the label alone.
                pending[i] = [*pending[i], {"role": "assistant", "content": reply.text},
                              prompt.retry_message()]
            else:
                progress(1)
        pending = {i: c for i, c in pending.items()
                   if meanings[i] is None and i not in failed and attempt < settings.max_attempts}
        if not pending:
            break
    sep = "\n\n--- re-asked ---\n\n"
    return ([Verdict(m, sep.join(r), len(r), p) for m, r, p in zip(meanings, replies, softs)],
            [p for p in problems if p])


def _shown(reply: calls.Reply) -> str:
    """A reply as a judgment keeps it for people: the text as written (a separate reasoning field
    first, marked), or why there was none."""
    if reply.failure:
        return f"[no reply: {reply.failure}]"
    if reply.reasoning and reply.reasoning not in reply.raw:
        return f"[reasoning]\n{reply.reasoning}\n[answer]\n{reply.raw}"
    return reply.raw


def _replies(backend: Backend, requests: list[dict[str, Any]], settings: JudgeSettings,
             base: dict[str, Any], cache: CallCache) -> Iterator[tuple[int, calls.Reply]]:
    """``(index, reply)``, with the likeliest tokens when the requests ask for them."""
    if "top_logprobs" in base:
        yield from calls.generate_scored(backend, requests, settings.decoding, cache=cache, kind="judge",
                                         top_logprobs=base["top_logprobs"])
        return
    schema = base.get("response_format")
    yield from calls.generate(backend, requests, settings.decoding, cache=cache, kind="judge",
                              batch_size=CHUNK, schema=schema)
