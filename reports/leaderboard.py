"""The leaderboard as CSV and Markdown (for the terminal and for READMEs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from harness.storage import write_csv
from harness.types import PairRecord, Rating
from judges.battles import JudgeStats

CSV_HEADER = ("rank", "model", "elo", "wins", "ties", "losses", "battles", "win_rate")
LOW_CONSISTENCY = 0.6


def write_leaderboard_csv(path: Path, ratings: Sequence[Rating]) -> None:
    write_csv(path, CSV_HEADER, (
        (i, r.model, f"{r.elo:.1f}", r.wins, r.ties, r.losses, r.battles, f"{r.win_rate:.4f}")
        for i, r in enumerate(ratings, 1)
    ))


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return out


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.1f}%"


def render_markdown(title: str, ratings: Sequence[Rating], records: Sequence[PairRecord],
                    stats: Sequence[JudgeStats], notes: Sequence[str] = ()) -> str:
    """Leaderboard, win/tie/lose per pair and the judge's reliability, as Markdown."""
    lines = [f"# {title}", ""]
    lines += [f"- {n}" for n in notes] + ([""] if notes else [])
    lines += ["## Leaderboard (online Elo, K=4, averaged over shuffled orders)", ""]
    lines += _table(CSV_HEADER, [
        (i, r.model, f"{r.elo:.1f}", r.wins, r.ties, r.losses, r.battles, _pct(r.win_rate))
        for i, r in enumerate(ratings, 1)
    ])
    lines += ["", "## Win / tie / lose per model pair", ""]
    lines += _table(("model", "opponent", "win", "tie", "lose", "n"), [
        (r.model, r.opponent, r.wins, r.ties, r.losses, r.n) for r in records
    ])
    lines += ["", "## Judge reliability", ""]
    lines += _table(
        ("judge", "judgments", "errors (no valid label)", "both orders valid",
         "swap-consistent", "prefers first slot"),
        [(s.judge, s.judgments, s.errors, s.pairs, f"{_pct(s.consistency)} ({s.consistent})",
          f"{_pct(s.first_slot_rate)} of {s.decisive}") for s in stats],
    )
    for s in stats:
        if s.errors:
            lines += ["", f"**{s.judge}**: {s.errors} judgments had no valid label after all "
                      "attempts; they are kept in judgments.jsonl as `error` and their comparisons "
                      "are left out of the battles (not counted as ties)."]
        if s.pairs and s.consistency < LOW_CONSISTENCY:
            lines += ["", f"**Warning — {s.judge}**: the verdict stayed the same when the two answers "
                      f"swapped places in only {_pct(s.consistency)} of comparisons, so most battles "
                      "end as ties and the ranking says little. Use a stronger judge for conclusions."]
    return "\n".join(lines) + "\n"
