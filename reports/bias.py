"""The bias section of a report: position, length, self-preference, probes and human agreement."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from harness.types import BiasCheck
from judges.human import HumanAgreement


def bias_share(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.0%}"


def bias_value(c: BiasCheck) -> str:
    if "slope" in c.check:
        return "n/a" if math.isnan(c.value) else f"{c.value:+.2f}"
    return bias_share(c.value)


def bias_interval(c: BiasCheck) -> str:
    if math.isnan(c.lower):
        return "n/a"
    if "slope" in c.check:
        return f"{c.lower:+.2f} – {c.upper:+.2f}"
    return f"{bias_share(c.lower)} – {bias_share(c.upper)}"


def bias_markdown(checks: Sequence[BiasCheck], warnings: Sequence[str],
                  human: Sequence[HumanAgreement] = (),
                  length_bins: Mapping[str, Sequence[tuple[str, int, float]]] | None = None) -> list[str]:
    """Markdown lines (a table per judge's checks, then warnings and human agreement)."""
    from reports.leaderboard import table
    from reports.markdown import render_table
    from reports.tables import human_table, length_bins_table

    lines = ["## Judge bias checks", "",
             "How far each judge can be trusted (95% intervals; n = items behind each figure). Position "
             "and length come from the run's own judgments; probes (`harness bias`) judge an answer "
             "against an altered copy in both orders.", ""]
    lines += [f"> **Warning:** {w}" for w in warnings] + ([""] if warnings else [])
    lines += table(("judge", "check", "value", "95% CI", "n", "what it means"),
                   [(c.judge, c.check, bias_value(c), bias_interval(c), c.n, c.note) for c in checks])
    for extra in (length_bins_table(length_bins or {}), human_table(human)):
        if extra is not None:
            lines += ["", *render_table(extra, level=3)]
    return lines
