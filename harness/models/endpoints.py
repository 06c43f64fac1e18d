"""Per-endpoint limits for remote models: concurrency, requests and tokens per minute, timeouts,
retries, the API key; and the session that holds them (with the budget) while a run is going.

Limits belong to an endpoint (a base URL), not to a model: several models served by one vLLM
server share its limits. A run opens one :func:`session`; backends find their endpoint in it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.core.errors import HarnessError, register_secret
from harness.core.numbers import Bounds, check_number
from harness.models.adapt import Adaptations
from harness.models.budget import Budget, Prices, load_prices

OPENAI_URL = "https://api.openai.com/v1"
VENDOR_KEYS: Mapping[str, str] = {
    "api.openai.com": "OPENAI_API_KEY",
    "api.anthropic.com": "ANTHROPIC_API_KEY",
    "generativelanguage.googleapis.com": "GEMINI_API_KEY",
    "api.deepseek.com": "DEEPSEEK_API_KEY",
    "api.together.xyz": "TOGETHER_API_KEY",
    "openrouter.ai": "OPENROUTER_API_KEY",
}
"""Each hosted vendor's OpenAI-compatible endpoint (by host) and the variable its key is read from
unless the run config names another (``api_key_env``)."""


def vendor_key_env(url: str | None) -> str | None:
    """The key variable of a known vendor's endpoint; None for any other (a local server).

    >>> vendor_key_env("https://api.anthropic.com/v1/"), vendor_key_env("http://localhost:8000/v1")
    ('ANTHROPIC_API_KEY', None)
    """
    return VENDOR_KEYS.get(urlsplit(normalise_url(url)).hostname or "")


@dataclass(frozen=True)
class EndpointSettings:
    """How hard one endpoint may be driven, and where its key comes from."""

    concurrency: int = 8
    """Requests in flight at once."""
    rpm: float | None = None
    """Requests per minute (None: no limit)."""
    tpm: float | None = None
    """Tokens per minute, prompt plus the most the reply may take (None: no limit)."""
    timeout: float = 120.0
    """Seconds to wait for one reply before it is retried."""
    max_retries: int = 6
    """Retries of one request after 429, 5xx, timeouts and dropped connections."""
    reasoning_budget: int = 4096
    """Completion tokens a reasoning model gets on top of ``max_new_tokens`` at first, to think
    before it answers (OpenAI's reasoning models count their hidden reasoning as completion)."""
    reasoning_cap: int = 32768
    """The largest completion budget one call may take: a reply cut off while reasoning is asked
    again with four times the budget, up to this; still cut off there, it is an error."""
    api_key_env: str = "OPENAI_API_KEY"
    """The environment variable holding the key."""
    api_key_file: str | None = None
    """A file holding the key, used when the variable is unset. The key itself never goes in a
    run config, because the run config is copied into the run directory."""

    def __post_init__(self) -> None:
        _check(self, ENDPOINT_BOUNDS, "endpoint settings")

    def api_key(self) -> str | None:
        """The key, registered with :func:`harness.core.errors.redact` so no message can show it."""
        key = (os.environ.get(self.api_key_env) or "").strip()
        if not key and self.api_key_file:
            path = Path(self.api_key_file).expanduser()
            try:
                key = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise HarnessError(f"api_key_file {str(path)!r}: cannot read it ({exc.strerror})") from None
        if key:
            register_secret(key)
        return key or None


@dataclass(frozen=True)
class ApiConfig:
    """Settings for every remote call of a run: endpoint limits and the budget."""

    default: EndpointSettings = field(default_factory=EndpointSettings)
    """Applies to every endpoint not listed in ``endpoints``."""
    endpoints: Mapping[str, EndpointSettings] = field(default_factory=dict)
    """Settings by base URL, e.g. ``http://localhost:8000/v1``."""
    max_cost: float | None = None
    """Stop before the run's new calls could cost more than this (USD)."""
    max_tokens: int | None = None
    """Stop before the run's new calls could use more tokens than this (prompt + reply)."""
    prices: Path | None = None
    """A prices file replacing the built-in one."""

    def __post_init__(self) -> None:
        _check(self, API_BOUNDS, "api settings")

    def settings(self, base_url: str | None) -> EndpointSettings:
        """An endpoint's settings: its own entry, else the defaults, reading a known vendor's key
        variable (``ANTHROPIC_API_KEY`` for api.anthropic.com...) unless another was named."""
        url = normalise_url(base_url)
        if url in self.endpoints:
            return self.endpoints[url]
        vendor = vendor_key_env(url)
        if vendor and self.default.api_key_env == EndpointSettings.api_key_env:
            return dataclasses.replace(self.default, api_key_env=vendor)
        return self.default

    def to_row(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self.default),
                "endpoints": {u: dataclasses.asdict(s) for u, s in self.endpoints.items()},
                "max_cost": self.max_cost, "max_tokens": self.max_tokens,
                "prices": str(self.prices) if self.prices else None}


ENDPOINT_BOUNDS: Mapping[str, Bounds] = {
    # Beyond ~1000 threads per endpoint the operating system, not the server, is the limit.
    "concurrency": Bounds(int, low=1, high=1024),
    # Below 0.001 a minute the pacer's wait overflows time.sleep (and no run would finish).
    "rpm": Bounds(float, low=0.001),
    "tpm": Bounds(float, low=0.001),
    "timeout": Bounds(float, low=0, high=86400, low_open=True),
    "max_retries": Bounds(int, low=0),
    "reasoning_budget": Bounds(int, low=0),
    "reasoning_cap": Bounds(int, low=1),
}
"""The numeric endpoint settings' ranges, for YAML, flags and Python alike (None: no limit)."""

API_BOUNDS: Mapping[str, Bounds] = {
    # 0 is a real budget: only cached calls may run.
    "max_cost": Bounds(float, low=0),
    "max_tokens": Bounds(int, low=0),
}


def _check(settings: object, bounds: Mapping[str, Bounds], where: str) -> None:
    for name, b in bounds.items():
        value = getattr(settings, name)
        if value is not None:
            check_number(value, bounds=b, field=name, where=f"{where}: {name}")


def normalise_url(url: str | None) -> str:
    """An endpoint's key: its base URL without a trailing slash (OpenAI's own when none).

    >>> normalise_url("http://localhost:8000/v1/"), normalise_url(None)
    ('http://localhost:8000/v1', 'https://api.openai.com/v1')
    """
    return (url or OPENAI_URL).rstrip("/")


class Pacer:
    """Spaces out requests and tokens so neither per-minute limit is passed.

    Each unit (a request, a token) books the next free moment ``60 / limit`` seconds after the
    previous one; a 429's Retry-After pushes every later booking back.
    """

    def __init__(self, rpm: float | None, tpm: float | None) -> None:
        self._req = 60.0 / rpm if rpm else 0.0
        self._tok = 60.0 / tpm if tpm else 0.0
        self._next_req = self._next_tok = 0.0
        self._lock = threading.Lock()

    def wait(self, tokens: int) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_req, self._next_tok)
            if self._req:
                self._next_req = start + self._req
            if self._tok:
                self._next_tok = max(self._next_tok, start) + tokens * self._tok
        if start > now:
            time.sleep(start - now)

    def refund(self, tokens: int) -> None:
        """Give back tokens booked but not used (the estimate was above the real count)."""
        if self._tok and tokens > 0:
            with self._lock:
                self._next_tok -= tokens * self._tok

    def hold(self, seconds: float) -> None:
        """Send nothing more for ``seconds`` (the endpoint asked us to back off)."""
        with self._lock:
            until = time.monotonic() + seconds
            self._next_req = max(self._next_req, until)
            self._next_tok = max(self._next_tok, until)


class Endpoint:
    """The live state of one endpoint during a session."""

    def __init__(self, url: str, settings: EndpointSettings) -> None:
        self.url = url
        self.settings = settings
        self.pacer = Pacer(settings.rpm, settings.tpm)
        self.slots = threading.BoundedSemaphore(settings.concurrency)
        self.answered = False
        """Whether any request got a reply; a refused connection before that is a wrong URL."""
        self.client: Any = None
        """The HTTP client, shared by every model served here (made by the backend)."""


class Session:
    """Endpoints and the budget shared by every backend during one run."""

    def __init__(self, api: ApiConfig) -> None:
        self.api = api
        self.prices: Prices = load_prices(api.prices)
        self.budget = Budget(api.max_cost, api.max_tokens)
        self.adaptations = Adaptations()
        """How each endpoint and model is asked, as learned (``harness.models.adapt``)."""
        self._endpoints: dict[str, Endpoint] = {}
        self._lock = threading.Lock()

    def endpoint(self, base_url: str | None) -> Endpoint:
        url = normalise_url(base_url)
        with self._lock:
            if url not in self._endpoints:
                self._endpoints[url] = Endpoint(url, self.api.settings(url))
            return self._endpoints[url]


_ACTIVE: Session | None = None
_DEFAULT: Session | None = None
_LOCK = threading.Lock()


@contextlib.contextmanager
def session(api: ApiConfig | None = None) -> Iterator[Session]:
    """Make ``api`` the settings of every remote call inside the block.

    A nested call with the same settings (or none) joins the session already open, so ``harness
    run`` keeps one budget across its generation and judging stages; one with other settings is
    an error rather than settings silently ignored.
    """
    global _ACTIVE
    with _LOCK:
        outer = _ACTIVE
        if outer is not None and api is not None and api != outer.api:
            raise HarnessError("an endpoint session with other settings (limits, keys or budget) is "
                               "already open; finish it before starting one with new settings")
        mine = outer or Session(api or ApiConfig())
        _ACTIVE = mine
    try:
        yield mine
    finally:
        if outer is None:
            with _LOCK:
                _ACTIVE = None


def current() -> Session:
    """The open session; outside any run, one with default settings and no budget."""
    global _DEFAULT
    with _LOCK:
        if _ACTIVE is not None:
            return _ACTIVE
        if _DEFAULT is None:
            _DEFAULT = Session(ApiConfig())
        return _DEFAULT
