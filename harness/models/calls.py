"""The one cached-call layer: every model call is looked up, made and committed here.

Callers pass requests, never touch the cache: a request is a JSON-able mapping whose
``messages`` are what the model is sent and whose other fields are everything else that
determines the reply (spec, decoding, prompt hash...), so the whole request is the cache key.
Generation, judging, the bias probes and ``harness prompts test`` all call through this module,
which is why a re-run makes no call twice and an interrupted run loses only the calls in flight:
each reply is committed the moment it arrives.

Every reply is made storable before it is committed: a lone surrogate (half of a UTF-16 pair,
valid in JSON as ``"\\ud800"``, not encodable as UTF-8) becomes U+FFFD, counted per stage in the
cache (:attr:`CallCache.repaired`), and log-probabilities that are not numbers in (-inf, 0]
(``800``, ``Infinity``, NaN, a string) are not kept: the reply keeps its text and says why
(:attr:`Reply.top_problem`), so no file ever holds a non-finite number and a re-run pays nothing.

Not handled here: what a reply means (verdict parsing and re-asking are ``harness.judges``),
progress display, and endpoint limits and retries (``harness.models.endpoints`` and the backends).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.core.text import valid_unicode
from harness.core.types import Completion, DecodingParams, TokenAlternatives
from harness.models import endpoints, reasoning
from harness.models.backends import Backend, LabelScorer, completions
from harness.models.cache import CallCache, cache_key

Request = Mapping[str, Any]
"""Everything that determines one reply; ``request["messages"]`` is the conversation sent."""


@dataclass(frozen=True)
class Miss:
    """One call the cache does not hold, as a router (:func:`routed`) is handed it."""

    kind: str
    """The cache stage (``generate``, ``judge``)."""
    key: str
    """Its cache key: the batch files' ``custom_id``."""
    request: Request
    name: str
    """The model or judge the usage report books it to."""
    messages: list[Any]
    params: DecodingParams
    top_logprobs: int
    schema: Mapping[str, Any] | None


Router = Callable[[Backend, Sequence[Miss], CallCache], "Iterator[tuple[int, Completion]] | None"]
"""Answers the misses of one call of the stage instead of the backend's own streaming: ``(index
into the misses, completion)`` for each one answered; a miss it does not answer stays a miss (the
stage goes on without it); None declines the backend (its own calls answer). Batch files and
provider Batch APIs are routers (:mod:`harness.models.batch`, :mod:`harness.models.batch_api`)."""

_ROUTER: contextvars.ContextVar[Router | None] = contextvars.ContextVar("harness_router", default=None)


@contextlib.contextmanager
def routed(router: Router) -> Iterator[None]:
    """Every cache miss inside the block goes to ``router``, not to the backend's own calls."""
    token = _ROUTER.set(router)
    try:
        yield
    finally:
        _ROUTER.reset(token)


@dataclass(frozen=True)
class Reply:
    """One model reply as callers use it: the answer apart from any reasoning before it."""

    text: str
    """The answer: what a judge reads, a statistic measures, a parser parses."""
    reasoning: str = ""
    """The reasoning before the answer (a separate field, or a leading ``<think>`` block)."""
    raw: str = ""
    """The text as the model wrote it (reasoning block included)."""
    failure: str = ""
    """Why there is no answer at all (cut off while reasoning at the largest budget); "" else."""
    top: tuple[TokenAlternatives, ...] | None = None
    """The first positions' likeliest tokens (calls asked with ``top_logprobs``), when returned."""
    top_problem: str = ""
    """Why the endpoint's log-probabilities were not kept (a value that is no log-probability);
    "" when they were, or none were returned."""

    @property
    def only_trace(self) -> bool:
        """The model reasoned and gave no answer after it."""
        return bool(self.reasoning) and not self.text and not self.failure


def generate(backend: Backend, requests: Sequence[Request], params: DecodingParams, *,
             cache: CallCache, kind: str, name: str = "", batch_size: int = 16,
             by_length: bool = False, tags: Sequence[reasoning.Tags] | None = None,
             schema: Mapping[str, Any] | None = None) -> Iterator[tuple[int, Reply]]:
    """``(index, reply)`` for every request: cached replies first, then each new one as it arrives.

    Args:
        backend: the model to call for requests the cache does not hold.
        requests: one per reply wanted; equal requests share one cache entry.
        params: how the backend decodes (already part of each request, so of its key).
        cache: the run's call cache; each new reply is committed before it is yielded.
        kind: the cache stage (``generate``, ``judge``, ``perturb``), counted separately.
        name: the model or judge the usage report books the call to (default: the spec).
        batch_size: conversations per batch for local backends (endpoints stream instead).
        by_length: send similar prompt lengths together (less padding for local batches).
        tags: the markers of a leading reasoning block (default: :data:`reasoning.DEFAULT_TAGS`).
        schema: ask for JSON following it (a backend with ``stream_structured``); each request must
            hold ``response_format`` among its fields, so its key differs from a plain reply's.
    """
    if schema is not None and any("response_format" not in r for r in requests):
        raise ValueError("every request asked for JSON must hold response_format (its cache key)")
    for i, response in _replies(backend, requests, params, cache=cache, kind=kind, name=name,
                                batch_size=batch_size, by_length=by_length, top_logprobs=0, schema=schema):
        yield i, as_reply(response, tags)


def generate_scored(backend: Backend, requests: Sequence[Request], params: DecodingParams, *,
                    cache: CallCache, kind: str, top_logprobs: int,
                    tags: Sequence[reasoning.Tags] | None = None) -> Iterator[tuple[int, Reply]]:
    """As :func:`generate`, each reply with its first positions' ``top_logprobs`` likeliest tokens
    (``Reply.top``; None where the endpoint returned none); ``backend`` must be a
    :class:`~harness.models.backends.LogprobStreamer`. The cached response is ``{"text", "top"}``; each
    request must hold ``top_logprobs`` among its fields, so its key differs from a plain reply's."""
    if any(r.get("top_logprobs") != top_logprobs for r in requests):
        raise ValueError(f"every request must hold top_logprobs={top_logprobs} (its cache key)")
    for i, response in _replies(backend, requests, params, cache=cache, kind=kind, name="",
                                batch_size=1, by_length=False, top_logprobs=top_logprobs, schema=None):
        yield i, as_reply(response, tags)


def as_reply(response: Any, tags: Sequence[reasoning.Tags] | None = None) -> Reply:
    """A cached response as a :class:`Reply`: a plain string (what every reply was before traces
    and failures were kept), or ``{"text", "top"?, "reasoning"?, "failure"?}``."""
    if isinstance(response, str):
        response = {"text": response}
    raw = str(response.get("text") or "")
    # Checked again on the way out: a cache written before the check may hold 800 or Infinity.
    tokens, problem = checked_top(response.get("top"))
    problem = str(response.get("top_problem") or problem)
    if response.get("failure"):
        return Reply("", str(response.get("reasoning") or ""), raw, str(response["failure"]), tokens,
                     problem)
    parts = reasoning.split(raw, response.get("reasoning"), tags)
    return Reply(parts.answer, parts.reasoning, raw, "", tokens, problem)


def logprob_problem(value: object) -> str:
    """Why ``value`` is not a natural log-probability, a real number in (-inf, 0]; "" when it is.

    >>> logprob_problem(-0.25), logprob_problem(0)
    ('', '')
    >>> logprob_problem(800), logprob_problem(float("nan")), logprob_problem("-1")
    ('800 is above 0', 'nan is not a number', "'-1' is not a number")
    >>> logprob_problem(float("-inf")), logprob_problem(-10 ** 400)[-21:]
    ('-inf is not finite', 'too large for a float')
    """
    shown = repr(value)[:40]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{shown} is not a number"
    try:
        number = float(value)
    except OverflowError:
        return f"{shown}... is too large for a float"
    if math.isnan(number):
        return f"{shown} is not a number"
    if math.isinf(number):
        return f"{shown} is not finite"
    return f"{shown} is above 0" if number > 0 else ""


def checked_top(top: Any) -> tuple[tuple[TokenAlternatives, ...] | None, str]:
    """The likeliest tokens of a reply, as a backend or the cache holds them, with their texts made
    encodable; or None and why they cannot be used: any log-probability that is no number in
    (-inf, 0] makes the whole reply's unusable (its verdict is then read from the text alone).

    >>> checked_top([["A", [["A", -0.1], ["B", -2]]]])
    ((('A', (('A', -0.1), ('B', -2.0))),), '')
    >>> checked_top([["A", [["A", 800.0]]]])
    (None, "position 1, token 'A': log-probability 800.0 is above 0")
    >>> checked_top(None)
    (None, '')
    """
    if top is None:
        return None, ""
    try:
        positions = [(valid_unicode(str(token)), [(valid_unicode(str(alt)), lp) for alt, lp in alts])
                     for token, alts in top]
    except (TypeError, ValueError):
        return None, "log-probabilities not in OpenAI's shape (tokens with their alternatives)"
    for at, (_, alts) in enumerate(positions, 1):
        for alt, lp in alts:
            problem = logprob_problem(lp)
            if problem:
                return None, f"position {at}, token {alt!r}: log-probability {problem}"
    return tuple((token, tuple((alt, float(lp)) for alt, lp in alts)) for token, alts in positions), ""


def _response(done: Completion, top_logprobs: int) -> Any:
    """What the cache keeps of a completion: the text alone when that is all there is, so a plain
    reply is stored as it always was."""
    response: dict[str, Any] = {"text": valid_unicode(done.text)}
    if top_logprobs:
        top, problem = checked_top(done.top)
        response["top"] = None if top is None else [[t, [list(a) for a in alts]] for t, alts in top]
        if problem:
            response["top_problem"] = problem
    if done.reasoning:
        response["reasoning"] = valid_unicode(done.reasoning)
    if done.failure:
        response.update(failure=valid_unicode(done.failure), budget=done.budget)
    return response["text"] if list(response) == ["text"] else response


def _repaired(done: Completion) -> bool:
    """Whether any text of the reply that is kept held characters that are not valid Unicode."""
    texts = [done.text, done.reasoning or ""]
    for token, alts in done.top or ():
        texts += [str(token), *(str(alt) for alt, _ in alts)]
    return any(valid_unicode(t) != t for t in texts)


def _replies(backend: Backend, requests: Sequence[Request], params: DecodingParams, *,
             cache: CallCache, kind: str, name: str, batch_size: int, by_length: bool,
             top_logprobs: int, schema: Mapping[str, Any] | None) -> Iterator[tuple[int, Any]]:
    """``(index, cached response)``: the text, or a mapping (see :func:`as_reply`)."""
    # What the run learned about its endpoints (refused parameters, budgets) lives in its cache.
    endpoints.current().adaptations.attach(cache)
    retry = getattr(backend, "retries_failure", None)
    misses = []
    # Equal requests in one batch (two tasks asking the same question) are one call: sent once, its
    # reply given to each. Sent twice, a sampled model would answer each differently, the cache would
    # keep one of them, and a cached re-run would then show the other question that one: not what the
    # first run rated (and a paid model would be paid twice).
    twins: dict[str, list[int]] = {}
    key_of: dict[int, str] = {}  # each miss sent: its key (computed once), to find its twins
    for i, request in enumerate(requests):
        hit = cache.get(kind, dict(request))
        # A failure is kept so that the same settings never pay for it twice; a larger budget now
        # allowed (a raised --reasoning-cap) may succeed, so it is asked again.
        if hit is None or (isinstance(hit, dict) and hit.get("failure") and retry is not None and retry(hit)):
            key = cache_key(kind, dict(request))
            if key in twins:
                twins[key].append(i)
                continue
            twins[key], key_of[i] = [], key
            misses.append(i)
        else:
            yield i, hit
    if by_length:
        misses.sort(key=lambda i: sum(len(m["content"]) for m in requests[i]["messages"]))
    conversations = [list(requests[i]["messages"]) for i in misses]
    router = _ROUTER.get()
    # Closed the moment anything goes wrong (a commit that fails on a full disk, a caller that
    # stops): the backend then sends nothing new, so at most the calls in flight are lost. Left to
    # the garbage collector, queued calls would still be sent, and paid for, while the error
    # travels up.
    replies: Iterator[tuple[int, Completion]]
    routed_replies = None
    if router is not None and misses:
        routed_replies = router(backend, [Miss(kind, key_of[i], requests[i], name or backend.spec,
                                               conversations[j], params, top_logprobs, schema)
                                          for j, i in enumerate(misses)], cache)
    # A router declines (None) the backends it cannot send for (a local model under --batch-api).
    replies = (routed_replies if routed_replies is not None
               else completions(backend, conversations, params, batch_size, top_logprobs, schema))
    try:
        for j, done in replies:
            i = misses[j]
            response = _response(done, top_logprobs)
            _commit(cache, kind, requests[i], response, name or backend.spec, backend.spec, done)
            if _repaired(done):
                cache.repaired[kind] += 1
            yield i, response
            for twin in twins[key_of[i]]:
                yield twin, response
    finally:
        close = getattr(replies, "close", None)
        if close is not None:
            close()


def commit_completion(cache: CallCache, *, kind: str, request: Request, name: str, spec: str,
                      top_logprobs: int, done: Completion) -> Any:
    """Store a reply that arrived some other way (a batch result file) exactly as a reply streamed
    by the backend is stored: the same response, usage and repair count. Returns the response."""
    response = _response(done, top_logprobs)
    _commit(cache, kind, request, response, name, spec, done)
    if _repaired(done):
        cache.repaired[kind] += 1
    return response


def label_logprobs(backend: LabelScorer, request: Request, labels: Sequence[str], *, cache: CallCache,
                   kind: str, spec: str) -> list[float | None]:
    """The log-probability of each label as the whole reply to ``request["messages"]``, cached
    (booked to ``spec``, the scoring model's spec, in the usage report); None for a score that is
    no number in (-inf, 0] (a model whose half-precision logits overflowed gives NaN), stored as
    null so that the cache holds no NaN."""
    hit = cache.get(kind, dict(request))
    if hit is None:
        hit = [None if logprob_problem(s) else float(s)
               for s in backend.label_logprobs(list(request["messages"]), list(labels))]
        _commit(cache, kind, request, hit, spec, spec, None)
    return [None if logprob_problem(s) else float(s) for s in hit]


def _commit(cache: CallCache, kind: str, request: Request, response: Any, name: str, spec: str,
            usage: Completion | None) -> None:
    """The only place a model's reply enters the cache (tests count calls here)."""
    cache.put(kind, dict(request), response, name, spec, usage)
