"""Issue 16, item 6: the report says why online-Elo intervals are wider than Bradley-Terry's, in
every format that shows the leaderboard."""

from __future__ import annotations

import html
import json
from pathlib import Path

from judged_run import make_run

NOTE = "Elo intervals are wider than BT's by design"
"""As written; HTML and LaTeX escape the apostrophe their own way, so they are read back first."""


def test_every_report_format_explains_the_wider_elo_intervals(tmp_path: Path) -> None:
    report = make_run(tmp_path) / "report"
    assert NOTE in (report / "report.md").read_text(encoding="utf-8")
    assert NOTE in html.unescape((report / "report.html").read_text(encoding="utf-8"))
    latex = "\n".join(p.read_text(encoding="utf-8") for p in (report / "latex").rglob("*.tex"))
    assert NOTE.replace("'", "") in latex.replace("'", "").replace("{}", "").replace("\\textquotesingle", "")
    tables = json.loads((report / "report.json").read_text(encoding="utf-8"))
    assert NOTE in json.dumps(tables)
