"""What several commands print besides their own figures: aligned tables, the summary after a run,
and the exit status when a judge is unusable.

Not handled: each command's own figures and formats (in its module).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness.app import pipeline
from harness.core.errors import HarnessError
from harness.core.text import terminal_text
from harness.stats.health import Health

UNHEALTHY = 3
"""Exit status of ``run`` / ``judge --require-healthy-judge`` when a judge is "do not use"."""


def health_status(args: argparse.Namespace, result: pipeline.RunResult) -> int:
    """0, or :data:`UNHEALTHY` with one line per unusable judge when the user asked for healthy judges."""
    bad = [h for h in result.health if h.health is Health.AVOID]
    if not getattr(args, "require_healthy_judge", False) or not bad:
        return 0
    for h in bad:
        print(f"harness: judge health: {terminal_text(h.line())}", file=sys.stderr)
    print(f"harness: --require-healthy-judge: {len(bad)} judge(s) marked 'do not use'; everything was "
          f"written to {result.run_dir}", file=sys.stderr)
    return UNHEALTHY


def summary(result: pipeline.RunResult | pipeline.Generated) -> None:
    """The model calls, cache hits, run directory and report files of a run, on standard error."""
    calls = ", ".join(f"{k} {v}" for k, v in sorted(result.calls.items())) or "none"
    hits = sum(result.hits.values())
    print(f"\nmodel calls: {calls}; cached: {hits}; run directory: {result.run_dir}",
          file=sys.stderr)
    report = result.report if isinstance(result, pipeline.RunResult) else None
    if report is not None:
        written = [p for p in (report.html, report.latex, report.markdown, report.json) if p]
        print(f"report: {', '.join(str(p) for p in written)}", file=sys.stderr)


def print_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    """Left-aligned columns, the last one unpadded; no rows is an error (``nothing to list``)."""
    if not rows:
        raise HarnessError("nothing to list")
    # Cells hold the user's text (model names, descriptions): one line each, no terminal escapes.
    lines = [tuple(terminal_text(c, keep_newlines=False) for c in row) for row in [header, *rows]]
    widths = [max(len(r[i]) for r in lines) for i in range(len(header) - 1)]
    for row in lines:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
