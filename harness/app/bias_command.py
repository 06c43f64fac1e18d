"""``harness bias --run DIR --judge SPEC``: a judge's biases on a run (position, length, probes).

Writes ``bias.csv``, ``perturbations.jsonl`` and ``probe_judgments.jsonl`` into the run directory
(:func:`harness.judges.bias.bias`) and prints the figures as Markdown.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.app import pipeline
from harness.app.args import add_api_options, add_turn_options, api_from_args, judge_settings, run_api
from harness.core import rundir
from harness.core.text import terminal_text
from harness.judges.asking import METHODS as JUDGE_METHODS
from harness.judges.bias import bias
from harness.judges.perturb import ALL_PROBES as PROBES
from harness.reports.markdown import bias_markdown


def add_parser(sub: Any) -> argparse.ArgumentParser:
    b = sub.add_parser("bias", help="measure a judge's biases on a run (position, length, probes)",
                       description="Position and length bias from the judge's order-swapped judgments "
                       "of the run's pairs, self-preference, and perturbation probes: each chosen answer "
                       "against a copy with a factual error, gender-biased wording, fake references, "
                       "rich formatting, a restating list or an instruction to the judge (prompt "
                       "injection), judged in both orders; for multi-turn questions, the last turn "
                       "answered as if asked alone. Writes bias.csv, "
                       "perturbations.jsonl and probe_judgments.jsonl into the run directory.")
    b.add_argument("--run", type=Path, required=True, metavar="DIR", help="a run directory")
    b.add_argument("--judge", required=True, metavar="SPEC", help="the judge to test")
    b.add_argument("--prompt", metavar="NAME", help="judge prompt (default: assignment_en)")
    b.add_argument("--judge-method", choices=JUDGE_METHODS)
    add_turn_options(b)
    b.add_argument("--probes", nargs="+", choices=PROBES, default=list(PROBES), metavar="PROBE",
                   help=f"which probes ({', '.join(PROBES)}; default all)")
    b.add_argument("--perturber", metavar="SPEC",
                   help="also have this model write the altered copies (besides the rules)")
    b.add_argument("--model", metavar="NAME", help="whose answers to alter (default: the first model)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--prompts-dir", type=Path, action="append", default=[], metavar="DIR")
    b.add_argument("--tasks-dir", type=Path, action="append", default=[], metavar="DIR")
    b.add_argument("--no-progress", action="store_true")
    add_api_options(b)
    return b


def run(args: argparse.Namespace) -> int:
    args.judge = [args.judge]
    settings = judge_settings(args)[0]
    task_list = pipeline.run_tasks(args.run, args.tasks_dir)
    result = bias(args.run, settings, tasks=task_list, probes=args.probes, prompts_dirs=args.prompts_dir,
                  perturber=args.perturber, model=args.model, seed=args.seed,
                  api=api_from_args(args, run_api(args.run)))
    print(terminal_text("\n".join(bias_markdown(result))))
    print(f"\n{result.perturbations} altered answers in {args.run / rundir.PERTURBATIONS}; figures "
          f"in {args.run / rundir.BIAS_CSV}; `harness report {args.run}` puts them in the reports",
          file=sys.stderr)
    return 0
