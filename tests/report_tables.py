"""Reading a report's tables back as a person sees them: the HTML page's cells per table id, and a
LaTeX table's body rows (shared by the report tests)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path


class Tables(HTMLParser):
    """Cell texts of each ``<table id=...>``."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.current: str | None = None
        self.in_body = self.in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.current = dict(attrs)["id"] or ""
            self.tables[self.current] = []
        elif tag == "tbody":
            self.in_body = True
        elif tag == "tr" and self.in_body and self.current:
            self.tables[self.current].append([])
        elif tag == "td":
            self.in_cell = True
            self.tables[self.current or ""][-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self.in_cell = False
        elif tag == "tbody":
            self.in_body = False

    def handle_data(self, data: str) -> None:
        if self.in_cell and self.current:
            self.tables[self.current][-1][-1] += data


def html_tables(run: Path) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed((run / "report" / "report.html").read_text(encoding="utf-8"))
    return parser.tables


def tex_rows(path: Path) -> list[list[str]]:
    body = path.read_text(encoding="utf-8").split(r"\midrule")[1].split(r"\bottomrule")[0]
    return [[c.strip() for c in line.strip().removesuffix(r"\\").split(" & ")]
            for line in body.strip().splitlines()]
