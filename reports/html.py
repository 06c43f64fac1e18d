"""The HTML report: one self-contained file from a Jinja2 template with autoescaping.

Model answers and judge replies are untrusted text. Autoescaping prints them as text; as a
second wall, the page's Content-Security-Policy lets nothing load and nothing run except its
own inline style and script, named by their SHA-256 hashes. Plots are SVG data URIs shown by
``<img>``, which never runs script inside an image.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.analysis.figures import THRESHOLDS, Figures, JudgedPair
from harness.reports.latex import FIGURES
from harness.reports.sections import heading, sectioned
from harness.reports.tables import Bold, Table


def _template_text(name: str) -> str:
    return (Path(__file__).parent / "templates" / name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _view(t: Table) -> dict[str, object]:
    header, rows = t.with_notes
    return {"key": t.key, "title": t.title, "caption": t.caption, "header": header, "turn": t.turn,
            "align": t.align + "l" * len(t.notes[:1]),
            "rows": [[(c.text, True) if isinstance(c, Bold) else (c, False) for c in row] for row in rows]}


def render_html(data: Figures, title: str, tables: Sequence[Table], figures: Mapping[str, str],
                pairs: Sequence[JudgedPair]) -> str:
    """Every table in ``tables``, section by section (:data:`harness.reports.sections.SECTIONS`);
    ``figures`` maps plot stems to data URIs."""
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(loader=jinja2.FunctionLoader(_template_text), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    style, script = _template_text("report.css"), _template_text("report.js")
    return env.get_template("report.html.j2").render(
        title=title, lang="zh" if data.has_cjk() else "en", run_dir=str(data.run_dir),
        task_ids=[t.id for t in data.tasks], judges=data.judges,
        sections=[{"key": s.key, "title": heading(s, mine), "intro": s.intro, "warnings": s.warnings,
                   "tables": [_view(t) for t in mine], "figures": plots}
                  for s, mine, plots in sectioned(tables, figures=list(figures),
                                                  warnings=bool(data.bias.warnings))],
        figures=figures, captions=FIGURES, warnings=data.bias.warnings,
        missing_adapters=data.missing_adapters, pairs=pairs,
        health=[(h.health.name.lower(), h.line()) for h in data.health], health_note=THRESHOLDS,
        pair_tasks=list(dict.fromkeys(p.task for p in pairs)),
        pair_models=[m for m in data.models if any(m in (p.model_a, p.model_b) for p in pairs)],
        pair_judges=list(dict.fromkeys(p.judge for p in pairs)),
        style=Markup(style), script=Markup(script), style_hash=_csp_hash(style),
        script_hash=_csp_hash(script))
