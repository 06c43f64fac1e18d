"""Per-endpoint limits for remote models: concurrency, requests and tokens per minute, timeouts,
retries, the API key; and the session that holds them (with the budget) while a run is going.

Limits belong to an endpoint (a base URL), not to a model: several models served by one vLLM
server share its limits. A run opens one :func:`session`; backends find their endpoint in it.

An endpoint may be served by several replicas (``replicas: [URL, ...]``, e.g. vLLM or SGLang
servers behind one name): each has its own connection pool, pacer and ``concurrency`` slots, a call
goes to the live replica with the fewest requests outstanding, and one that fails is set aside for
a cool-down while the others take its calls (:class:`Endpoint`). The name stays the endpoint's URL,
so a model's spec, hence its cache keys, never depend on which replica answered. Not handled: a
load balancer's health checks or sticky sessions (calls are independent), adding replicas while a
run is going.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.core.errors import HarnessError, register_secret
from harness.core.notes import say_once
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
    replicas: tuple[str, ...] = ()
    """Base URLs of the servers that serve this endpoint's models alike (vLLM or SGLang replicas):
    calls are spread over them and the limits above apply to each. Empty: the endpoint's own URL
    is its one server."""

    def __post_init__(self) -> None:
        _check(self, ENDPOINT_BOUNDS, "endpoint settings")
        # Frozen: the checked, normalised tuple replaces whatever sequence was given.
        object.__setattr__(self, "replicas", check_replicas(self.replicas, concurrency=self.concurrency,
                                                            where="endpoint settings: replicas"))

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
        if self.default.replicas:
            raise HarnessError("api settings: replicas serve one endpoint; list them under endpoints, "
                               "e.g. endpoints: {http://gpu-pool/v1: {replicas: [URL, URL]}}")

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
        return {**_settings_row(self.default),
                "endpoints": {u: _settings_row(s) for u, s in self.endpoints.items()},
                "max_cost": self.max_cost, "max_tokens": self.max_tokens,
                "prices": str(self.prices) if self.prices else None}


def _settings_row(settings: EndpointSettings) -> dict[str, Any]:
    """An endpoint's settings as YAML takes them; ``replicas`` only when set, so a config.yaml is
    what it was before replicas existed."""
    row = dataclasses.asdict(settings)
    if settings.replicas:
        row["replicas"] = list(settings.replicas)
    else:
        del row["replicas"]
    return row


MAX_REPLICAS = 64
"""Replicas one endpoint may list; a bigger pool belongs behind a load balancer."""
MAX_IN_FLIGHT = 4096
"""Requests one endpoint may have in flight over all its replicas (``concurrency`` each): a stream
runs one thread per request in flight, and past a few thousand the operating system is the limit."""


def check_replicas(value: Any, *, concurrency: int, where: str) -> tuple[str, ...]:
    """``value`` as an endpoint's replicas: http(s) base URLs without a trailing slash, none twice,
    at most :data:`MAX_REPLICAS`; else one error naming ``where`` and the value at fault.

    >>> check_replicas(["http://10.0.0.1:8000/v1/", "http://10.0.0.2:8000/v1"], concurrency=4, where="x")
    ('http://10.0.0.1:8000/v1', 'http://10.0.0.2:8000/v1')
    >>> check_replicas(["10.0.0.1:8000"], concurrency=4, where="replicas")
    Traceback (most recent call last):
    harness.core.errors.HarnessError: replicas: '10.0.0.1:8000' is not an http(s) URL (write http://HOST:PORT/v1)
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise HarnessError(f"{where}: expected a list of base URLs, got {value!r}")
    if len(value) > MAX_REPLICAS:
        raise HarnessError(f"{where}: {len(value)} replicas; at most {MAX_REPLICAS} (put a larger pool "
                           "behind a load balancer and give its URL)")
    urls: list[str] = []
    for url in value:
        if not isinstance(url, str) or not _http_url(url):
            raise HarnessError(f"{where}: {url!r} is not an http(s) URL (write http://HOST:PORT/v1)")
        url = normalise_url(url.strip())
        if url in urls:
            raise HarnessError(f"{where}: {url!r} is listed twice")
        urls.append(url)
    if concurrency * len(urls) > MAX_IN_FLIGHT:
        raise HarnessError(f"{where}: {len(urls)} replicas x concurrency {concurrency} is "
                           f"{concurrency * len(urls)} requests in flight; at most {MAX_IN_FLIGHT}")
    return tuple(urls)


def _http_url(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 -- raises ValueError for a port that is no number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.query \
        and not parts.fragment


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


COOL_DOWN = 5.0
"""Seconds a failed replica is set aside at first; doubled each time it fails again on coming
back, up to :data:`MAX_COOL_DOWN`."""
MAX_COOL_DOWN = 60.0
FAILURES_TO_SET_ASIDE = 3
"""Timeouts, 5xx or unreadable replies in a row that set a replica aside (a refused or dropped
connection does at once): one such failure may be the request's, three in a row are the server's."""


class Replica:
    """One server of an endpoint: its own connection pool, pacer and ``concurrency`` slots.

    The counters are the endpoint's to change, under its lock (:meth:`Endpoint.acquire`)."""

    def __init__(self, url: str, settings: EndpointSettings) -> None:
        self.url = url
        """Its base URL (the endpoint's own when the endpoint lists no replicas)."""
        self.pacer = Pacer(settings.rpm, settings.tpm)
        self.client: Any = None
        """The HTTP client, shared by every model served here (made by the backend)."""
        self.outstanding = 0
        """Requests sent or about to be sent here and not yet answered (at most ``concurrency``)."""
        self.down_until = 0.0
        """``time.monotonic()`` until which it is set aside (0: live)."""
        self.failures = 0
        """Failed requests in a row (see :data:`FAILURES_TO_SET_ASIDE`)."""
        self.set_asides = 0
        """Times it was set aside with no reply in between: the next cool-down's doubling."""
        self.last_pick = 0
        """When it was last picked (a sequence number), so ties go round the replicas."""

    def live(self, now: float) -> bool:
        return self.down_until <= now


class Endpoint:
    """The live state of one endpoint during a session: its replicas (one, its own URL, unless
    the settings list several) and which of them are up.

    A call takes a replica with :meth:`acquire` (the live one with the fewest requests outstanding
    and a free slot, waiting for one otherwise), gives it back with :meth:`release`, and reports
    how it went with :meth:`succeeded` or :meth:`failed`. When every replica is set aside, calls
    go to the one back soonest rather than stop: the backend's retries decide when to give up.
    """

    def __init__(self, url: str, settings: EndpointSettings) -> None:
        self.url = url
        """The endpoint's name in specs and settings: its base URL."""
        self.settings = settings
        self.replicas = tuple(Replica(u, settings) for u in settings.replicas or (url,))
        self.answered = False
        """Whether any request got a reply; a refused connection before that is a wrong URL."""
        self._changed = threading.Condition()
        self._picks = itertools.count(1)

    @property
    def pooled(self) -> bool:
        """Whether the settings list replicas (even one): calls then move between servers."""
        return bool(self.settings.replicas)

    @property
    def capacity(self) -> int:
        """The most requests in flight at once: ``concurrency`` per replica."""
        return self.settings.concurrency * len(self.replicas)

    @property
    def client(self) -> Any:
        """The first replica's client (the only one's, when the endpoint lists no replicas)."""
        return self.replicas[0].client

    def acquire(self, avoid: Collection[Replica] = ()) -> Replica:
        """A replica for one request, its slot taken: live ones first, those in ``avoid`` (which
        this call could not reach) last, then the fewest outstanding, then the least recently
        picked. Waits while the replicas it may use are full."""
        limit = self.settings.concurrency
        with self._changed:
            while True:
                now = time.monotonic()
                free = [r for r in self.replicas if r.outstanding < limit]
                if any(r.live(now) for r in self.replicas):
                    usable = [r for r in free if r.live(now)]
                    usable = [r for r in usable if r not in avoid] or usable
                else:
                    # All set aside: try the one back soonest, not stop; retries bound the tries.
                    usable = sorted(free, key=lambda r: r.down_until)[:1]
                if usable:
                    pick = min(usable, key=lambda r: (r.outstanding, r.last_pick))
                    pick.outstanding += 1
                    pick.last_pick = next(self._picks)
                    return pick
                # Wake when a slot is released, or when a replica's cool-down ends.
                back = [r.down_until - now for r in self.replicas if not r.live(now)]
                self._changed.wait(min(back) if back else None)

    def release(self, replica: Replica) -> None:
        """Give back the slot :meth:`acquire` took (whatever the request's outcome)."""
        with self._changed:
            replica.outstanding -= 1
            self._changed.notify_all()

    def succeeded(self, replica: Replica) -> None:
        """``replica`` answered: it is live, and its failures are forgotten."""
        self.answered = True
        if replica.failures or replica.set_asides or replica.down_until:
            with self._changed:
                replica.failures = replica.set_asides = 0
                replica.down_until = 0.0
                self._changed.notify_all()

    def failed(self, replica: Replica, *, at_once: bool, spec: str = "") -> None:
        """``replica`` failed a request: a refused or dropped connection (``at_once``) sets it aside
        now, other server failures after :data:`FAILURES_TO_SET_ASIDE` in a row. Only a pooled
        endpoint sets anything aside: alone, a replica has nowhere to send its calls."""
        if not self.pooled:
            return
        with self._changed:
            now = time.monotonic()
            replica.failures += 1
            if not (at_once or replica.failures >= FAILURES_TO_SET_ASIDE) or not replica.live(now):
                return  # not yet; or set aside already, by another of the calls that were in flight
            replica.failures = 0
            replica.set_asides += 1
            pause = min(MAX_COOL_DOWN, COOL_DOWN * 2 ** (replica.set_asides - 1))
            replica.down_until = now + pause
            others = sum(r.live(now) for r in self.replicas)
        say_once(f"{spec or self.url}: replica {replica.url} failed; set aside for {pause:g} s, "
                 f"{others} of {len(self.replicas)} replicas take its calls")

    def another_live(self, tried: Collection[Replica]) -> bool:
        """Whether a live replica outside ``tried`` exists (a call that could not reach ``tried``
        may go there without it counting as a retry)."""
        now = time.monotonic()
        return any(r.live(now) and r not in tried for r in self.replicas)


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
