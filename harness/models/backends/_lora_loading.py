"""Asking a vLLM or SGLang server to load a LoRA adapter at run time (``openai:BASE@URL+lora:DIR``).

``POST /v1/load_lora_adapter`` (vLLM) or ``POST /load_lora_adapter`` (SGLang), on every replica of a
pooled endpoint, retried as chat requests are; a server that says the name is loaded already
counts as loaded.

Not handled here: when to load and under which name (``ServedAdapter`` in
:mod:`harness.models.backends.openai`, by the adapter's content hash), the chat calls, and ``vllm
run-batch``, which cannot load adapters (docs/gpu-serving.md).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

from harness.core.errors import BackendError, redact
from harness.core.notes import say_once
from harness.models import endpoints
from harness.models.backends._retry import RETRYABLE_STATUS, backoff

_ALREADY_LOADED = re.compile(r"\balready\b.*\b(loaded|exists?|registered)\b", re.IGNORECASE | re.DOTALL)
class _Unreachable(BackendError):
    """A server that could not be reached to load an adapter (refused, or no reply in time)."""


def load_everywhere(ep: endpoints.Endpoint, *, spec: str, base: str, name: str, path: str) -> str:
    """Load the adapter on every server of the endpoint (each replica, when it lists several);
    the model name chat requests then carry. A replica that cannot be reached is left to the
    endpoint's replica handling (its calls fail over to the others), as long as one server
    loaded the adapter."""
    urls = [r.url for r in getattr(ep, "replicas", ())] or [ep.url]
    served: str | None = None
    unreachable: list[_Unreachable] = []
    for url in urls:
        try:
            got = _load_adapter(ep, url, spec=spec, base=base, name=name, path=path)
        except _Unreachable as exc:
            unreachable.append(exc)
            continue
        served = served or got
    if served is None:
        raise unreachable[0]
    for missed in unreachable:
        say_once(f"{missed}; the other replicas serve the adapter")
    return served


def _load_adapter(ep: endpoints.Endpoint, url: str, *, spec: str, base: str, name: str, path: str) -> str:
    """Ask the server at base URL ``url`` to load the adapter at ``path`` as ``name``; the model
    name its chat requests then carry. vLLM serves ``POST /v1/load_lora_adapter`` and answers to
    ``name``; SGLang serves ``POST /load_lora_adapter`` (no ``/v1``) and answers to ``BASE:name``."""
    body = json.dumps({"lora_name": name, "lora_path": path}).encode("utf-8")
    root = url.rstrip("/")
    tries = [(f"{root}/load_lora_adapter", name)]
    if root.endswith("/v1"):
        tries.append((f"{root[:-3]}/load_lora_adapter", f"{base}:{name}"))
    for route, served in tries:
        status, message = _post_retried(ep, route, body, spec=spec)
        if status == 200 or (400 <= status < 500 and _ALREADY_LOADED.search(message)):
            return served
        if status == 404 and message.strip().lower() in ("", "not found"):
            continue  # no such route here: try the next, or say how to start the server
        if status == 404:
            raise BackendError(
                f"{spec}: the server at {root} cannot find the adapter at {path} ({message}); it "
                "reads the folder itself, so the path must exist on the server's machine (a shared "
                "disk, or a copy at the same path)")
        raise BackendError(
            f"{spec}: the server at {root} refused to load the adapter {path} (HTTP {status}: "
            f"{message}); start it with --enable-lora and a --max-lora-rank at least the adapter's r")
    raise BackendError(
        f"{spec}: the server at {root} does not load LoRA adapters at run time (HTTP 404 on "
        "/v1/load_lora_adapter); start vLLM with --enable-lora and the environment variable "
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True (SGLang: --enable-lora), or load the adapter when "
        f"the server starts (vllm serve {base} --enable-lora --lora-modules NAME={path}) and use "
        f"openai:NAME@{ep.url}")


def _post_retried(ep: endpoints.Endpoint, url: str, body: bytes, *, spec: str) -> tuple[int, str]:
    """``(status, error message or reply text)`` of a JSON POST, retried as chat requests are
    (429, 5xx, timeouts, dropped connections, up to the endpoint's ``max_retries``); a refused
    connection is a server that is not there, and raises :class:`_Unreachable` at once."""
    key = ep.settings.api_key()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    attempt = 0
    while True:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=ep.settings.timeout) as reply:
                return reply.status, reply.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status, message = exc.code, _error_message(exc.read().decode("utf-8", "replace"))
            if (status not in RETRYABLE_STATUS and status < 500) or _ALREADY_LOADED.search(message):
                return status, message
            problem, unreachable = f"HTTP {status}: {message}", False
        except OSError as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ConnectionRefusedError):
                raise _Unreachable(f"{spec}: cannot connect to {url} to load the adapter") from None
            problem, unreachable = f"connection failed ({reason})", True
        if attempt >= ep.settings.max_retries:
            error = _Unreachable if unreachable else BackendError
            raise error(f"{spec}: could not load the adapter ({url}): gave up after {attempt + 1} "
                        f"attempts; last error: {redact(problem)}")
        time.sleep(backoff(attempt, None))
        attempt += 1


def _error_message(text: str) -> str:
    """The message of an error reply: vLLM's ``{"error": {"message"}}`` or ``{"message"}``,
    SGLang's ``{"error_message"}``, FastAPI's ``{"detail"}``, else the text itself (shortened).

    >>> _error_message('{"detail": "Not Found"}'), _error_message('{"error": {"message": "no"}}')
    ('Not Found', 'no')
    """
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        error = value.get("error")
        for found in (error.get("message") if isinstance(error, dict) else error,
                      value.get("message"), value.get("error_message"), value.get("detail")):
            if isinstance(found, str) and found.strip():
                return redact(found.strip())[:500]
    return redact(text.strip())[:500]
