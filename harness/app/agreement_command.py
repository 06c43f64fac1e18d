"""``harness agreement``: each judge against the human labels, and the annotators among themselves.

Read-only (no run lock): it reads ``judgments.jsonl``, the judges' battles and ``human.jsonl`` and
prints the figures of :mod:`harness.stats.agreement` as a table, JSON or CSV, and each pair's
human-calibrated win rate (:mod:`harness.stats.ppi`) in the table and JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from harness.analysis.figures import AgreementReport, Figures
from harness.analysis.files import RunFiles
from harness.core.errors import HarnessError
from harness.core.text import csv_text, terminal_text
from harness.reports.tables import Table, calibrated_tables, human_tables
from harness.stats.agreement import Errors

CSV_COLUMNS = ("kind", "judge", "annotator", "a", "b", "n", "agreement", "agreement_lower", "agreement_upper",
               "agreement_without_ties", "n_without_ties", "kappa", "kappa_lower", "kappa_upper", "macro_f1",
               "accuracy_ab", "accuracy_ba", "accuracy_average", "both_correct", "positional_agreement",
               "n_both_orders", "errors", "errors_rule", "agreement_errors_as_wrong", "accuracy_net", "n_net")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("agreement", help="judges' agreement with the human labels, and between annotators",
                       description="Each judge against each annotator and against the annotators' majority "
                       "label (n, agreement with and without ties, Cohen's kappa, macro-F1; with both "
                       "answer orders judged, accuracy in each order, both correct and positional "
                       "agreement; JudgeBench's net accuracy), and pairwise and Fleiss' kappa between "
                       "annotators; and each model pair's win rate calibrated with the labels "
                       "(prediction-powered inference) beside the judge's own. Import labels first with "
                       "harness human import FILE --run DIR (or "
                       "harness import labels FILE --format judgebench|llmbar|pandalm|autoj --run DIR).")
    p.add_argument("--run", type=Path, required=True, metavar="DIR", help="a judged run directory")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table",
                   help="table (rates with one decimal), json (rates as fractions, full precision, null "
                   "where a figure does not apply) or csv (one row per judge and annotator, per pair of "
                   "annotators, and Fleiss' kappa; kind says which)")
    p.add_argument("--errors", choices=[e.value for e in Errors], default=Errors.EXCLUDE.value,
                   help="how an unparseable verdict counts: exclude (default: left out of every rate and "
                   "counted under errors), wrong (kept in n, wrong in each order where it stands: LLMBar's "
                   "statistics) or tie (a tie: PandaLM's and WildVision's counts); errors_as_wrong and "
                   "accuracy_net are the same under every rule")
    return p


def load(run_dir: Path, *, errors: Errors = Errors.EXCLUDE) -> AgreementReport:
    """The run's agreement figures (the read model's, as the report and the voting app's owner page
    show them); a run without human labels is one error saying how to add them."""
    return Figures(RunFiles(run_dir)).agreement(errors=errors)


def _print_table(t: Table) -> None:
    # Cells hold the user's text (judge and annotator names): one line each, no terminal escapes.
    lines = [[terminal_text(str(c), keep_newlines=False) for c in row] for row in (t.header, *t.rows)]
    widths = [max(len(row[i]) for row in lines) for i in range(len(t.header))]
    print(t.title)
    for row in lines:
        print("  ".join(c.rjust(w) if t.align[i] == "r" else c.ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    print(f"\n{t.caption}")


def _csv_rows(report: AgreementReport) -> list[tuple[object, ...]]:
    doc = report.to_json()
    rows: list[tuple[object, ...]] = [CSV_COLUMNS]
    for row in doc["judges"]:
        rows.append(tuple("judge" if k == "kind" else row.get(k) for k in CSV_COLUMNS))
    for row in doc["annotators"]:
        rows.append(tuple("annotators" if k == "kind" else row.get(k) for k in CSV_COLUMNS))
    fleiss = {"kind": "fleiss", "n": doc["fleiss_items"], "kappa": doc["fleiss_kappa"]}
    rows.append(tuple(fleiss.get(k) for k in CSV_COLUMNS))
    return rows


def run(args: argparse.Namespace) -> int:
    figures = Figures(RunFiles(args.run))
    report = figures.agreement(errors=Errors(args.errors))
    show(report, fmt=args.format, source=str(args.run), figures=figures)
    return 0


def show(report: AgreementReport, *, fmt: str, source: str, figures: Figures | None = None) -> None:
    """Print ``report`` as a table, JSON or CSV (also ``harness prompts test --gold``'s output);
    with a run's ``figures``, also its human-calibrated win rates (JSON's ``calibrated``, a table
    after the agreement tables; the CSV leaves them out)."""
    if fmt == "json":
        doc = report.to_json()
        if figures is not None:
            doc["calibrated"] = [r.to_json() for r in figures.calibrated]
        print(json.dumps(doc, indent=1, allow_nan=False))
    elif fmt == "csv":
        sys.stdout.write(csv_text(_csv_rows(report)))
    else:
        tables = human_tables(report) + (calibrated_tables(figures) if figures is not None else [])
        if not tables:
            raise HarnessError(f"{source}: no judge verdicts to compare with the human labels")
        for i, t in enumerate(tables):
            if i:
                print()
            _print_table(t)
