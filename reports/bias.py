"""How bias figures read in every report format: shares as percentages, slopes as log-odds."""

from __future__ import annotations

import math

from harness.core.types import BiasCheck
from harness.reports.numbers import interval, percent, signed


def bias_share(x: float) -> str:
    """A bias share: a whole percentage (``54%``)."""
    return percent(x, decimals=0, sign=True)


def bias_value(c: BiasCheck) -> str:
    if not c.kind.is_share:
        return signed(c.value)
    return bias_share(c.value)


def bias_interval(c: BiasCheck) -> str:
    if math.isnan(c.lower):
        return "n/a"
    if not c.kind.is_share:
        return interval(signed(c.lower), signed(c.upper))
    return interval(bias_share(c.lower), bias_share(c.upper))
