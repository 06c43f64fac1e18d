"""Markdown: ``leaderboard.md`` (the run's summary, printed by ``harness run``), ``report.md`` and
the bias section of ``harness bias``, all rendered from the report's one set of tables."""

from __future__ import annotations

from collections.abc import Sequence

from harness.analysis.figures import OVERALL_TURNS, THRESHOLDS, BiasResult, Figures, JudgeHealth
from harness.core.text import md_cell
from harness.reports.sections import TURNS_TITLE, heading, sectioned
from harness.reports.tables import Bold, Table, bias_section, summary_tables


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A pipe table; every cell goes through :func:`md_cell`, so a model named ``<img ...>`` or
    ``a|b\\nc`` is shown as text and cannot add a column, a row or HTML."""
    out = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return out


def _bolded(t: Table) -> tuple[tuple[str, ...], list[list[str]]]:
    """Header and rows, notes included, the best cells in bold."""
    header, cells = t.short.with_notes  # a table of answers: their texts cut (report.html has them whole)
    return header, [[f"**{c.text}**" if isinstance(c, Bold) else c for c in row] for row in cells]


def render_table(t: Table, level: int = 2) -> list[str]:
    """A heading, the caption and the table (best cells in bold)."""
    return [f"{'#' * level} {t.title}", "", t.caption, "", *markdown_table(*_bolded(t))]


def warning_lines(warnings: Sequence[str]) -> list[str]:
    # Warnings name judges, whose names are the user's text.
    return [line for w in warnings for line in (f"> **Warning:** {md_cell(w)}", "")]


def render_tables(tables: Sequence[Table]) -> list[str]:
    """Each table under its own heading; the per-turn leaderboards together under one, which says
    how the overall leaderboard combines the turns."""
    lines: list[str] = []
    in_turns = False
    for t in tables:
        if t.turn is not None and not in_turns:
            lines += [f"## {TURNS_TITLE}", "", OVERALL_TURNS, ""]
        in_turns = t.turn is not None
        lines += [*render_table(t, level=3 if in_turns else 2), ""]
    return lines


def health_lines(health: Sequence[JudgeHealth]) -> list[str]:
    """The judge-health verdicts, one line per judge, and the thresholds behind them."""
    if not health:
        return []
    # A judge's name is the user's text.
    return ["**Judge health**", "", *(f"- {md_cell(h.line())}" for h in health), "", f"_{THRESHOLDS}_", ""]


def render_markdown_report(title: str, tables: Sequence[Table], health: Sequence[JudgeHealth] = (),
                           warnings: Sequence[str] = ()) -> str:
    """``report.md``: every table, section by section (:data:`harness.reports.sections.SECTIONS`)."""
    lines = [f"# {title}", "", *health_lines(health)]
    for section, mine, _ in sectioned(tables, warnings=bool(warnings)):
        title = heading(section, mine)
        lines += [f"## {title}", ""]
        lines += [section.intro, ""] if section.intro else []
        lines += warning_lines(warnings) if section.warnings else []
        for t in mine:
            if t.title == title:  # the section is named after it: no second heading
                lines += [t.caption, "", *markdown_table(*_bolded(t)), ""]
            else:
                lines += [*render_table(t, level=3), ""]
    return "\n".join(lines)


def bias_markdown(bias: BiasResult, *, warnings: bool = True) -> list[str]:
    """The judge bias section: warnings (unless printed elsewhere), the checks, length bins and
    human agreement."""
    tables = bias_section(bias)
    if not tables:
        return []
    lines = ["## Judge bias checks", "",
             "How far each judge can be trusted (95% intervals; n = items behind each figure). Position "
             "and length come from the run's own judgments; probes (`harness bias`) judge an answer "
             "against an altered copy in both orders.", ""]
    lines += warning_lines(bias.warnings) if warnings else []
    for t in tables:
        # The section's heading and words introduce the checks table; the others get their own.
        lines += [*(markdown_table(*t.with_notes) if t.key == "bias" else render_table(t, level=3)), ""]
    return lines


def _prompt_line(prompt: str, method: str) -> str:
    if method == "reference":  # recorded under the metric's name: no prompt is shown to anything
        return f"none ({prompt} scores each answer against the reference answer)"
    return f"{prompt} ({method})"


def render_summary(data: Figures) -> str:
    """``leaderboard.md``: what the run used, then the leaderboard and everything that qualifies it."""
    judges = list(data.by_judge)
    prompts = sorted({_prompt_line(j.prompt, j.method) for j in data.judgments}
                     | {_prompt_line(g.prompt, g.method) for g in data.grades})
    tasks = sorted({j.task for j in data.judgments} | {g.task for g in data.grades})
    # Paths, task ids, judge specs and prompt names are the user's text: escaped like table cells.
    lines = ["# harness leaderboard", "",
             f"- run directory: `{md_cell(data.run_dir)}`", f"- tasks: {md_cell(', '.join(tasks))}",
             f"- judges: {md_cell(', '.join(judges))}"
             + (" (panel: majority verdict)" if len(judges) > 1 else ""),
             f"- judge prompt: {md_cell(', '.join(prompts))}", ""]
    lines += health_lines(data.health)
    lines += warning_lines(data.bias.warnings)
    lines += render_tables(summary_tables(data))
    # The warnings stand at the top already.
    lines += bias_markdown(data.bias, warnings=False)
    return "\n".join(lines).rstrip("\n") + "\n"
