"""``harness judge RUN_DIR``: judge an existing run directory's answers, then rate and report.

The run's own api section (keys' sources, limits, budget) applies, with the flags over it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.app import pipeline
from harness.app.args import (
    add_api_options,
    add_judge_options,
    api_from_args,
    batch_poll,
    judge_settings,
    run_api,
    stop_options,
)
from harness.app.config import prior_sd
from harness.app.dryrun import plan_judging, render_plan
from harness.app.output import health_status, summary
from harness.core import rundir
from harness.core.text import terminal_text
from harness.judges.sequential import StopRule, plan_note
from harness.models.budget import load_prices


def add_parser(sub: Any) -> argparse.ArgumentParser:
    j = sub.add_parser("judge", help="judge an existing run directory's answers.jsonl")
    j.add_argument("run_dir", type=Path)
    j.add_argument("--tasks-dir", type=Path, action="append", default=[], metavar="DIR",
                   help="folders of task files besides the built-in ones; needed only for a run without "
                   "questions.jsonl")
    j.add_argument("--no-progress", action="store_true")
    add_judge_options(j)
    add_api_options(j, dry_run=True, batch_api=True)
    return j


def run(args: argparse.Namespace) -> int:
    task_list = pipeline.run_tasks(args.run_dir, args.tasks_dir)  # questions.jsonl, else the task files
    judges, api = judge_settings(args), api_from_args(args, run_api(args.run_dir))
    stop = stop_rule(args)  # checked before a dry run too
    if args.dry_run:
        prices = load_prices(api.prices)
        lines = plan_judging(args.run_dir, judges, task_list, args.prompts_dir,
                             prices.for_batch() if args.batch_api else prices, api)
        print(render_plan(lines, max(j.max_attempts for j in judges)))
        if stop is not None:
            print(f"\n{plan_note(stop.alpha)}")
        return 0
    prior = None if args.prior_sd is None else prior_sd(args.prior_sd, where="--prior-sd")
    result = pipeline.judge(args.run_dir, judges=judges, tasks=task_list, prompts_dirs=args.prompts_dir,
                            progress=not args.no_progress, api=api, tasks_dirs=args.tasks_dir, prior_sd=prior,
                            batch_api=args.batch_api, batch_poll=batch_poll(args), stop=stop,
                            **({} if args.report is None else {"report": args.report}))
    print(terminal_text(result.markdown))  # names in it are the user's text
    summary(result)
    return health_status(args, result)


def stop_rule(args: argparse.Namespace) -> StopRule | None:
    """``--stop-when-decided``'s rule, the questions ordered with the run's seed (its config.yaml's
    ``seed``, 0 without one); None without the flag."""
    options = stop_options(args)
    if not options.get("stop_when_decided"):
        return None
    seed = (rundir.read_config(args.run_dir) or {}).get("seed")
    return StopRule(options.get("stop_alpha", StopRule.alpha), seed if isinstance(seed, int) else 0)
