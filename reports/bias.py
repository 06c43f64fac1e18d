"""The bias section of a report: position, length, self-preference, probes and human agreement."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from harness.types import BiasCheck
from judges.human import HumanAgreement


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.0%}"


def _value(c: BiasCheck) -> str:
    if "slope" in c.check:
        return "n/a" if math.isnan(c.value) else f"{c.value:+.2f}"
    return _pct(c.value)


def _interval(c: BiasCheck) -> str:
    if math.isnan(c.lower):
        return "n/a"
    if "slope" in c.check:
        return f"{c.lower:+.2f} – {c.upper:+.2f}"
    return f"{_pct(c.lower)} – {_pct(c.upper)}"


def bias_markdown(checks: Sequence[BiasCheck], warnings: Sequence[str],
                  human: Sequence[HumanAgreement] = (),
                  length_bins: Mapping[str, Sequence[tuple[str, int, float]]] | None = None) -> list[str]:
    """Markdown lines (a table per judge's checks, then warnings and human agreement)."""
    from reports.leaderboard import table

    lines = ["## Judge bias checks", "",
             "How far each judge can be trusted (95% intervals; n = items behind each figure). Position "
             "and length come from the run's own judgments; probes (`harness bias`) judge an answer "
             "against an altered copy in both orders.", ""]
    lines += [f"> **Warning:** {w}" for w in warnings] + ([""] if warnings else [])
    lines += table(("judge", "check", "value", "95% CI", "n", "what it means"),
                   [(c.judge, c.check, _value(c), _interval(c), c.n, c.note) for c in checks])
    bins = {j: rows for j, rows in (length_bins or {}).items() if any(n for _, n, _ in rows)}
    if bins:
        labels = [label for label, _, _ in next(iter(bins.values()))]
        lines += ["", "### Win rate by length difference", "",
                  "Share of verdicts won by the pair's first model, by how many characters longer its "
                  "answer was (n in brackets); a length-blind judge's row does not climb left to right.", ""]
        lines += table(("judge", *labels), [(j, *(f"{_pct(share)} ({n})" for _, n, share in rows))
                                            for j, rows in bins.items()])
    if human:
        lines += ["", "### Agreement with the human labels", ""]
        lines += table(("judge", "labelled comparisons", "agreement", "agreement without ties",
                        "Cohen's kappa"),
                       [(h.judge, h.n, _pct(h.rate), f"{_pct(h.rate_without_ties)} (n={h.decisive})",
                         "n/a" if math.isnan(h.kappa) else f"{h.kappa:.2f}") for h in human])
    return lines
