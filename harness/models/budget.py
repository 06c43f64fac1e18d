"""Prices, token estimates and the budget that stops a run before it overspends.

The budget books each remote call at its worst case (the estimated prompt plus the most tokens
the reply may take) before it is sent, and settles it at the real usage the endpoint reports, so
the calls in flight can never carry the spending past ``--max-cost`` or ``--max-tokens``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.files import read_yaml
from harness.core.types import Message

BUILTIN_PRICES = Path(__file__).with_name("prices.yaml")


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float
    cached_input: float | None = None
    """Prompt tokens read from the provider's prompt cache; None: charged as ``input``."""
    batch_input: float | None = None
    """The prompt through the provider's Batch API (``--batch-api``); None: charged as ``input``."""
    batch_output: float | None = None
    """The reply through the Batch API; None: charged as ``output``."""

    def for_batch(self) -> Price:
        """What a call costs through the Batch API: its batch rates where the prices file gives
        them, else the standard ones (an upper bound, never a guess below it).

        >>> Price(2.0, 8.0, batch_input=1.0, batch_output=4.0).for_batch().cost(1_000_000, 1_000_000)
        5.0
        """
        return Price(self.input if self.batch_input is None else self.batch_input,
                     self.output if self.batch_output is None else self.batch_output, None)

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        """What a call costs: its cached prompt tokens at the cached rate, the rest of the prompt at
        the input rate, and every completion token (reasoning included) at the output rate.

        >>> Price(2.0, 8.0, cached_input=0.5).cost(1_000_000, 0, cached_tokens=500_000)
        1.25
        """
        cached = min(max(cached_tokens, 0), prompt_tokens)
        rate = self.input if self.cached_input is None else self.cached_input
        return ((prompt_tokens - cached) * self.input + cached * rate
                + completion_tokens * self.output) / 1e6


class Prices(dict[str, Price]):
    """Model name (or ``prefix*`` pattern) to price."""

    def lookup(self, model: str) -> Price | None:
        """The exact entry, else the longest matching ``prefix*`` pattern.

        >>> p = Prices({"gpt-4o": Price(2.5, 10), "gpt-4o-mini*": Price(0.15, 0.6)})
        >>> p.lookup("gpt-4o-mini-2024-07-18").input, p.lookup("gpt-4o").output, p.lookup("llama")
        (0.15, 10, None)
        """
        if model in self:
            return self[model]
        matches = [k for k in self if k.endswith("*") and model.startswith(k[:-1])]
        return self[max(matches, key=len)] if matches else None

    def for_batch(self) -> Prices:
        """Every entry at its Batch API rates (:meth:`Price.for_batch`)."""
        return Prices({name: price.for_batch() for name, price in self.items()})


def load_prices(path: Path | None = None) -> Prices:
    """Read a prices file (the built-in one by default); a malformed entry names itself."""
    path = path or BUILTIN_PRICES
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a mapping of model name to {{input, output}}")
    prices = Prices()
    for name, entry in data.items():
        ok = (isinstance(entry, dict) and {"input", "output"} <= set(entry)
              and set(entry) <= {"input", "output", "cached_input", "batch_input", "batch_output"}
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                      and v >= 0 for v in entry.values()))
        if not ok:
            raise HarnessError(f"{path}: model {name!r}: expected {{input: USD, output: USD}} per "
                               f"million tokens (and optionally cached_input, batch_input, batch_output: "
                               f"USD), got {entry!r}")
        extra = {k: float(entry[k]) for k in ("cached_input", "batch_input", "batch_output") if k in entry}
        prices[str(name)] = Price(float(entry["input"]), float(entry["output"]), **extra)
    return prices


def estimate_tokens(messages: Sequence[Message]) -> int:
    """A deliberately high token count for a chat prompt, without a tokenizer.

    English runs about 4 characters per token and Chinese about 1 to 1.5 tokens per character;
    counting 3 and 1.5 keeps the budget safe for both.

    >>> estimate_tokens([{"role": "user", "content": "abcdef"}])
    6
    >>> estimate_tokens([{"role": "user", "content": "法律"}])
    7
    """
    total = 0
    for m in messages:
        text = m["content"]
        wide = sum(1 for ch in text if ord(ch) > 127)
        total += 4 + math.ceil((len(text) - wide) / 3 + wide * 1.5)
    return total


def no_price(spec: str, model: str) -> HarnessError:
    return HarnessError(f"{spec}: no price known for {model}, so --max-cost cannot be kept; "
                        "add it to a prices file (--prices FILE; 0 for a free local endpoint)")


class BudgetExceeded(HarnessError):
    """The next call could carry spending past the limit; nothing more is sent."""


@dataclass
class Ticket:
    tokens: int
    cost: float


class Budget:
    """Spending of one run's new calls, against optional limits. Thread-safe."""

    def __init__(self, max_cost: float | None = None, max_tokens: int | None = None) -> None:
        if max_cost is not None and max_cost < 0:
            raise HarnessError(f"--max-cost must be 0 or more, got {max_cost}")
        if max_tokens is not None and max_tokens < 0:
            raise HarnessError(f"--max-tokens must be 0 or more, got {max_tokens}")
        self.max_cost = max_cost
        self.max_tokens = max_tokens
        self.spent_cost = 0.0
        self.spent_tokens = 0
        self.calls = 0
        self._held = Ticket(0, 0.0)
        self._stopped: str | None = None
        self._lock = threading.Lock()

    def reserve(self, who: str, prompt_tokens: int, max_reply: int, price: Price | None) -> Ticket:
        """Book a call at its worst case, or raise :class:`BudgetExceeded`."""
        if price is None and self.max_cost is not None:
            raise no_price(who, "this model")
        ticket = Ticket(prompt_tokens + max_reply, price.cost(prompt_tokens, max_reply) if price else 0.0)
        with self._lock:
            if self._stopped is None:
                self._stopped = self._over(ticket)
            if self._stopped is not None:
                raise BudgetExceeded(self._stopped)
            self._held.tokens += ticket.tokens
            self._held.cost += ticket.cost
        return ticket

    def _over(self, t: Ticket) -> str | None:
        done = f"{self.calls} calls so far; finished calls are cached, re-run with a higher limit to go on"
        tokens = self.spent_tokens + self._held.tokens + t.tokens
        if self.max_tokens is not None and tokens > self.max_tokens:
            return (f"budget reached: the next call could bring the tokens to {tokens:,}, over "
                    f"--max-tokens {self.max_tokens:,} ({self.spent_tokens:,} used on {done})")
        cost = self.spent_cost + self._held.cost + t.cost
        if self.max_cost is not None and cost > self.max_cost:
            return (f"budget reached: the next call could bring the cost to ${cost:.4f}, over "
                    f"--max-cost ${self.max_cost:.4f} (${self.spent_cost:.4f} spent on {done})")
        return None

    def settle(self, ticket: Ticket, tokens: int, cost: float) -> None:
        """Replace a booking by what the call really used."""
        with self._lock:
            self._release(ticket)
            self.spent_tokens += tokens
            self.spent_cost += cost
            self.calls += 1

    def release(self, ticket: Ticket) -> None:
        """Drop the booking of a call that failed (endpoints do not bill failed requests)."""
        with self._lock:
            self._release(ticket)

    def _release(self, ticket: Ticket) -> None:
        self._held.tokens -= ticket.tokens
        self._held.cost -= ticket.cost
