"""``harness batch export|import``: a stage's calls as batch files for any engine, and back.

``export`` runs the stage (generation or judging) with a router that answers nothing and records
every call the cache does not hold (:class:`harness.models.batch.Collector`), so the file holds
exactly what ``harness run`` would send first; ``import`` commits the results (OpenAI's, vLLM's and
Anthropic's result files) to the run's cache, after which ``harness run`` sends only what is still
missing. Not handled here: the formats (:mod:`harness.models.batch`) and provider batches
(``--batch-api`` on run, generate and judge).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from harness.app import pipeline
from harness.app.args import judge_settings
from harness.app.config import RunConfig, load_config, parse_config
from harness.core import rundir, runlock
from harness.core.errors import HarnessError
from harness.judges.built import build_judges
from harness.models import calls, endpoints
from harness.models.batch import FORMATS, Collector, import_results, user_turns, write_requests
from harness.models.cache import CallCache
from harness.models.generate import generate_answers

STAGES = ("generate", "judge")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "batch", help="export a stage's calls as batch files (OpenAI Batch API, vllm run-batch, "
        "Anthropic) and import their results",
        description="Batch files for any engine. `export` writes the calls the run's cache does not "
        "hold as OpenAI Batch request lines (also the input of `vllm run-batch`) or Anthropic Message "
        "Batches requests; custom_id is each call's cache key. `import` commits result files (OpenAI, "
        "vLLM or Anthropic) to the cache exactly as synchronous replies; then `harness run` sends only "
        "what is still missing. A multi-turn stage is exported turn by turn: turn k needs turn k-1's "
        "answers, so export, import, and export again.")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="{export,import}")
    e = verbs.add_parser("export", help="write the calls a stage still needs as a batch file",
                         description="Write the calls a stage still needs (the cache does not hold "
                         "them) as batch request lines.")
    e.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    e.add_argument("--stage", choices=STAGES, required=True,
                   help="generate: the candidates' answers (the models of RUN_DIR/config.yaml or "
                   "--config); judge: the judges' verdicts on RUN_DIR/answers.jsonl")
    e.add_argument("--config", type=Path, metavar="FILE",
                   help="the run config (default: RUN_DIR/config.yaml, written by an earlier run)")
    e.add_argument("--judge", nargs="+", metavar="SPEC",
                   help="judges to export for (default: the run config's)")
    e.add_argument("--turn", type=int, metavar="K",
                   help="only turn K of multi-turn questions (--stage generate; default: every turn "
                   "whose earlier turns are answered)")
    e.add_argument("--format", choices=FORMATS, default="openai",
                   help="openai (default; also vllm run-batch's input) or anthropic (Message Batches)")
    e.add_argument("--shards", type=int, default=1, metavar="N",
                   help="split the calls by key into N files, one per GPU node (default 1)")
    e.add_argument("--out", type=Path, required=True, metavar="FILE", help="the request file to write")
    e.add_argument("--tasks-dir", type=Path, action="append", default=[], metavar="DIR",
                   help="extra folder of task files (repeatable)")
    e.add_argument("--prompts-dir", type=Path, action="append", default=[], metavar="DIR",
                   help="extra folder of judge prompt files (repeatable)")
    i = verbs.add_parser("import", help="commit batch result files to the run's cache",
                         description="Commit result files (OpenAI, vLLM run-batch or Anthropic) to "
                         "the run's cache. An error, expired or non-200 line stays pending; importing "
                         "twice adds nothing; a malformed line or an unknown custom_id is an error and "
                         "nothing is written.")
    i.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    i.add_argument("files", type=Path, nargs="+", metavar="FILE",
                   help="result files (output and error files)")
    return p


def run(args: argparse.Namespace) -> int:
    if args.verb == "import":
        return _import(args)
    if args.shards < 1:
        raise HarnessError(f"--shards: expected 1 or more, got {args.shards}")
    if args.turn is not None and (args.stage != "generate" or args.turn < 1):
        raise HarnessError("--turn K: only with --stage generate, K 1 or more"
                           f" (got --stage {args.stage} --turn {args.turn})")
    config = _config(args)
    collector = Collector()
    with runlock.hold(args.run_dir, command="batch export", create=True):
        with endpoints.session(config.api), CallCache(args.run_dir / rundir.CACHE) as cache:
            with calls.routed(collector):
                if args.stage == "generate":
                    _walk_generation(config, args, cache)
                else:
                    _walk_judging(config, args, cache)
            lines = [line for line in collector.lines.values()
                     if args.turn is None or user_turns(line) == args.turn]
            if not lines:
                print(f"nothing to export: {args.run_dir / rundir.CACHE} holds every {args.stage} call "
                      "that can be asked now" + _local_note(collector))
                return 0
            written = write_requests(cache, lines, out=args.out, fmt=args.format, shards=args.shards)
    for path, n in written:
        print(f"wrote {path} ({n:,} calls)")
    print(f"then: run them (OpenAI's Batch API, `vllm run-batch -i {written[0][0]} -o results.jsonl "
          f"--model MODEL`...) and `harness batch import {args.run_dir} RESULTS.jsonl`"
          + _local_note(collector))
    return 0


def _config(args: argparse.Namespace) -> RunConfig:
    """The run config: --config, else the one the run directory holds."""
    if args.config is not None:
        config = load_config(args.config)
    else:
        data = rundir.read_config(args.run_dir)
        if data is None:
            raise HarnessError(f"{args.run_dir / rundir.CONFIG}: no run config; give one with --config FILE")
        config = parse_config(data, str(args.run_dir / rundir.CONFIG))
    return dataclasses.replace(config, out=args.run_dir, progress=False,
                               tasks_dirs=config.tasks_dirs + tuple(args.tasks_dir),
                               prompts_dirs=config.prompts_dirs + tuple(args.prompts_dir))


def _walk_generation(config: RunConfig, args: argparse.Namespace, cache: CallCache) -> None:
    task_list = pipeline.select_tasks(config)
    pipeline.check(config, judging=False, tasks=task_list)
    # What `harness generate` writes first: the run directory explains itself from here on.
    rundir.write_config(args.run_dir, config.to_row())
    rundir.write_questions(args.run_dir, task_list)
    generate_answers(task_list, config.models, cache, config.batch_size)


def _walk_judging(config: RunConfig, args: argparse.Namespace, cache: CallCache) -> None:
    if not (args.run_dir / rundir.ANSWERS).exists():
        raise HarnessError(f"{args.run_dir / rundir.ANSWERS}: no answers to judge yet (export and import "
                           "--stage generate first, or run `harness generate`)")
    ns = argparse.Namespace(judge=args.judge, prompt=None, judge_method=None)
    judges = judge_settings(ns, config.judges)
    tasks = pipeline.run_tasks(args.run_dir, config.tasks_dirs)
    answers = rundir.read_answers(args.run_dir)
    models = list(dict.fromkeys(a.model for a in answers))
    panel = build_judges(judges, prompts_dirs=config.prompts_dirs, tasks=tasks)
    # A local judge would judge right here (a likelihood judge scores without the calls layer's
    # routing); it has nothing to export, and the run judges with it as usual.
    remote = [b for b in panel if getattr(b.backend, "batch_body", None) is not None]
    for built in panel:
        if built not in remote:
            print(f"note: judge {built.settings.spec} calls no endpoint: nothing to export for it "
                  "(`harness run` judges with it)", file=sys.stderr)
    pipeline.ask_panel(remote, tasks=tasks, models=models, answers=answers, cache=cache, make_bar=None)


def _local_note(collector: Collector) -> str:
    if not collector.local:
        return ""
    specs = ", ".join(f"{spec} ({n:,})" for spec, n in sorted(collector.local.items()))
    return f"\nnote: calls of local models are not exported ({specs}): `harness run` makes them"


def _import(args: argparse.Namespace) -> int:
    path = args.run_dir / rundir.CACHE
    if not path.exists():
        raise HarnessError(f"{path}: no call cache; `harness batch export` this run directory first")
    with runlock.hold(args.run_dir, command="batch import"), CallCache(path) as cache:
        result = import_results(cache, args.files)
    print(result.summary())
    if result.failed:
        print("note: calls without a reply stay pending; `harness run` sends them, or export them again",
              file=sys.stderr)
    return 0
