"""The leaderboard as CSV and Markdown (for the terminal and for READMEs)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.core.types import Rating, UsageLine
from harness.stats.battles import JudgeStats
from harness.stats.grades import MeanScore
from harness.stats.panel import Agreement
from harness.stats.significance import PairTest

LOW_CONSISTENCY = 0.6


def _tokens(u: UsageLine) -> tuple[str, str]:
    if u.unreported == u.calls:
        return "not reported", "not reported"
    more = f" (+{u.unreported} calls not reported)" if u.unreported else ""
    return f"{u.prompt_tokens:,}{more}", f"{u.completion_tokens:,}{more}"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return out


def percent(x: float) -> str:
    """A share as '12.3%', or 'n/a' when undefined (NaN)."""
    return "n/a" if math.isnan(x) else f"{100 * x:.1f}%"


@dataclass(frozen=True)
class Panel:
    """Each judge's own leaderboard and how far the judges agree."""

    leaderboards: Mapping[str, Sequence[Rating]]
    agreements: Sequence[Agreement]


def render_markdown(title: str, ratings: Sequence[Rating], tests: Sequence[PairTest],
                    stats: Sequence[JudgeStats], notes: Sequence[str] = (), bootstrap: int = 0,
                    scores: Sequence[MeanScore] | None = None, panel: Panel | None = None,
                    usage: Sequence[UsageLine] = (), bias: Sequence[str] = ()) -> str:
    """Leaderboard, win/tie/lose per pair with sign tests, and the judge's reliability."""
    lines = [f"# {title}", ""]
    lines += [f"- {n}" for n in notes] + ([""] if notes else [])
    lines += ["## Leaderboard", "",
              f"Bradley-Terry (maximum likelihood) and online Elo (K=4), Elo scale; 95% intervals from "
              f"{bootstrap} bootstrap rounds. Rank = 1 + models whose BT interval lies wholly above.", ""]
    lines += table(("rank", "model", "BT", "BT 95% CI", "Elo", "Elo 95% CI", "win", "tie", "lose",
                     "battles", "win rate"), [
        (r.rank, r.model, f"{r.bt:.1f}", f"{r.bt_lower:.1f} – {r.bt_upper:.1f}", f"{r.elo:.1f}",
         f"{r.elo_lower:.1f} – {r.elo_upper:.1f}", r.wins, r.ties, r.losses, r.battles, percent(r.win_rate))
        for r in ratings
    ])
    if scores is not None:
        lines += ["", "## Single-answer grades", "",
                  "Mean grade per model with a t-based 95% interval; battles above compare grades "
                  "question by question.", ""]
        lines += table(("model", "mean grade", "95% CI", "graded", "errors (no valid grade)"), [
            (m.model, f"{m.mean:.2f}", f"{m.lower:.2f} – {m.upper:.2f}", m.n, m.errors) for m in scores])
    if panel is not None:
        lines += ["", "## Judge panel", "", "The leaderboard above uses the panel's majority verdict. "
                  "Each judge alone:", ""]
        lines += table(("judge", "model", "BT", "BT 95% CI", "win", "tie", "lose"), [
            (judge, r.model, f"{r.bt:.1f}", f"{r.bt_lower:.1f} – {r.bt_upper:.1f}", r.wins, r.ties,
             r.losses) for judge, rows in panel.leaderboards.items() for r in rows])
        lines += ["", "Agreement between judges on the battles both decided:", ""]
        lines += table(("judge", "judge", "battles", "agree", "Cohen's kappa"), [
            (a.judge_1, a.judge_2, a.n, percent(a.rate), "n/a" if math.isnan(a.kappa) else f"{a.kappa:.2f}")
            for a in panel.agreements])
    if usage:
        lines += ["", "## Usage", "", "Model calls made for this run directory (all runs on it; "
                  "answers from the cache cost nothing), tokens as the backends reported them, and "
                  "cost from the prices file.", ""]
        lines += table(("stage", "model / judge", "calls", "prompt tokens", "reply tokens", "cost"), [
            (u.stage, u.name, u.calls, *_tokens(u), "unknown price" if u.cost is None else f"${u.cost:.4f}")
            for u in usage])
        known = [u.cost for u in usage if u.cost is not None]
        lines += ["", f"Total cost: ${sum(known):.4f}"
                  + (" (plus models without a known price)" if len(known) < len(usage) else "")]
    lines += ["", "## Win / tie / lose per model pair", "",
              "Win rate counts a tie as half a win (Wilson 95% interval); p is an exact two-sided "
              "sign test on wins vs losses, ties excluded.", ""]
    lines += table(("model", "opponent", "win", "tie", "lose", "win rate (95% CI)", "sign test p",
                     "separable?"), [
        (t.model, t.opponent, t.wins, t.ties, t.losses,
         f"{percent(t.win_rate)} ({percent(t.ci_low)} – {percent(t.ci_high)})", f"{t.p_value:.3g}",
         "yes" if t.separable else "no — the data cannot separate them")
        for t in tests
    ])
    if not stats:
        return "\n".join([*lines, *([""] if bias else []), *bias]) + "\n"
    lines += ["", "## Judge reliability", ""]
    lines += table(
        ("judge", "judgments", "errors (no valid label)", "both orders valid",
         "swap-consistent", "prefers first slot"),
        [(s.judge, s.judgments, s.errors, s.pairs, f"{percent(s.consistency)} ({s.consistent})",
          f"{percent(s.first_slot_rate)} of {s.decisive}") for s in stats],
    )
    for s in stats:
        if s.errors:
            lines += ["", f"**{s.judge}**: {s.errors} judgments had no valid label after all "
                      "attempts; they are kept in judgments.jsonl as `error` and their comparisons "
                      "are left out of the battles (not counted as ties)."]
        if s.pairs and s.consistency < LOW_CONSISTENCY:
            lines += ["", f"**Warning — {s.judge}**: the verdict stayed the same when the two answers "
                      f"swapped places in only {percent(s.consistency)} of comparisons, so most battles "
                      "end as ties and the ranking says little. Use a stronger judge for conclusions."]
    return "\n".join([*lines, *([""] if bias else []), *bias]) + "\n"
