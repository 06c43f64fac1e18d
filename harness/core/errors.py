"""User-facing errors: the CLI prints ``harness: error: <message>`` and exits 2, no traceback.

Also the one place that keeps secrets out of messages: :func:`redact` removes every API key
harness has read (and anything shaped like a bearer token or an OpenAI key) from a text, and the
CLI's error line, retry messages and stored errors pass through it. Not handled: a key the user
pastes into a question or an answer (that is data, and is kept as written).
"""

from __future__ import annotations

import re
import threading

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
_SHAPES = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+|\bsk-[A-Za-z0-9_\-]{6,}")
REDACTED = "[redacted]"


class HarnessError(Exception):
    """A mistake in the user's input (file, field, name or value), reported in one line."""


class SpecError(HarnessError):
    """A model spec string that no backend accepts."""


class BackendError(HarnessError):
    """A backend that cannot run as asked (missing package, unreachable endpoint, bad key)."""


def register_secret(value: str) -> None:
    """Remember a secret (an API key just read) so that :func:`redact` removes it from messages."""
    if len(value) >= 4:  # shorter strings would blank out ordinary words
        with _LOCK:
            _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` without any registered secret, bearer token or ``sk-`` key.

    >>> register_secret("my-key-1234")
    >>> redact("HTTP 400: bad credentials: Bearer my-key-1234 (key my-key-1234)")
    'HTTP 400: bad credentials: Bearer [redacted] (key [redacted])'
    >>> redact("key sk-abcdef123456 rejected")
    'key [redacted] rejected'
    """
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return _SHAPES.sub(lambda m: (m.group(1) or "") + REDACTED if m.group(1) else REDACTED, text)
