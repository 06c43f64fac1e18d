"""``harness compare-judges RUN_DIR --judge OLD --judge NEW``: two judges of one run side by side.

Read-only (no run lock): both judges must have judged the run (``harness judge RUN_DIR --judge OLD
NEW`` judges with both; the old judge's verdicts come from the cache); the figures are
:mod:`harness.stats.compare`'s.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.analysis.figures import Figures, JudgeComparison
from harness.analysis.files import RunFiles
from harness.core.errors import HarnessError
from harness.core.text import terminal_text
from harness.reports.numbers import coefficient, share_of


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("compare-judges",
                       help="two judges of a run: agreement, kappa, rank and rating changes",
                       description="On the comparisons both judges decided (both answer orders combined): "
                       "how often they name the same winner (95% Wilson interval), Cohen's kappa, each "
                       "model's Bradley-Terry rating under each judge and its shift, and Kendall's tau "
                       "between the two rating orders (1 = same order). Judge the run with both first: "
                       "harness judge RUN_DIR --judge OLD NEW (the old judge's verdicts come from the "
                       "cache).")
    p.add_argument("run", type=Path, metavar="RUN_DIR", help="a run directory both judges have judged")
    p.add_argument("--judge", action="append", default=[], metavar="SPEC",
                   help="give it twice: the old judge, then the new one")
    p.add_argument("--format", choices=("table", "json"), default="table")
    return p


def load(run_dir: Path, old: str, new: str) -> JudgeComparison:
    """The two judges' comparison, as the read model computes it."""
    return Figures(RunFiles(run_dir)).compare_judges(old, new)


def run(args: argparse.Namespace) -> int:
    if len(args.judge) != 2 or args.judge[0] == args.judge[1]:
        raise HarnessError("compare-judges: give --judge exactly twice, two different judges: the old one, "
                           "then the new one")
    found = load(args.run, *args.judge)
    if args.format == "json":
        print(json.dumps(found.to_json(), indent=1, allow_nan=False, ensure_ascii=False))
    else:
        print(render(found))
    return 0


def render(c: JudgeComparison) -> str:
    """The comparison as plain text (names through :func:`terminal_text`: they are the user's)."""
    rows = [("model", "old BT", "new BT", "shift", "old rank", "new rank")]
    rows += [(terminal_text(m.model, keep_newlines=False), f"{m.old:.1f}", f"{m.new:.1f}", f"{m.shift:+.1f}",
              str(m.old_rank), str(m.new_rank)) for m in c.models]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(r, widths))) for r in rows]
    return "\n".join([
        f"old judge: {terminal_text(c.old, keep_newlines=False)}",
        f"new judge: {terminal_text(c.new, keep_newlines=False)}",
        f"comparisons both decided: {c.n} (only the old judge: {c.only_old}; only the new: {c.only_new})",
        f"same winner: {c.agree} of {c.n} = {share_of(c.rate)} "
        f"[95% CI {share_of(c.lower)}, {share_of(c.upper)}]; "
        f"Cohen's kappa {coefficient(c.kappa)}; Kendall's tau {coefficient(c.tau)}",
        "", *table, "",
        "Ratings are each judge's Bradley-Terry fit on the shared comparisons only, so a shift is the "
        "judges' difference, not a difference in what they judged."])
