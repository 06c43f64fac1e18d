"""The report's sections: their order, titles and tables, in one list that every format follows.

A table belongs to exactly one section (by its key; the per-turn leaderboards by their turn), so
a format that walks :data:`SECTIONS` shows every table the report has: a table whose key no
section names is an error, not a silent drop.

Not handled: what a section looks like in a format (each renderer decides).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.analysis.figures import OVERALL_TURNS
from harness.reports.tables import Table

TURNS = "turns"
"""The key that stands for every per-turn leaderboard (``turn1``, ``turn2``, ...)."""


@dataclass(frozen=True)
class Section:
    key: str
    """The section's anchor (``id`` in HTML, the LaTeX label)."""
    title: str
    """Its heading; empty: the heading is its first table's title (``Against gpt-4``)."""
    tables: tuple[str, ...]
    """Its tables' keys, in order (:data:`TURNS`: every per-turn leaderboard)."""
    figures: tuple[str, ...] = ()
    """The plots shown after its tables (``harness.reports.plots``' stems)."""
    intro: str = ""
    """A paragraph before its tables."""
    warnings: bool = False
    """The run's warnings stand at its top (and the section is shown for them alone)."""


SECTIONS: tuple[Section, ...] = (
    Section("leaderboard", "Leaderboard", ("leaderboard",), ("ratings",)),
    Section("turns", "Per turn", (TURNS,), intro=OVERALL_TURNS),
    Section("baseline", "", ("baseline",)),
    Section("soft", "Probability-weighted ratings", ("soft",)),
    Section("style", "Style control", ("style", "style_weights")),
    Section("pairs", "Win / tie / lose per model pair", ("pairs", "significance"), ("heatmap",)),
    Section("stopping", "Early stopping", ("stopping",)),
    Section("tasks", "Per task", ("tasks",), ("tasks",)),
    Section("grades", "Single-answer grades", ("grades",)),
    Section("panel", "Judge panel", ("panel", "agreement")),
    Section("bias", "Judge reliability and bias checks", ("judges", "bias", "length_bins"), warnings=True),
    Section("human", "Agreement with the human labels", ("human", "human_annotators")),
    Section("human-leaderboard", "Human leaderboard", ("human_leaderboard",)),
    Section("calibrated", "Human-calibrated win rates", ("calibrated",)),
    Section("finetune", "Fine-tuning", ("finetune",), ("loss",)),
    Section("losses", "Questions lost in both orders", ("losses", "lost_questions")),
    Section("usage", "Usage", ("usage",)),
)
TURNS_TITLE = next(s.title for s in SECTIONS if s.key == "turns")


def section_key(table: Table) -> str:
    """The key a section lists ``table`` under."""
    return TURNS if table.turn is not None else table.key


ORDER = {key: (i, j) for i, s in enumerate(SECTIONS) for j, key in enumerate(s.tables)}


def in_order(tables: Sequence[Table]) -> list[Table]:
    """``tables`` in report order (per-turn leaderboards by turn); a table no section lists is an
    error (a new table must be given its place)."""
    unknown = [t.key for t in tables if section_key(t) not in ORDER]
    if unknown:
        raise ValueError(f"no report section lists the tables {unknown}: add them to SECTIONS")
    return sorted(tables, key=lambda t: (*ORDER[section_key(t)], t.turn or 0))


def sectioned(tables: Sequence[Table], *, figures: Sequence[str] = (), warnings: bool = False
              ) -> list[tuple[Section, list[Table], list[str]]]:
    """Each section that has something to show, with its tables and plots (of ``figures``);
    ``warnings``: the run has warnings (their section is shown for them alone)."""
    out = []
    for section in SECTIONS:
        mine = [t for t in in_order(tables) if section_key(t) in section.tables]
        plots = [f for f in section.figures if f in figures]
        if mine or plots or (section.warnings and warnings):
            out.append((section, mine, plots))
    return out


def heading(section: Section, tables: Sequence[Table]) -> str:
    return section.title or (tables[0].title if tables else section.key)
