"""Calls, tokens and cost per model and per judge, from the run directory's call cache."""

from __future__ import annotations

from harness.core.errors import SpecError
from harness.core.types import UsageLine
from harness.models.backends import parse_spec
from harness.models.budget import Prices
from harness.models.cache import CallCache

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


def cost_of(spec: str, prompt_tokens: int, completion_tokens: int, prices: Prices) -> float | None:
    model = model_price_name(spec)
    if model is None:
        return 0.0
    price = prices.lookup(model)
    return price.cost(prompt_tokens, completion_tokens) if price else None


def usage_lines(cache: CallCache, prices: Prices) -> list[UsageLine]:
    """Every call the cache holds (all invocations on this run directory), summed."""
    return [UsageLine(r.kind, r.name or r.spec or "(earlier run)", r.spec, r.calls, r.prompt_tokens,
                      r.completion_tokens, cost_of(r.spec, r.prompt_tokens, r.completion_tokens, prices),
                      r.unreported)
            for r in cache.usage()]
