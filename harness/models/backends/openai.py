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
"""

from __future__ import annotations

import functools
import itertools
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from harness.core.errors import BackendError, SpecError
from harness.core.types import Completion, DecodingParams, Message, TokenAlternatives
from harness.models import endpoints
from harness.models.backends._retry import backoff, classify
from harness.models.backends._transformers import missing_package
from harness.models.budget import estimate_tokens

HELP = "openai:MODEL[@BASE_URL]  OpenAI-compatible endpoint; key from OPENAI_API_KEY"
LOCAL_PLACEHOLDER_KEY = "sk-local-no-key"
_CLIENT_LOCK = threading.Lock()
TOP_POSITIONS = 8
"""Positions of a reply whose likeliest tokens are kept: a verdict is read from the first written
token, after any spacing or markup; the rest would only grow the cache."""
MAX_TOP_LOGPROBS = 20  # OpenAI's limit on top_logprobs


class OpenAIBackend:
    def __init__(self, spec: str, model: str, base_url: str | None) -> None:
        self.spec = spec
        self.model = model
        self.base_url = base_url

    def _client(self, ep: endpoints.Endpoint) -> Any:
        # One client (and HTTP connection pool) per endpoint per session: keys and limits may
        # differ between runs.
        with _CLIENT_LOCK:
            if ep.client is None:
                try:
                    import openai
                except ImportError as exc:
                    raise missing_package("openai", "pip install openai") from exc
                key = ep.settings.api_key()
                if not key and not self.base_url:
                    raise BackendError(
                        f"{self.spec}: set {ep.settings.api_key_env} (or api_key_file, or give a local "
                        "endpoint with openai:MODEL@http://HOST:PORT/v1)")
                # The client's own pool keeps 100 connections alive, enough for any sane concurrency.
                ep.client = openai.OpenAI(api_key=key or LOCAL_PLACEHOLDER_KEY, base_url=self.base_url,
                                          max_retries=0)
            return ep.client

    def complete(self, messages: list[Message], params: DecodingParams, top_logprobs: int = 0
                 ) -> Completion:
        """One reply, retried within the endpoint's limits and booked against the budget; with
        ``top_logprobs``, the likeliest tokens at its first positions too."""
        session = endpoints.current()
        ep = session.endpoint(self.base_url)
        client = self._client(ep)
        price = session.prices.lookup(self.model)
        prompt_est = estimate_tokens(messages)
        extra: dict[str, Any] = {"top_k": params.top_k} if params.top_k else {}
        scored: dict[str, Any] = {"logprobs": True, "top_logprobs": top_logprobs} if top_logprobs else {}
        for attempt in range(ep.settings.max_retries + 1):
            ticket = session.budget.reserve(self.spec, prompt_est, params.max_new_tokens, price)
            ep.pacer.wait(prompt_est + params.max_new_tokens)
            try:
                with ep.slots:
                    resp = client.chat.completions.create(
                        model=self.model, messages=messages, max_tokens=params.max_new_tokens,
                        temperature=params.temperature, top_p=params.top_p, seed=params.seed,
                        extra_body=extra or None, timeout=ep.settings.timeout, **scored)
                text = resp.choices[0].message.content
                if text is None:
                    raise ValueError("the reply has no message content")
            except Exception as exc:
                session.budget.release(ticket)
                verdict = classify(exc, self.spec, ep)
                if isinstance(verdict, BackendError):
                    raise verdict from None
                if attempt == ep.settings.max_retries:
                    raise BackendError(f"{self.spec}: gave up after {attempt + 1} attempts; "
                                       f"last error: {verdict.reason}") from None
                delay = backoff(attempt, verdict.retry_after)
                if verdict.retry_after is not None:
                    ep.pacer.hold(delay)
                time.sleep(delay)
                continue
            ep.answered = True
            usage = resp.usage
            p_tok = getattr(usage, "prompt_tokens", None)
            c_tok = getattr(usage, "completion_tokens", None)
            # A server that reports no usage is charged the worst case it was booked at.
            p_used = p_tok if p_tok is not None else prompt_est
            c_used = c_tok if c_tok is not None else params.max_new_tokens
            used = p_used + c_used
            session.budget.settle(ticket, used, price.cost(p_used, c_used) if price else 0.0)
            ep.pacer.refund(prompt_est + params.max_new_tokens - used)
            top = _top_tokens(resp.choices[0]) if top_logprobs else None
            return Completion(text.strip(), p_tok, c_tok, top)
        raise AssertionError("unreachable")

    def stream(self, conversations: list[list[Message]], params: DecodingParams
               ) -> Iterator[tuple[int, Completion]]:
        return self._stream(conversations, params, 0)

    def stream_logprobs(self, conversations: list[list[Message]], params: DecodingParams,
                        top_logprobs: int) -> Iterator[tuple[int, Completion]]:
        """Like :meth:`stream`, each completion with its first positions' likeliest tokens."""
        if not 1 <= top_logprobs <= MAX_TOP_LOGPROBS:
            raise BackendError(f"{self.spec}: top_logprobs must be 1 to {MAX_TOP_LOGPROBS}, "
                               f"got {top_logprobs}")
        return self._stream(conversations, params, top_logprobs)

    def _stream(self, conversations: list[list[Message]], params: DecodingParams, top_logprobs: int
                ) -> Iterator[tuple[int, Completion]]:
        if params.num_beams != 1:
            raise BackendError(f"{self.spec}: OpenAI-compatible endpoints do not do beam search "
                               f"(num_beams={params.num_beams})")
        if not conversations:
            return
        workers = min(len(conversations), endpoints.current().endpoint(self.base_url).settings.concurrency)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="harness-openai")
        finished: queue.SimpleQueue[tuple[int, Future[Completion]]] = queue.SimpleQueue()
        waiting = iter(enumerate(conversations))
        in_flight = 0

        def send_next() -> None:
            nonlocal in_flight
            for i, c in itertools.islice(waiting, 1):
                pool.submit(self.complete, c, params, top_logprobs).add_done_callback(
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


def _top_tokens(choice: Any) -> tuple[TokenAlternatives, ...] | None:
    """The first positions' likeliest tokens of a chat choice; None when the endpoint sent none
    (it ignores ``logprobs``) or sent them malformed."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    try:
        return tuple((str(pos.token), tuple((str(alt.token), float(alt.logprob))
                                            for alt in (pos.top_logprobs or ())))
                     for pos in content[:TOP_POSITIONS])
    except (AttributeError, TypeError, ValueError):
        return None


def _report(finished: queue.SimpleQueue[tuple[int, Future[Completion]]], i: int,
            fut: Future[Completion]) -> None:
    finished.put((i, fut))


def create(spec: str, arg: str, adapter: str | None) -> OpenAIBackend:
    if adapter is not None:
        raise SpecError(f"model spec {spec!r}: a remote model cannot take a LoRA adapter")
    model, at, base_url = arg.partition("@")
    if not model.strip():
        raise SpecError(f"model spec {spec!r}: expected openai:MODEL[@BASE_URL], e.g. openai:gpt-4o-mini")
    if at and not base_url.startswith(("http://", "https://")):
        raise SpecError(f"model spec {spec!r}: base URL must start with http:// or https://")
    if at:
        check_base_url(base_url, spec=spec)
    return OpenAIBackend(spec, model, base_url or None)


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
