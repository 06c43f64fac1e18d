"""Calls, tokens and cost per model and per judge, from the run directory's call cache."""

from __future__ import annotations

from collections.abc import Mapping

from harness.core.errors import SpecError
from harness.core.types import UsageLine
from harness.models.adapt import Shape, first_budget, known_shape
from harness.models.backends import parse_spec
from harness.models.budget import Prices
from harness.models.cache import CallCache
from harness.models.endpoints import ApiConfig, normalise_url

LOCAL_SCHEMES = {"embedded", "hf"}


def model_price_name(spec: str) -> str | None:
    """The model name prices are looked up by; None for local models.

    >>> model_price_name("openai:gpt-4o-mini@http://localhost:8000/v1"), model_price_name("embedded")
    ('gpt-4o-mini', None)
    """
    try:
        parsed = parse_spec(spec)
    except SpecError:
        return spec
    if parsed.scheme in LOCAL_SCHEMES:
        return None
    return parsed.arg.partition("@")[0] if parsed.scheme == "openai" else spec


def cost_of(spec: str, prompt_tokens: int, completion_tokens: int, prices: Prices,
            cached_tokens: int = 0) -> float | None:
    model = model_price_name(spec)
    if model is None:
        return 0.0
    price = prices.lookup(model)
    return price.cost(prompt_tokens, completion_tokens, cached_tokens) if price else None


def endpoint_of(spec: str) -> tuple[str, str] | None:
    """The ``(endpoint, model)`` an ``openai:`` spec calls, as :mod:`harness.models.adapt` keys its
    shapes; None for other backends.

    >>> endpoint_of("openai:o3-mini"), endpoint_of("embedded")
    (('https://api.openai.com/v1', 'o3-mini'), None)
    """
    try:
        parsed = parse_spec(spec)
    except SpecError:
        return None
    if parsed.scheme != "openai":
        return None
    model, _, url = parsed.arg.partition("@")
    return normalise_url(url or None), model


def usage_lines(cache: CallCache, prices: Prices) -> list[UsageLine]:
    """Every call the cache holds (all invocations on this run directory), summed; each remote
    model with the sampling settings it decided itself (its endpoint refuses them)."""
    shapes = {(endpoint, model): Shape.from_row(row) for endpoint, model, row in cache.shapes()}

    def decided(spec: str) -> tuple[str, ...]:
        key = endpoint_of(spec)
        return shapes[key].decided_by_model if key in shapes else ()

    return [UsageLine(r.kind, r.name or r.spec or "(earlier run)", r.spec, r.calls, r.prompt_tokens,
                      r.completion_tokens,
                      cost_of(r.spec, r.prompt_tokens, r.completion_tokens, prices, r.cached_tokens),
                      r.unreported, r.reasoning_tokens, r.cached_tokens, r.budget_retries, decided(r.spec))
            for r in cache.usage()]


def reply_budget(spec: str, max_new_tokens: int, api: ApiConfig,
                 learned: Mapping[tuple[str, str], Shape] | None = None) -> tuple[int, bool]:
    """The completion tokens one call of ``spec`` may take at first, and whether the model
    reasons: ``max_new_tokens``, plus the endpoint's reasoning budget for a reasoning model (its
    known family, or what the run's cache learned about it), for ``--dry-run`` and ``--max-cost``.

    >>> reply_budget("openai:o4-mini", 512, ApiConfig()), reply_budget("openai:gpt-4o", 512, ApiConfig())
    ((4608, True), (512, False))
    """
    key = endpoint_of(spec)
    if key is None:
        return max_new_tokens, False
    shape = (learned or {}).get(key) or known_shape(key[1])
    settings = api.settings(key[0])
    return (first_budget(shape, max_new_tokens, settings.reasoning_budget, settings.reasoning_cap),
            shape.reasoning)
