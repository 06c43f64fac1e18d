"""``harness generate``: only the candidates' answers (``answers.jsonl``), no judging."""

from __future__ import annotations

import argparse
from typing import Any

from harness.app import pipeline
from harness.app.args import add_run_options, config_from_args
from harness.app.output import summary
from harness.core import rundir


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("generate", help="only write answers.jsonl")
    add_run_options(p, judge=False)
    return p


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    result = pipeline.generate(config)
    print(f"wrote {config.run_dir / rundir.ANSWERS}")
    summary(result)
    return 0
