"""Which failed requests to an OpenAI-compatible endpoint are worth retrying, and how long to wait.

Retried: 408, 409, 429 (except an exhausted quota), 5xx, timeouts, dropped connections and
replies cut short or unreadable. Not retried, because asking again cannot help: a rejected key,
an unknown model, a prompt that does not fit, any other 4xx. Those become one-line errors.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import Any

from harness.core.errors import BackendError, redact
from harness.models.adapt import error_fields

BASE_DELAY = 0.5
MAX_DELAY = 30.0
MAX_RETRY_AFTER = 300.0
RETRYABLE_STATUS = {408, 409, 429}


@dataclass(frozen=True)
class Retry:
    reason: str
    retry_after: float | None = None
    """Seconds the endpoint asked us to wait (its Retry-After header)."""


def backoff(attempt: int, retry_after: float | None, rng: Any = random) -> float:
    """Seconds to wait before retry number ``attempt + 1``.

    Retry-After is honoured (plus a little jitter, so the waiting requests do not return at
    once); otherwise exponential backoff with full jitter, capped at 30 s.

    >>> backoff(0, 2.0, random.Random(0)) >= 2.0
    True
    >>> all(0 <= backoff(a, None) <= min(30.0, 0.5 * 2 ** a) for a in range(10))
    True
    """
    if retry_after is not None:
        wait = min(retry_after, MAX_RETRY_AFTER)
        return float(wait + rng.uniform(0, 0.1 * wait + 0.05))
    return float(rng.uniform(0, min(MAX_DELAY, BASE_DELAY * 2**attempt)))


def retry_after_seconds(headers: Any) -> float | None:
    """Retry-After as seconds: ``retry-after-ms``, delta-seconds or an HTTP date.

    >>> retry_after_seconds({"retry-after": "3"}), retry_after_seconds({"retry-after-ms": "250"})
    (3.0, 0.25)
    >>> retry_after_seconds({"retry-after": "soon"}) is None
    True
    """
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    try:
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(headers.get("retry-after"))
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def classify(exc: BaseException, spec: str, endpoint: Any, *, where: str | None = None
             ) -> Retry | BackendError:
    """A :class:`Retry` for transient failures, else the :class:`BackendError` to stop with.

    Both carry text from the endpoint, which may echo the request's headers: the key is redacted.
    ``where``: the URL the request went to, for messages (default: the endpoint's; one of its
    replicas' when it has several).
    """
    verdict = _classify(exc, spec, endpoint, where or endpoint.url)
    if isinstance(verdict, Retry):
        return Retry(redact(verdict.reason), verdict.retry_after)
    return BackendError(redact(str(verdict)))


def server_fault(exc: BaseException) -> str | None:
    """What a failed request says about the server that got it, for setting a replica aside:
    ``"connection"`` when it could not be reached or dropped the connection, ``"reply"`` for a
    timeout, a 5xx or an unreadable reply, None otherwise (a 429 says the server is busy, not
    broken; another 4xx is the request's fault)."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "reply"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    if isinstance(exc, openai.APIStatusError):
        return "reply" if exc.status_code >= 500 else None
    if isinstance(exc, (openai.APIResponseValidationError, ValueError, IndexError)):
        return "reply"
    return None


def _classify(exc: BaseException, spec: str, endpoint: Any, where: str) -> Retry | BackendError:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return Retry(f"no reply within {endpoint.settings.timeout:g} s")
    if isinstance(exc, openai.APIConnectionError):
        # A refused connection before the endpoint ever answered is a wrong URL or a server that
        # is not up: waiting will not fix it. Later, it is a restart or a network blip.
        # (The client's HTTP library has changed names across versions; its class name has not.)
        if type(exc.__cause__).__name__ == "ConnectError" and not endpoint.answered:
            return BackendError(f"{spec}: cannot connect to {where}")
        return Retry(f"connection failed ({exc.__cause__ or exc})")
    if isinstance(exc, openai.APIStatusError):
        endpoint.answered = True  # it is up, even if unwell: a later refused connection is a blip
        status = exc.status_code
        message = _message(exc)
        if status == 429 and "insufficient_quota" in str(exc.body or "") + message:
            return BackendError(f"{spec}: the account has no quota left ({message})")
        if status in RETRYABLE_STATUS or status >= 500:
            return Retry(f"HTTP {status}: {message}", retry_after_seconds(exc.response.headers))
        if status == 401:
            return BackendError(f"{spec}: the endpoint rejected the API key (HTTP 401)")
        if status == 403:
            return BackendError(f"{spec}: the API key may not use model or endpoint (HTTP 403: {message})")
        if status == 404:
            return BackendError(f"{spec}: model or endpoint not found at {where} (HTTP 404: {message})")
        return BackendError(f"{spec}: request rejected (HTTP {status}: {message})")
    if isinstance(exc, (openai.APIResponseValidationError, ValueError, IndexError)):
        return Retry(f"unreadable reply ({type(exc).__name__}: {exc})")
    if isinstance(exc, BackendError):
        return exc
    return BackendError(f"{spec}: unexpected error from {where}: {type(exc).__name__}: {exc}")


def _message(exc: Any) -> str:
    """The error's own words, from OpenAI's, Anthropic's or Gemini's body (Gemini sends a list)."""
    message = error_fields(exc.body)[0] if isinstance(exc.body, (dict, list)) else ""
    return message or str(getattr(exc, "message", "") or exc)
