"""``openai:MODEL[@BASE_URL]``: any OpenAI-compatible chat endpoint, through the official client.

Requests go out concurrently within the endpoint's limits (:mod:`harness.endpoints`); 429, 5xx,
timeouts and broken replies are retried with backoff, honouring Retry-After; errors that cannot
succeed (bad key, unknown model, prompt too long) stop at once with one clear message.

The key comes from ``OPENAI_API_KEY`` (or the endpoint's ``api_key_env`` / ``api_key_file``).
With a ``@BASE_URL`` (vLLM, Ollama, llama.cpp's server) and no key set, a placeholder key is sent,
since local servers ignore it. ``top_k`` is not part of OpenAI's API; it is sent as an extra
field, which vLLM and llama.cpp's server understand.

Asked for log-probabilities (:meth:`OpenAIBackend.stream_logprobs`), it sends ``logprobs`` and
``top_logprobs`` and keeps the first :data:`TOP_POSITIONS` positions of the reply; an endpoint that
returns none gives a completion whose ``top`` is None, for the caller to say so.

Today's reasoning models work with no flags: each request has its model's shape
(:mod:`harness.models.adapt`: ``max_completion_tokens`` and no sampling settings for the known
reasoning families; a parameter an endpoint refuses is dropped or renamed, once, and remembered in
the run's cache). A reasoning model's budget has room to think (the endpoint's ``reasoning_budget``
on top of ``max_new_tokens``); a reply cut off while reasoning (no content, ``finish_reason``
``length``) is asked again with four times the budget, up to ``reasoning_cap``, and is a failure
there, never an empty answer. Usage is read as billed: reasoning and cached prompt tokens apart.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import queue
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.core.errors import BackendError, SpecError, redact
from harness.core.notes import say_once
from harness.core.types import Completion, DecodingParams, Message, TokenAlternatives
from harness.models import endpoints
from harness.models.adapt import LOGPROBS, Adaptations, Refusal, Shape, first_budget, refusal, request_body
from harness.models.adapters import adapter_files, adapter_hash, served_name
from harness.models.backends._lora_loading import load_everywhere
from harness.models.backends._retry import backoff, classify, server_fault
from harness.models.backends._transformers import missing_package
from harness.models.budget import estimate_tokens

HELP = ("openai:MODEL[@BASE_URL][+lora:DIR]  OpenAI-compatible endpoint; key from OPENAI_API_KEY; "
        "+lora:DIR has a vLLM or SGLang server load the adapter")
LOCAL_PLACEHOLDER_KEY = "sk-local-no-key"
_CLIENT_LOCK = threading.Lock()
TOP_POSITIONS = 8
"""Positions of a reply whose likeliest tokens are kept: a verdict is read from the first written
token, after any spacing or markup; the rest would only grow the cache."""
MAX_TOP_LOGPROBS = 20  # OpenAI's limit on top_logprobs
MAX_ADAPTATIONS = 8
"""Refused parameters one call may adapt to; each drops a parameter for good, so more would mean an
endpoint that refuses whatever it is sent, which is an error to show, not to loop on."""


class OpenAIBackend:
    def __init__(self, spec: str, model: str, base_url: str | None) -> None:
        self.spec = spec
        self.model = model
        self.base_url = base_url

    def _client(self, ep: endpoints.Endpoint) -> Any:
        # One client (and HTTP connection pool) per replica of an endpoint per session: keys and
        # limits may differ between runs. Made for every replica at once, so the key is checked
        # before anything is sent; the first replica's is returned (the only one, usually).
        with _CLIENT_LOCK:
            if ep.client is None:
                try:
                    import openai
                except ImportError as exc:
                    raise missing_package("openai", "pip install openai") from exc
                key = ep.settings.api_key()
                if not key and (not self.base_url or endpoints.vendor_key_env(self.base_url)):
                    raise BackendError(
                        f"{self.spec}: set {ep.settings.api_key_env} (or api_key_file, or give a local "
                        "endpoint with openai:MODEL@http://HOST:PORT/v1)")
                # The client's own pool keeps 100 connections alive, enough for any sane concurrency.
                # Without replicas the URL is passed as given: None lets the client read
                # OPENAI_BASE_URL, as it always has.
                for replica in ep.replicas:
                    replica.client = openai.OpenAI(api_key=key or LOCAL_PLACEHOLDER_KEY, max_retries=0,
                                                   base_url=replica.url if ep.pooled else self.base_url)
            return ep.client

    def refused_logprobs(self) -> str:
        """Why this model's endpoint gives no log-probabilities ("" when it may): its family is
        known to refuse them, or this session learned that it does."""
        shape = endpoints.current().adaptations.shape(endpoints.normalise_url(self.base_url), self.model)
        if shape.refuses("logprobs") or shape.refuses("top_logprobs"):
            what = f" ({shape.family})" if shape.family else ""
            return (f"{self.spec}{what} returns no log-probabilities, so --judge-method logprobs cannot "
                    "read its verdicts; use --judge-method generate (or json)")
        return ""

    def retries_failure(self, response: Mapping[str, Any]) -> bool:
        """Whether a stored failure (cut off while reasoning at ``response["budget"]``) may succeed
        now: this session allows a larger budget."""
        cap = endpoints.current().endpoint(self.base_url).settings.reasoning_cap
        budget = response.get("budget")
        return not isinstance(budget, int) or cap > budget

    def batch_body(self, messages: list[Message], params: DecodingParams, top_logprobs: int = 0,
                   schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The chat request one call sends, as a batch file's ``body`` (OpenAI's Batch API and
        ``vllm run-batch`` take the same): this model's shape and first budget, as :meth:`complete`
        would send it first."""
        session = endpoints.current()
        ep = session.endpoint(self.base_url)
        shape = session.adaptations.shape(ep.url, self.model)
        budget = first_budget(shape, params.max_new_tokens, ep.settings.reasoning_budget,
                              ep.settings.reasoning_cap)
        return {"model": self.model, "messages": messages,
                **request_body(shape, params, budget, top_logprobs, schema)}

    def complete(self, messages: list[Message], params: DecodingParams, top_logprobs: int = 0,
                 schema: Mapping[str, Any] | None = None) -> Completion:
        """One reply, retried within the endpoint's limits and booked against the budget; with
        ``top_logprobs``, the likeliest tokens at its first positions too; with ``schema``, asked
        for as JSON that follows it (``response_format``), where the endpoint takes that.

        The request has this model's shape (:mod:`harness.models.adapt`): a parameter the endpoint
        refuses is dropped or renamed, and the request sent again (endpoints do not bill a
        refusal). A reply cut off while reasoning is asked again with a larger budget, up to the
        endpoint's ``reasoning_cap``; still cut off there, the completion carries the failure.
        """
        session = endpoints.current()
        ep = session.endpoint(self.base_url)
        self._client(ep)  # every replica's client, made once (the key is checked before any call)
        with session.adaptations.first_light(ep.url, self.model):
            return self._complete(session, ep, messages, params, top_logprobs, schema)

    def _complete(self, session: endpoints.Session, ep: endpoints.Endpoint, messages: list[Message],
                  params: DecodingParams, top_logprobs: int, schema: Mapping[str, Any] | None) -> Completion:
        shapes = session.adaptations
        shape = shapes.shape(ep.url, self.model)
        if top_logprobs and self.refused_logprobs():
            raise BackendError(self.refused_logprobs())
        if shape.family and not shape.proven:
            say_once(_family_note(self.spec, shape, params, ep.settings))
        price = session.prices.lookup(self.model)
        prompt_est = estimate_tokens(messages)
        budget = first_budget(shape, params.max_new_tokens, ep.settings.reasoning_budget,
                              ep.settings.reasoning_cap)
        spent = _Spent()
        attempt = 0
        adaptations = MAX_ADAPTATIONS
        unreachable: set[endpoints.Replica] = set()  # replicas this call could not connect to
        while True:
            body = request_body(shape, params, budget, top_logprobs, schema)
            ticket = session.budget.reserve(self.spec, prompt_est, budget, price)
            # The replica first: each has its own pacer (limits apply per replica).
            replica = ep.acquire(avoid=unreachable)
            try:
                try:
                    replica.pacer.wait(prompt_est + budget)
                    resp = replica.client.chat.completions.create(
                        model=self.model, messages=messages, extra_body=body, timeout=ep.settings.timeout)
                finally:
                    ep.release(replica)
                choice = resp.choices[0]
                text, finish = choice.message.content, choice.finish_reason
                trace = _reasoning_field(choice.message)
                if text is None and finish != "length" and not trace:
                    raise ValueError("the reply has no message content")
            except Exception as exc:
                session.budget.release(ticket)
                refused = _refusal(exc, body)
                if refused is not None and adaptations > 0:
                    adaptations -= 1
                    shape = self._adapt(shapes, ep, refused)
                    continue
                fault = server_fault(exc)
                if fault is not None:
                    ep.failed(replica, at_once=fault == "connection", spec=self.spec)
                if fault == "connection":
                    unreachable.add(replica)
                    if ep.another_live(unreachable):
                        continue  # another replica takes the call: that one is gone, the request not at fault
                verdict = classify(exc, self.spec, ep, where=replica.url)
                if isinstance(verdict, BackendError):
                    if fault == "connection" and len(ep.replicas) > 1:  # none has ever answered
                        raise BackendError(f"{self.spec}: cannot connect to any replica of {ep.url} "
                                           f"({', '.join(r.url for r in ep.replicas)})") from None
                    raise verdict from None
                if attempt == ep.settings.max_retries:
                    raise BackendError(f"{self.spec}: gave up after {attempt + 1} attempts; "
                                       f"last error: {verdict.reason}") from None
                delay = backoff(attempt, verdict.retry_after)
                if verdict.retry_after is not None:
                    replica.pacer.hold(delay)
                time.sleep(delay)
                attempt += 1
                continue
            ep.succeeded(replica)
            used = spent.add(resp.usage, prompt_est, budget)
            session.budget.settle(ticket, used.total, price.cost(used.prompt, used.completion, used.cached)
                                  if price else 0.0)
            replica.pacer.refund(prompt_est + budget - used.total)
            if cut_off_while_reasoning(text, finish):
                cap = max(ep.settings.reasoning_cap, params.max_new_tokens)
                if budget < cap:
                    larger = min(cap, max(4 * budget, params.max_new_tokens + ep.settings.reasoning_budget))
                    spent.budget_retries += 1
                    shape = shapes.needs_budget(ep.url, self.model, larger, note=(
                        f"{self.spec}: a reply was cut off while reasoning at {budget} completion "
                        f"tokens; asking again with {larger}, and starting later calls there (the "
                        f"most is --reasoning-cap {cap})")) or shape
                    budget = larger
                    continue
                return spent.result("", None, trace, budget, failure=(
                    f"cut off while reasoning: no answer within {budget} completion tokens "
                    f"(--reasoning-cap {cap}); raise the cap or lower reasoning_effort"))
            shapes.proven(ep.url, self.model, reasoned=bool(used.reasoning))
            top = _top_tokens(choice) if top_logprobs else None
            return spent.result((text or "").strip(), top, trace, budget)

    def _adapt(self, shapes: Adaptations, ep: endpoints.Endpoint, refused: Refusal) -> Shape:
        """The model's shape without a refused parameter (remembered, and said once), or the one
        clear error when nothing can be dropped."""
        def without(current: Shape) -> Shape | None:
            if current.refuses(refused.param):
                return current  # another request learned it while this one was in flight
            return current.adapted_to(refused)

        adapted = shapes.change(ep.url, self.model, without,
                                lambda s: f"{self.spec}: {_adaptation(refused.param, s)}")
        if adapted is not None:
            return adapted
        if refused.param in LOGPROBS:
            shapes.change(ep.url, self.model, lambda s: dataclasses.replace(
                s, not_sent=s.not_sent | set(LOGPROBS)))
            raise BackendError(self.refused_logprobs() + f" ({redact(refused.message)})")
        raise BackendError(f"{self.spec}: request rejected: the endpoint refuses "
                           f"{refused.param!r} ({redact(refused.message)})")

    def stream(self, conversations: list[list[Message]], params: DecodingParams
               ) -> Iterator[tuple[int, Completion]]:
        return self._stream(conversations, params, 0)

    def stream_structured(self, conversations: list[list[Message]], params: DecodingParams,
                          schema: Mapping[str, Any]) -> Iterator[tuple[int, Completion]]:
        """Like :meth:`stream`, each reply asked for as JSON following ``schema`` (OpenAI's
        ``response_format`` with a JSON schema); an endpoint that refuses it gets plain requests
        (said once), so callers read the replies either way."""
        return self._stream(conversations, params, 0, schema)

    def stream_logprobs(self, conversations: list[list[Message]], params: DecodingParams,
                        top_logprobs: int) -> Iterator[tuple[int, Completion]]:
        """Like :meth:`stream`, each completion with its first positions' likeliest tokens."""
        if not 1 <= top_logprobs <= MAX_TOP_LOGPROBS:
            raise BackendError(f"{self.spec}: top_logprobs must be 1 to {MAX_TOP_LOGPROBS}, "
                               f"got {top_logprobs}")
        return self._stream(conversations, params, top_logprobs)

    def _stream(self, conversations: list[list[Message]], params: DecodingParams, top_logprobs: int,
                schema: Mapping[str, Any] | None = None) -> Iterator[tuple[int, Completion]]:
        if params.num_beams != 1:
            raise BackendError(f"{self.spec}: OpenAI-compatible endpoints do not do beam search "
                               f"(num_beams={params.num_beams})")
        if not conversations:
            return
        # One worker per request the endpoint may have in flight: concurrency x its replicas.
        workers = min(len(conversations), endpoints.current().endpoint(self.base_url).capacity)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="harness-openai")
        finished: queue.SimpleQueue[tuple[int, Future[Completion]]] = queue.SimpleQueue()
        waiting = iter(enumerate(conversations))
        in_flight = 0

        def send_next() -> None:
            nonlocal in_flight
            for i, c in itertools.islice(waiting, 1):
                pool.submit(self.complete, c, params, top_logprobs, schema).add_done_callback(
                    functools.partial(_report, finished, i))
                in_flight += 1

        try:
            for _ in range(workers):
                send_next()
            failure: BaseException | None = None
            while in_flight:
                i, fut = finished.get()
                in_flight -= 1
                exc = fut.exception()
                if exc is not None:
                    # Send nothing new, but keep the replies in flight: they are paid for.
                    failure = failure or exc
                    continue
                # The caller commits the reply before asking for the next one, so a request is sent
                # only once the one before it is stored: replies sent and not stored never exceed
                # the concurrency, whatever stops the caller (a full disk, an interrupt).
                yield i, fut.result()
                if failure is None:
                    send_next()
            if failure is not None:
                raise failure
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def generate(self, conversations: list[list[Message]], params: DecodingParams) -> list[str]:
        texts = [""] * len(conversations)
        for i, completion in self.stream(conversations, params):
            texts[i] = completion.text
        return texts


@dataclass(frozen=True)
class _Used:
    """One attempt's tokens, as booked (the worst case where the endpoint reported none)."""

    prompt: int
    completion: int
    reasoning: int
    cached: int

    @property
    def total(self) -> int:
        return self.prompt + self.completion


@dataclass
class _Spent:
    """The tokens of every billed attempt of one call (a reply cut off while reasoning is billed,
    then asked again), for the completion's usage."""

    prompt: int | None = None
    completion: int | None = None
    reasoning: int | None = None
    cached: int | None = None
    budget_retries: int = 0

    def add(self, usage: Any, prompt_est: int, budget: int) -> _Used:
        prompt, completion, reasoning, cached = read_usage(usage)
        self.prompt = _plus(self.prompt, prompt)
        self.completion = _plus(self.completion, completion)
        self.reasoning = _plus(self.reasoning, reasoning)
        self.cached = _plus(self.cached, cached)
        # A server that reports no usage is charged the worst case it was booked at.
        return _Used(prompt if prompt is not None else prompt_est,
                     completion if completion is not None else budget, reasoning or 0, cached or 0)

    def result(self, text: str, top: tuple[TokenAlternatives, ...] | None, trace: str | None,
                   budget: int, failure: str = "") -> Completion:
        return Completion(text, self.prompt, self.completion, top, trace or None, self.reasoning,
                          self.cached, self.budget_retries, failure, budget)


def _plus(total: int | None, more: int | None) -> int | None:
    return more if total is None else total + (more or 0)


def _get(obj: Any, name: str) -> Any:
    """A field of a reply object, typed by the client or kept as a plain dict (fields the client
    does not know, such as DeepSeek's)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None) or {}
        value = extra.get(name)
    return value


def _count(obj: Any, name: str) -> int | None:
    value = _get(obj, name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def read_usage(usage: Any) -> tuple[int | None, int | None, int | None, int | None]:
    """``(prompt, completion, reasoning, cached)`` tokens of a reply's ``usage`` (None where not
    reported), the completion counted as billed: reasoning included.

    OpenAI counts reasoning inside ``completion_tokens``; some OpenAI-compatible endpoints (Gemini's,
    some proxies) leave it out and count it only in ``total_tokens``. Cached prompt tokens are
    OpenAI's ``prompt_tokens_details.cached_tokens`` or DeepSeek's ``prompt_cache_hit_tokens``.

    >>> read_usage({"prompt_tokens": 20, "completion_tokens": 151, "total_tokens": 553,
    ...             "completion_tokens_details": {"reasoning_tokens": 382}})
    (20, 533, 382, None)
    >>> read_usage({"prompt_tokens": 20, "completion_tokens": 533, "total_tokens": 553,
    ...             "completion_tokens_details": {"reasoning_tokens": 382},
    ...             "prompt_tokens_details": {"cached_tokens": 16}})
    (20, 533, 382, 16)
    """
    prompt, completion = _count(usage, "prompt_tokens"), _count(usage, "completion_tokens")
    total = _count(usage, "total_tokens")
    reasoning = _count(_get(usage, "completion_tokens_details"), "reasoning_tokens")
    cached = _count(_get(usage, "prompt_tokens_details"), "cached_tokens")
    if cached is None:
        cached = _count(usage, "prompt_cache_hit_tokens")
    if reasoning and completion is not None:
        left_out = (total is not None and prompt is not None and total == prompt + completion + reasoning)
        if left_out or completion < reasoning:
            completion += reasoning
    return prompt, completion, reasoning, cached


def _reasoning_field(message: Any) -> str | None:
    """The separate reasoning text some endpoints send (vLLM, SGLang and DeepSeek:
    ``reasoning_content``; OpenRouter and newer vLLM: ``reasoning``)."""
    for name in ("reasoning_content", "reasoning"):
        value = _get(message, name)
        if isinstance(value, str) and value.strip():
            return value
    return None


def cut_off_while_reasoning(text: str | None, finish_reason: str | None) -> bool:
    """Whether a reply ran out of completion tokens before it answered: no content, or only an
    unclosed ``<think>`` block, and ``finish_reason`` ``length``.

    >>> cut_off_while_reasoning("", "length"), cut_off_while_reasoning("<think>hmm", "length")
    (True, True)
    >>> cut_off_while_reasoning("A long answer", "length"), cut_off_while_reasoning("", "stop")
    (False, False)
    """
    if finish_reason != "length":
        return False
    body = (text or "").strip()
    return not body or (body.lower().startswith("<think>") and "</think>" not in body.lower())


def completion_from_reply(reply: Mapping[str, Any], *, budget: int | None, top_logprobs: int = 0,
                          ) -> Completion:
    """A chat completion object as a batch result line holds it, read as :meth:`OpenAIBackend.complete`
    reads a live reply: the text (apart from a separate reasoning field), usage as billed, the first
    positions' likeliest tokens when asked; a reply cut off while reasoning is a failure at
    ``budget`` (a later synchronous run asks it again when a larger budget is allowed).

    Raises ValueError for a body that is no chat completion (no choices, no message content).
    """
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise ValueError("the reply has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, Mapping):
        raise ValueError("the reply's choice has no message")
    text, finish = message.get("content"), choice.get("finish_reason")
    if text is not None and not isinstance(text, str):
        raise ValueError("the reply's message content is not text")
    trace = _reasoning_field(message)
    if text is None and finish != "length" and not trace:
        raise ValueError("the reply has no message content")
    spent = _Spent()
    spent.add(reply.get("usage"), 0, budget or 0)
    if cut_off_while_reasoning(text, finish):
        within = f"{budget} completion tokens" if budget else "the batch request's completion budget"
        done = spent.result("", None, trace, budget or 0, failure=(
            f"cut off while reasoning: no answer within {within} (a batch reply); a synchronous run "
            "asks it again with a larger budget"))
        # No known budget: a later run's retries_failure() always asks again.
        return done if budget else dataclasses.replace(done, budget=None)
    top = _top_tokens(choice) if top_logprobs else None
    return spent.result((text or "").strip(), top, trace, budget or 0)


def _refusal(exc: BaseException, body: Mapping[str, Any]) -> Refusal | None:
    """The parameter an endpoint's error refuses, when the error is a refusal of one we sent."""
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        return None
    return refusal(status, getattr(exc, "body", None), set(body))


def _family_note(spec: str, shape: Shape, params: DecodingParams,
                 settings: endpoints.EndpointSettings) -> str:
    budget = first_budget(shape, params.max_new_tokens, settings.reasoning_budget, settings.reasoning_cap)
    unsent = ", ".join(p for p in shape.decided_by_model)
    how = f"sends {shape.token_param}={budget}"
    if shape.reasoning:
        how += f" ({params.max_new_tokens} to answer and {settings.reasoning_budget} to reason)"
    if unsent:
        how += f" and no {unsent}: the model decides its own decoding"
    return f"{spec} ({shape.family}): harness {how}"


def _adaptation(param: str, shape: Shape) -> str:
    """What harness does about a refused parameter, said once."""
    if param in ("max_tokens", "max_completion_tokens"):
        action = f"sending {shape.token_param!r} instead"
    elif param == "reasoning_effort":
        action = "not sending it: the model thinks as hard as it decides"
    elif param == "response_format":
        action = "not sending it: verdicts are read from the reply's text"
    else:
        action = f"not sending it: the model decides its own {param}"
    return f"the endpoint refuses {param!r}; {action} (remembered in the run's cache)"


def _top_tokens(choice: Any) -> tuple[TokenAlternatives, ...] | None:
    """The first positions' likeliest tokens of a chat choice; None when the endpoint sent none
    (it ignores ``logprobs``) or sent them in another shape.

    Each log-probability is kept as sent (a value that is no number becomes NaN), not judged here:
    :func:`harness.models.calls.checked_top` refuses every value outside (-inf, 0] and counts the
    reply, whose verdict is then read from its text alone. (The official client has already made
    floats of numeric strings and booleans; an entry it could not type, such as one holding an
    integer too large for a float, it leaves a plain dict, read here all the same.)"""
    content = _get(_get(choice, "logprobs"), "content")
    if not content:
        return None
    try:
        return tuple((str(_get(pos, "token")), tuple((str(_get(alt, "token")), _logprob(_get(alt, "logprob")))
                                                     for alt in (_get(pos, "top_logprobs") or ())))
                     for pos in content[:TOP_POSITIONS])
    except (AttributeError, TypeError, ValueError):
        return None


def _logprob(value: Any) -> float:
    """A log-probability as a float: NaN for a value that is no number (a string, null, an integer
    too large for a float), which the calls layer then finds, as it finds 800 or Infinity.

    >>> _logprob(-0.5), _logprob(800), _logprob("-0.5"), _logprob(10 ** 400)
    (-0.5, 800.0, nan, nan)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.nan


def _report(finished: queue.SimpleQueue[tuple[int, Future[Completion]]], i: int,
            fut: Future[Completion]) -> None:
    finished.put((i, fut))


_LOAD_LOCK = threading.Lock()
_SERVED: weakref.WeakKeyDictionary[endpoints.Endpoint, dict[str, str]] = weakref.WeakKeyDictionary()
"""Per endpoint of a session (so per server per session): each adapter name loaded there, with
the model name its chat requests carry."""


class ServedAdapter(OpenAIBackend):
    """``openai:BASE@URL+lora:DIR``: a peft LoRA adapter that the server at URL (vLLM or SGLang)
    loads at run time next to BASE, asked for by a name derived from the adapter's content
    (:func:`harness.models.adapters.served_name`), so retrained weights get a name of their own.

    The adapter is loaded before the first call that needs it, once per content per server per
    session: a run whose calls are all cached loads nothing, and a server that says the name is
    loaded already (it holds the same content) counts as loaded. The server reads the folder
    itself, at its absolute path here.
    """

    def __init__(self, spec: str, base: str, base_url: str, adapter: str) -> None:
        self.base = base
        self.adapter = adapter
        super().__init__(spec, base, base_url)

    @property
    def model(self) -> str:
        """The model name chat requests carry: the adapter's served name (``BASE:NAME`` where the
        server is SGLang, which reads the adapter from the model name so)."""
        name = served_name(adapter_hash(self.adapter))
        ep = endpoints.current().endpoint(self.base_url)
        with _LOAD_LOCK:
            return _SERVED.get(ep, {}).get(name, name)

    @model.setter
    def model(self, value: str) -> None:
        self.base = value

    def complete(self, messages: list[Message], params: DecodingParams, top_logprobs: int = 0,
                 schema: Mapping[str, Any] | None = None) -> Completion:
        self.load()
        return super().complete(messages, params, top_logprobs, schema)

    def load(self) -> str:
        """The model name for chat requests, once the server holds the adapter's current content
        (loaded now where this session has not loaded it on this server)."""
        name = served_name(adapter_hash(self.adapter))
        ep = endpoints.current().endpoint(self.base_url)
        with _LOAD_LOCK:
            served = _SERVED.setdefault(ep, {})
            if name not in served:
                path = str(Path(self.adapter).expanduser().resolve())
                served[name] = load_everywhere(ep, spec=self.spec, base=self.base, name=name, path=path)
                say_once(f"{self.spec}: the server at {ep.url} serves the adapter {path} as "
                         f"{served[name]!r}")
            return served[name]


def create(spec: str, arg: str, adapter: str | None) -> OpenAIBackend:
    model, at, base_url = arg.partition("@")
    if not model.strip():
        raise SpecError(f"model spec {spec!r}: expected openai:MODEL[@BASE_URL], e.g. openai:gpt-4o-mini")
    if at and not base_url.startswith(("http://", "https://")):
        raise SpecError(f"model spec {spec!r}: base URL must start with http:// or https://")
    if at:
        check_base_url(base_url, spec=spec)
    if adapter is None:
        return OpenAIBackend(spec, model, base_url or None)
    if not at:
        raise SpecError(f"model spec {spec!r}: a LoRA adapter needs the server that loads it, "
                        "openai:BASE@http://HOST:PORT/v1+lora:DIR (vLLM or SGLang; see docs/gpu-serving.md)")
    try:
        adapter_files(Path(adapter).expanduser())
    except SpecError as exc:
        raise SpecError(f"model spec {spec!r}: {exc}") from None
    return ServedAdapter(spec, model, base_url, adapter)


def check_base_url(url: str, *, spec: str) -> None:
    """Refuse a base URL the HTTP client would refuse, now: found at the first request, it would
    stop a run that has already written its run directory.

    >>> check_base_url("http://h:x", spec="openai:m@http://h:x")
    Traceback (most recent call last):
    ...
    harness.core.errors.SpecError: model spec 'openai:m@http://h:x': base URL 'http://h:x' is malformed (...)
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- reading it is the check: a bad port raises ValueError
    except ValueError as exc:
        raise SpecError(f"model spec {spec!r}: base URL {url!r} is malformed ({exc})") from None
    if not parts.hostname:
        raise SpecError(f"model spec {spec!r}: base URL {url!r} has no host")
    if not url.isprintable() or any(c.isspace() for c in url):
        raise SpecError(f"model spec {spec!r}: base URL {url!r} holds spaces or control characters")
