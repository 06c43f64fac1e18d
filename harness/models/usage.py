"""Calls, tokens and cost per model and per judge, from the run directory's call cache."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import SpecError
from harness.core.storage import write_csv
from harness.models.backends import parse_spec
from harness.models.budget import Prices
from harness.models.cache import CallCache

LOCAL_SCHEMES = {"embedded", "hf"}
CSV_HEADER = ("stage", "name", "spec", "calls", "prompt_tokens", "completion_tokens", "cost_usd",
              "calls_without_token_counts")


@dataclass(frozen=True)
class UsageLine:
    stage: str
    """``generate`` (a candidate model) or ``judge``."""
    name: str
    spec: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    """US dollars; 0 for local models; None when the model has no known price."""
    unreported: int = 0
    """Calls whose backend gave no token counts (likelihood scoring; some local servers)."""


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


def write_usage_csv(path: Path, lines: Sequence[UsageLine]) -> None:
    write_csv(path, CSV_HEADER, [
        (u.stage, u.name, u.spec, u.calls, u.prompt_tokens, u.completion_tokens,
         "" if u.cost is None else f"{u.cost:.6f}", u.unreported) for u in lines])
