"""The Markdown report: the leaderboard, win/tie/lose and per-task tables, for terminals and READMEs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.core.types import BiasCheck
from harness.reports.bias import bias_interval, bias_value
from harness.reports.leaderboard import table
from harness.reports.tables import Bold, Table, human_table, length_bins_table
from harness.stats.human import HumanAgreement


def render_table(t: Table, level: int = 2) -> list[str]:
    """A heading, the caption and the table (best cells in bold)."""
    rows = [[f"**{c.text}**" if isinstance(c, Bold) else c for c in row] for row in t.rows]
    return [f"{'#' * level} {t.title}", "", t.caption, "", *table(t.header, rows)]


def render_markdown_report(title: str, tables: Sequence[Table]) -> str:
    lines = [f"# {title}", ""]
    for t in tables:
        lines += [*render_table(t), ""]
    return "\n".join(lines)


def bias_markdown(checks: Sequence[BiasCheck], warnings: Sequence[str],
                  human: Sequence[HumanAgreement] = (),
                  length_bins: Mapping[str, Sequence[tuple[str, int, float]]] | None = None) -> list[str]:
    """Markdown lines (a table per judge's checks, then warnings and human agreement)."""
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
