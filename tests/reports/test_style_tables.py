"""Style control in the reports (issue 19): the style-controlled ratings beside the plain ones, and
the style weights, in every format, read from the same fit."""

from __future__ import annotations

import json
from pathlib import Path

from harness.analysis.figures import load_figures
from harness.stats.style import FEATURES


def test_every_format_shows_the_style_tables_from_one_fit(en_run: Path) -> None:
    fit = load_figures(en_run).style
    assert fit is not None
    assert all(900 < r < 1100 for r in fit.ratings), fit  # finite and on the Elo scale, even with a sweep
    report = en_run / "report"
    md = (report / "report.md").read_text(encoding="utf-8")
    html = (report / "report.html").read_text(encoding="utf-8")
    tex = (report / "latex" / "style.tex").read_text(encoding="utf-8")
    doc = {t["key"]: t for t in json.loads((report / "report.json").read_text(encoding="utf-8"))["tables"]}
    plain = {r["model"]: r["bt"] for r in json.loads((report / "report.json").read_text(encoding="utf-8"))
             ["leaderboard"]}
    for model, rating, low, high in zip(fit.models, fit.ratings, fit.lower, fit.upper):
        cells = [f"{rating:.1f}", f"[{low:.1f}, {high:.1f}]"]
        assert f"| {model} | {plain[model]:.1f} | {cells[0]} | {cells[1]} |" in md
        assert all(c in html for c in cells)
        assert f"{cells[0]} & {{[}}{low:.1f}, {high:.1f}{{]}}" in tex  # LaTeX braces the brackets
        assert [model, f"{plain[model]:.1f}", *cells] in doc["style"]["rows"]
    weights = [row[0] for row in doc["style_weights"]["rows"]]
    assert weights == list(FEATURES)
    assert r"\section{Style control}" in (report / "latex" / "report.tex").read_text(encoding="utf-8")
