"""How bias figures read in every report format: shares as percentages, slopes as log-odds."""

from __future__ import annotations

import math

from harness.core.types import BiasCheck


def bias_share(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.0%}"


def bias_value(c: BiasCheck) -> str:
    if not c.kind.is_share:
        return "n/a" if math.isnan(c.value) else f"{c.value:+.2f}"
    return bias_share(c.value)


def bias_interval(c: BiasCheck) -> str:
    if math.isnan(c.lower):
        return "n/a"
    if not c.kind.is_share:
        return f"[{c.lower:+.2f}, {c.upper:+.2f}]"
    return f"[{bias_share(c.lower)}, {bias_share(c.upper)}]"
