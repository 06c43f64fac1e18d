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

from harness.core.types import Completion, DecodingParams
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
    replies = completions(backend, conversations, params, batch_size)
    try:
        for j, done in replies:
            i = misses[j]
            _commit(cache, kind, requests[i], done.text, name or backend.spec, backend.spec, done)
            yield i, done.text
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
