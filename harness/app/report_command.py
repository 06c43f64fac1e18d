"""``harness report RUN_DIR``: the HTML, LaTeX and Markdown reports of a judged run.

Not handled here: what the reports hold (:mod:`harness.reports.build`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.reports.build import parse_report_formats, write_report


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="HTML, LaTeX (booktabs) and Markdown reports of a judged run",
                       description="Write report.html (self-contained), latex/report.tex with one .tex "
                       "per table and PDF plots, and report.md, from the run directory's files.")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--format", default="html,latex,md", metavar="LIST",
                   help="comma-separated: html, latex, md (default: all three)")
    p.add_argument("--out", type=Path, metavar="DIR", help="output folder (default RUN_DIR/report)")
    p.add_argument("--cjk", action="store_true",
                   help="Chinese support in LaTeX (ctex/xeCJK); on anyway when the run has Chinese text")
    p.add_argument("--pdf", action="store_true", help="also compile report.tex with xelatex")
    p.add_argument("--tasks-dir", type=Path, action="append", default=[], metavar="DIR")
    return p


def run(args: argparse.Namespace) -> int:
    formats = parse_report_formats(args.format)
    files = write_report(args.run_dir, formats=formats, out=args.out, cjk=args.cjk, tasks_dirs=args.tasks_dir,
                         pdf=args.pdf)
    for path in (files.html, files.latex, files.markdown, files.json, files.pdf):
        if path is not None:
            print(f"wrote {path}")
    return 0
