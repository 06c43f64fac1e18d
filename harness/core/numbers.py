"""The one check of a numeric setting, wherever it came from (a YAML field, a flag, Python).

A value that passes type checks can still break a run far from where it was given: ``nan`` slips
through every ``<`` comparison, ``inf`` means "no limit" without saying so, and a negative seed
fails in numpy after every model call was paid for. So each numeric setting declares its
:class:`Bounds`, and :func:`check_number` refuses a bad value in one line naming where it came
from, before anything runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.core.errors import HarnessError

SEED_MAX = 2**32 - 1
"""The largest seed every consumer takes (numpy's legacy seeding and llama.cpp stop at 32 bits)."""


@dataclass(frozen=True)
class Bounds:
    """The values one numeric setting may take: a whole number or not, and its range.

    >>> Bounds(int, low=1).describe()
    'at least 1'
    >>> Bounds(float, low=0, high=1, low_open=True).describe()
    'in (0, 1]'
    """

    kind: type[int] | type[float]
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    """Whether ``low`` itself is refused (a timeout of 0 s, a top_p of 0)."""

    def describe(self) -> str:
        if self.high is not None:
            return f"in {'(' if self.low_open else '['}{_show(self.low)}, {_show(self.high)}]"
        return f"{'above' if self.low_open else 'at least'} {_show(self.low)}"

    def contains(self, x: float) -> bool:
        above = self.low is None or (x > self.low if self.low_open else x >= self.low)
        return above and (self.high is None or x <= self.high)


def check_number(value: object, *, bounds: Bounds, field: str, where: str) -> int | float:
    """``value`` as ``bounds.kind`` if it is a finite number in range, else :class:`HarnessError`.

    ``where`` names the value for the user (``run.yaml: field 'seed'``, ``--seed``); ``field`` is
    the setting's own name, said in the range message so a flag's user learns the config field.

    >>> check_number(2.0, bounds=Bounds(int, low=1), field="limit", where="--limit")
    2
    >>> check_number(float("nan"), bounds=Bounds(float, low=0), field="max_cost", where="--max-cost")
    Traceback (most recent call last):
    ...
    harness.core.errors.HarnessError: --max-cost: nan is not a finite number
    >>> check_number(0, bounds=Bounds(int, low=1), field="limit", where="run.yaml: field 'limit'")
    Traceback (most recent call last):
    ...
    harness.core.errors.HarnessError: run.yaml: field 'limit': 0 is out of range; limit must be at least 1
    """
    whole = bounds.kind is int
    # bool is an int to Python, but `seed: true` is a slip, not the number 1.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HarnessError(f"{where} must be a {'whole ' if whole else ''}number, got {value!r}")
    # An int is finite however large (and too large for math.isfinite, which converts to float).
    if isinstance(value, float) and not math.isfinite(value):
        raise HarnessError(f"{where}: {value!r} is not a finite number")
    if whole and isinstance(value, float) and not value.is_integer():
        raise HarnessError(f"{where} must be a whole number, got {value!r}")
    if not bounds.contains(value):
        raise HarnessError(f"{where}: {value!r} is out of range; {field} must be {bounds.describe()}")
    return int(value) if whole else float(value)


def json_number(x: float | None) -> float | None:
    """A figure for JSON, which has no NaN: None where it does not apply or has nothing to count.

    >>> json_number(float("nan")), json_number(None), json_number(0.5)
    (None, None, 0.5)
    """
    return None if x is None or math.isnan(x) else x


def _show(x: float | None) -> str:
    return "-inf" if x is None else f"{x:g}" if isinstance(x, float) else str(x)
