"""``harness run``: generate, judge and rate (the whole pipeline), from flags or a YAML config.

Prints the leaderboard and a summary of the calls; with ``--dry-run``, only the calls, tokens and
cost it would take. Not handled here: the pipeline itself (:mod:`harness.app.pipeline`).
"""

from __future__ import annotations

import argparse
from typing import Any

from harness.app import pipeline
from harness.app.args import add_run_options, config_from_args
from harness.app.dryrun import plan_run, power_line, render_plan
from harness.app.output import health_status, summary
from harness.core.text import terminal_text
from harness.judges.sequential import plan_note


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("run", help="generate, judge and rate (the whole pipeline)")
    add_run_options(p, dry_run=True)
    return p


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.dry_run:
        pipeline.check(config)
        task_list = pipeline.select_tasks(config)
        print(render_plan(plan_run(config, task_list), max(j.max_attempts for j in config.judges)))
        if (power := power_line(config, task_list)) is not None:
            print(f"\n{power}")
        if config.stop_when_decided:
            print(f"\n{plan_note(config.stop_alpha)}")
        return 0
    result = pipeline.run(config)
    print(terminal_text(result.markdown))  # names in it are the user's text
    summary(result)
    return health_status(args, result)
