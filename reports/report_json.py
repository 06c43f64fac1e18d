"""``report/report.json``: every table of the report as data, for scripts and other tools.

The tables are the ones every other format renders (cells as they print, bold cells listed), and
the leaderboard is also given as records whose numbers are ``leaderboard.csv``'s digits exactly
(``0.5000`` stays ``0.5000`` in the file; ``json.loads(..., parse_float=str)`` reads it back so).
``agreement`` holds the agreement with the human labels as
:meth:`harness.stats.agreement.AgreementReport.to_json` gives it, with ``calibrated``, each pair's
human-calibrated win rate, as ``harness agreement --format json`` prints them (null when nobody labelled).
A run with multi-turn questions also has ``turns``: ``note`` (how the overall leaderboard combines
the turns) and ``leaderboards``, each judged turn's records as ``leaderboard_by_turn.csv`` spells
them, keyed by the turn (``"1"``, ``"2"``); a single-turn run's file has no ``turns``.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from typing import Any

from harness.analysis.figures import OVERALL_TURNS, THRESHOLDS, Figures, LeaderRow
from harness.core import rundir
from harness.reports.tables import Bold, Table

SCHEMA_VERSION = 1
JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def _table(t: Table) -> dict[str, Any]:
    return {"key": t.key, "title": t.title, "caption": t.caption, "columns": list(t.header),
            "rows": [[c.text if isinstance(c, Bold) else c for c in row] for row in t.rows],
            "bold": [[i, j] for i, row in enumerate(t.rows) for j, c in enumerate(row)
                     if isinstance(c, Bold)], "notes": list(t.notes)}


def _records(board: Sequence[LeaderRow], mark: str) -> list[dict[str, str]]:
    return [{k: f"{mark}{v}" if k != "model" and JSON_NUMBER.fullmatch(v) else v
             for k, v in ((k, r[k]) for k in rundir.LEADERBOARD_HEADER)} for r in board]


def render_json(data: Figures, title: str, tables: Sequence[Table]) -> str:
    # The CSV's numbers go in as JSON numbers spelled exactly as the CSV spells them: each is put
    # in as a marked string, then unquoted; a fresh random marker keeps run text from matching it.
    mark = f"num-{secrets.token_hex(8)}:"
    human = data.bias.human
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "title": title, "run_dir": str(data.run_dir),
        "warnings": list(data.bias.warnings), "leaderboard": _records(data.leaderboard, mark),
        "tables": [_table(t) for t in tables],
        # full precision, rates as fractions, null where a figure does not apply
        "agreement": ({**human.to_json(), "calibrated": [r.to_json() for r in data.calibrated]}
                      if human is not None else None),
        "health": [{"judge": h.judge, "verdict": h.health.value, "line": h.line(),
                    "findings": [{"text": f.text, "verdict": f.health.value} for f in h.findings]}
                   for h in data.health],
        "health_thresholds": THRESHOLDS}
    if data.turns:
        doc["turns"] = {"note": OVERALL_TURNS,
                        "leaderboards": {str(t): _records(board, mark) for t, board in data.turns.items()}}
    text = json.dumps(doc, ensure_ascii=False, indent=1, allow_nan=False)
    return _unquote(text, mark) + "\n"


def _unquote(text: str, mark: str) -> str:
    """``"<mark>0.5000"`` -> ``0.5000``."""
    out, start = [], 0
    token = f'"{mark}'
    while (i := text.find(token, start)) != -1:
        end = text.index('"', i + len(token))
        out += [text[start:i], text[i + len(token):end]]
        start = end + 1
    return "".join([*out, text[start:]])
