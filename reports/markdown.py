"""The Markdown report: the leaderboard, win/tie/lose and per-task tables, for terminals and READMEs."""

from __future__ import annotations

from collections.abc import Sequence

from reports.leaderboard import table
from reports.tables import Bold, Table


def render_table(t: Table, level: int = 2) -> list[str]:
    """A heading, the caption and the table (best cells in bold)."""
    rows = [[f"**{c.text}**" if isinstance(c, Bold) else c for c in row] for row in t.rows]
    return [f"{'#' * level} {t.title}", "", t.caption, "", *table(t.header, rows)]


def render_markdown_report(title: str, tables: Sequence[Table]) -> str:
    lines = [f"# {title}", ""]
    for t in tables:
        lines += [*render_table(t), ""]
    return "\n".join(lines)
