"""The one cached-call layer: every model call is looked up, made and committed here.

Callers pass requests, never touch the cache: a request is a JSON-able mapping whose
``messages`` are what the model is sent and whose other fields are everything else that
determines the reply (spec, decoding, prompt hash...), so the whole request is the cache key.
Generation, judging, the bias probes and ``harness prompts test`` all call through this module,
which is why a re-run makes no call twice and an interrupted run loses only the calls in flight:
each reply is committed the moment it arrives.

Not handled here: what a reply means (verdict parsing and re-asking are ``harness.judges``),
progress display, and endpoint limits and retries (``harness.models.endpoints`` and the backends).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from harness.core.types import Completion, DecodingParams, TokenAlternatives
from harness.models.backends import Backend, LabelScorer, completions
from harness.models.cache import CallCache

Request = Mapping[str, Any]
"""Everything that determines one reply; ``request["messages"]`` is the conversation sent."""


def generate(backend: Backend, requests: Sequence[Request], params: DecodingParams, *,
             cache: CallCache, kind: str, name: str = "", batch_size: int = 16,
             by_length: bool = False) -> Iterator[tuple[int, str]]:
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
    """
    yield from _replies(backend, requests, params, cache=cache, kind=kind, name=name,
                        batch_size=batch_size, by_length=by_length, top_logprobs=0)


def generate_scored(backend: Backend, requests: Sequence[Request], params: DecodingParams, *,
                    cache: CallCache, kind: str, top_logprobs: int
                    ) -> Iterator[tuple[int, str, tuple[TokenAlternatives, ...] | None]]:
    """As :func:`generate`, each reply with its first positions' ``top_logprobs`` likeliest tokens
    (None where the endpoint returned none); ``backend`` must be a
    :class:`~harness.models.backends.LogprobStreamer`. The cached response is ``{"text", "top"}``; each
    request must hold ``top_logprobs`` among its fields, so its key differs from a plain reply's."""
    if any(r.get("top_logprobs") != top_logprobs for r in requests):
        raise ValueError(f"every request must hold top_logprobs={top_logprobs} (its cache key)")
    for i, response in _replies(backend, requests, params, cache=cache, kind=kind, name="",
                                batch_size=1, by_length=False, top_logprobs=top_logprobs):
        top = response.get("top")
        yield i, response["text"], None if top is None else tuple(
            (str(token), tuple((str(alt), float(lp)) for alt, lp in alts)) for token, alts in top)


def _replies(backend: Backend, requests: Sequence[Request], params: DecodingParams, *,
             cache: CallCache, kind: str, name: str, batch_size: int, by_length: bool,
             top_logprobs: int) -> Iterator[tuple[int, Any]]:
    """``(index, cached response)``: the text, or ``{"text", "top"}`` with ``top_logprobs``."""
    misses = []
    for i, request in enumerate(requests):
        hit = cache.get(kind, dict(request))
        if hit is None:
            misses.append(i)
        else:
            yield i, hit
    if by_length:
        misses.sort(key=lambda i: sum(len(m["content"]) for m in requests[i]["messages"]))
    conversations = [list(requests[i]["messages"]) for i in misses]
    # Closed the moment anything goes wrong (a commit that fails on a full disk, a caller that
    # stops): the backend then sends nothing new, so at most the calls in flight are lost. Left to
    # the garbage collector, queued calls would still be sent, and paid for, while the error
    # travels up.
    replies = completions(backend, conversations, params, batch_size, top_logprobs)
    try:
        for j, done in replies:
            i = misses[j]
            response: Any = done.text
            if top_logprobs:
                response = {"text": done.text,
                            "top": None if done.top is None else [[t, [list(a) for a in alts]]
                                                                  for t, alts in done.top]}
            _commit(cache, kind, requests[i], response, name or backend.spec, backend.spec, done)
            yield i, response
    finally:
        replies.close()


def label_logprobs(backend: LabelScorer, request: Request, labels: Sequence[str], *, cache: CallCache,
                   kind: str, spec: str) -> list[float]:
    """The log-probability of each label as the whole reply to ``request["messages"]``, cached
    (booked to ``spec``, the scoring model's spec, in the usage report)."""
    hit = cache.get(kind, dict(request))
    if hit is not None:
        return list(hit)
    scores = backend.label_logprobs(list(request["messages"]), list(labels))
    _commit(cache, kind, request, scores, spec, spec, None)
    return scores


def _commit(cache: CallCache, kind: str, request: Request, response: Any, name: str, spec: str,
            usage: Completion | None) -> None:
    """The only place a model's reply enters the cache (tests count calls here)."""
    cache.put(kind, dict(request), response, name, spec, usage)
