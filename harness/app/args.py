"""The option groups several commands share, and parsed options -> the library's config objects
(options win over a YAML config).

Each command's own options live in its module (``run_command``, ``judge_command``, ...); the groups
here are the ones more than one command offers (run, decoding, judging, remote endpoints, multi-turn
judging), so one flag reads the same wherever it appears.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from harness.app.config import (
    RunConfig,
    check_effort,
    check_value,
    load_config,
    parse_api,
    prior_sd,
    reasoning_tags,
)
from harness.app.output import UNHEALTHY
from harness.core import rundir
from harness.core.errors import HarnessError
from harness.core.types import DecodingParams, ModelConfig
from harness.judges.asking import METHODS as JUDGE_METHODS
from harness.judges.asking import JudgeSettings
from harness.judges.conversation import TURNS
from harness.models.endpoints import ApiConfig
from harness.reports.build import parse_report_formats

PRIOR_HELP = ("Bradley-Terry's prior on each model's log-strength: auto (default) fits by maximum "
              "likelihood, as FastChat and Arena-Hard do, wherever that exists, and adds harness's weak "
              "prior (sd 2) only where a model or group won or lost every battle; inf never adds it; X "
              "adds a prior of sd X to every fit")

DECODING_FLAGS = ("max-new-tokens", "temperature", "top-k", "top-p", "num-beams", "seed")
RUN_FLAGS = ("limit", "batch-size")
API_FLAGS = ("concurrency", "rpm", "tpm", "timeout", "max-retries", "reasoning-budget", "reasoning-cap",
             "max-cost", "max-tokens")


def checked_flags(args: argparse.Namespace, flags: tuple[str, ...]) -> dict[str, Any]:
    """The given ``flags`` by config field name, each checked as its YAML field is, naming the flag.

    Every given value is checked, even one that will not be used (``--temperature`` without
    ``--models``), so a typo never waits for the day it matters.
    """
    values = {}
    for flag in flags:
        key = flag.replace("-", "_")
        if getattr(args, key, None) is not None:
            values[key] = check_value(getattr(args, key), field=key, where=f"--{flag}")
    return values


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Merge a YAML config (if any) with the command-line options; options win."""
    decoding = checked_flags(args, DECODING_FLAGS)
    run = checked_flags(args, RUN_FLAGS)
    config = load_config(args.config) if args.config else RunConfig()
    changes: dict[str, Any] = {**run}
    if args.tasks:
        changes["tasks"] = tuple(args.tasks)
    if getattr(args, "reasoning_effort", None) is not None:
        decoding["reasoning_effort"] = check_effort(args.reasoning_effort, where="--reasoning-effort")
    tags = None
    if getattr(args, "reasoning_tags", None) is not None:
        given = args.reasoning_tags
        if given != ["none"] and (len(given) != 2 or not all(t.strip() for t in given)):
            raise HarnessError(f"--reasoning-tags: expected two markers, OPEN CLOSE (e.g. --reasoning-tags "
                               f"'<think>' '</think>'), or none; got {' '.join(given)!r}")
        tags = () if given == ["none"] else reasoning_tags(given, "--reasoning-tags")
    if args.models:
        params = dataclasses.replace(DecodingParams(), **decoding)
        models = []
        for item in args.models:
            name, eq, spec = item.partition("=")
            if not eq:
                name, spec = item, item
            if not name or not spec:
                raise HarnessError(f"--models {item!r}: expected NAME=SPEC, e.g. base=embedded")
            models.append(ModelConfig(name, spec, params, reasoning_tags=tags))
        changes["models"] = tuple(models)
    if args.out is not None:
        changes["out"] = args.out
    if args.tasks_dir:
        changes["tasks_dirs"] = config.tasks_dirs + tuple(args.tasks_dir)
    if hasattr(args, "prompt"):
        changes["judges"] = judge_settings(args, config.judges)
    if getattr(args, "report", None) is not None:
        changes["report"] = args.report
    if getattr(args, "prompts_dir", None):
        changes["prompts_dirs"] = config.prompts_dirs + tuple(args.prompts_dir)
    if getattr(args, "prior_sd", None) is not None:
        changes["prior_sd"] = prior_sd(args.prior_sd, where="--prior-sd")
    changes.update(stop_options(args, enabled=config.stop_when_decided))
    changes["progress"] = not args.no_progress
    changes["batch_api"] = bool(getattr(args, "batch_api", False))
    changes["batch_poll"] = batch_poll(args)
    changes["api"] = api_from_args(args, config.api)
    return dataclasses.replace(config, **changes)


def stop_options(args: argparse.Namespace, *, enabled: bool = False) -> dict[str, Any]:
    """``--stop-when-decided`` and ``--stop-alpha`` as config fields (those given), checked;
    ``--stop-alpha`` without ``--stop-when-decided`` (on the command line, or ``enabled`` by the
    config) is an error, since it would change nothing."""
    out: dict[str, Any] = {}
    if getattr(args, "stop_when_decided", None):
        out["stop_when_decided"] = True
    if getattr(args, "stop_alpha", None) is not None:
        out["stop_alpha"] = check_value(args.stop_alpha, field="stop_alpha", where="--stop-alpha")
        if not (enabled or out.get("stop_when_decided")):
            raise HarnessError("--stop-alpha: it is the level of --stop-when-decided's test; add "
                               "--stop-when-decided")
    return out


def judge_settings(args: argparse.Namespace, base: tuple[JudgeSettings, ...] = ()
                   ) -> tuple[JudgeSettings, ...]:
    """The judges named on the command line (or ``base``), with --prompt, --judge-method, --turns
    and --turn-prompt applied."""
    judges = tuple(JudgeSettings(spec=s) for s in args.judge) if args.judge else (base or (JudgeSettings(),))
    flags = (("prompt", args.prompt), ("method", args.judge_method),
             ("turns", getattr(args, "turns", None)), ("turn_prompt", getattr(args, "turn_prompt", None)))
    updates = {k: v for k, v in flags if v is not None}
    effort = getattr(args, "judge_reasoning_effort", None)
    if effort is not None:
        effort = check_effort(effort, where="--judge-reasoning-effort")
        return tuple(dataclasses.replace(j, **updates, decoding=dataclasses.replace(
            j.decoding, reasoning_effort=effort)) for j in judges)
    return tuple(dataclasses.replace(j, **updates) for j in judges)


def api_from_args(args: argparse.Namespace, base: ApiConfig | None = None) -> ApiConfig:
    """The run config's api section with the command-line options applied."""
    api = base or ApiConfig()
    given = checked_flags(args, API_FLAGS)
    budget: dict[str, Any] = {k: given.pop(k) for k in ("max_cost", "max_tokens") if k in given}
    changes: dict[str, Any] = {
        "default": dataclasses.replace(api.default, **given),
        "endpoints": {u: dataclasses.replace(s, **given) for u, s in api.endpoints.items()},
        **budget}
    if args.prices is not None:
        changes["prices"] = args.prices.resolve()
    return dataclasses.replace(api, **changes)


def batch_poll(args: argparse.Namespace) -> float:
    """``--batch-poll``, checked (30 seconds when not given)."""
    value = getattr(args, "batch_poll", None)
    if value is None:
        return 30.0
    if not (0 < value <= 86400):
        raise HarnessError(f"--batch-poll: expected seconds in (0, 86400], got {value}")
    return float(value)


def run_api(run_dir: Path) -> ApiConfig | None:
    """The api section (keys' sources, limits, budget) of the run that wrote ``run_dir``."""
    data = rundir.read_config(run_dir)
    raw = data.get("api") if data is not None else None
    return parse_api(raw, f"{run_dir / rundir.CONFIG}: api") if raw is not None else None


def add_run_options(p: argparse.ArgumentParser, *, judge: bool = True, dry_run: bool = False) -> None:
    """``run``'s and ``generate``'s options: what to run, decoding, judging (``judge``) and endpoints."""
    p.add_argument("config", nargs="?", type=Path, help="YAML run config (see README)")
    p.add_argument("--tasks", nargs="+", metavar="ID",
                   help="task ids, or hf:NAME[:CONFIG][@SPLIT] for a Hugging Face dataset (default: all)")
    p.add_argument("--models", nargs="+", metavar="NAME=SPEC",
                   help="candidate models, e.g. base=embedded chatgpt=openai:gpt-4o-mini")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N questions per task")
    p.add_argument("--out", type=Path, metavar="DIR", help="run directory (default runs/<name>)")
    p.add_argument("--tasks-dir", type=Path, action="append", default=[], metavar="DIR",
                   help="extra folder of task files (repeatable)")
    p.add_argument("--batch-size", type=int, metavar="N", help="questions per generation batch (64)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    g = p.add_argument_group("decoding (applies to --models)")
    for name, kind in (("max-new-tokens", int), ("temperature", float), ("top-k", int),
                       ("top-p", float), ("num-beams", int), ("seed", int)):
        g.add_argument(f"--{name}", type=kind, metavar="X")
    g.add_argument("--reasoning-effort", metavar="LEVEL",
                   help="how hard a reasoning model thinks (low, medium, high...), sent to endpoints "
                   "that take it (default: the model's own)")
    g.add_argument("--reasoning-tags", nargs="+", metavar="TAG",
                   help="OPEN CLOSE markers of a leading reasoning block kept apart from the answer "
                   "(default: <think> </think> and a few others), or 'none' to keep replies whole")
    if judge:
        add_judge_options(p)
    add_api_options(p, dry_run=dry_run, batch_api=True)


def add_api_options(p: argparse.ArgumentParser, *, dry_run: bool = False, batch_api: bool = False) -> None:
    """Limits, budget and prices of remote endpoints; ``dry_run`` adds ``--dry-run`` (the commands
    that can plan their calls: run, judge, synth), ``batch_api`` adds ``--batch-api`` (run,
    generate, judge)."""
    g = p.add_argument_group("remote endpoints (openai: models and judges)",
                             "Limits apply per endpoint (base URL); these options override the run "
                             "config's api: section for every endpoint.")
    g.add_argument("--concurrency", type=int, metavar="N", help="requests in flight per endpoint (8)")
    g.add_argument("--rpm", type=float, metavar="N", help="requests per minute per endpoint (no limit)")
    g.add_argument("--tpm", type=float, metavar="N", help="tokens per minute per endpoint (no limit)")
    g.add_argument("--timeout", type=float, metavar="S", help="seconds to wait for one reply (120)")
    g.add_argument("--max-retries", type=int, metavar="N",
                   help="retries after 429/5xx/timeouts/dropped connections (6)")
    g.add_argument("--reasoning-budget", type=int, metavar="N",
                   help="completion tokens a reasoning model gets to think, on top of its "
                   "max_new_tokens (4096)")
    g.add_argument("--reasoning-cap", type=int, metavar="N",
                   help="the most completion tokens one call may take when a reply cut off while "
                   "reasoning is asked again with a larger budget (32768); cut off there, it is an error")
    g.add_argument("--max-cost", type=float, metavar="USD",
                   help="stop before this run's new calls could cost more (cached calls are free)")
    g.add_argument("--max-tokens", type=int, metavar="N",
                   help="stop before this run's new remote calls could use more tokens")
    g.add_argument("--prices", type=Path, metavar="FILE",
                   help="prices file (USD per million tokens) replacing the built-in one")
    if dry_run:
        g.add_argument("--dry-run", action="store_true",
                       help="print the calls, tokens and cost a run would take, and send nothing")
    if batch_api:
        g.add_argument("--batch-api", action="store_true",
                       help="send remote calls through the endpoint's Batch API (OpenAI's Files and "
                       "Batches, Anthropic's Message Batches): about half the price, replies within 24 "
                       "hours. Each batch id is stored in the run directory before waiting, so a run "
                       "stopped while a batch is pending resumes it when started again; --dry-run and "
                       "--max-cost count batch prices. Local models answer as usual")
        g.add_argument("--batch-poll", type=float, metavar="S",
                       help="seconds between status checks of a pending batch (30)")


def add_judge_options(p: argparse.ArgumentParser) -> None:
    """The judging group of ``run`` and ``judge``: judges, prompt, method, turns, health, report."""
    g = p.add_argument_group("judging")
    g.add_argument("--judge", nargs="+", metavar="SPEC",
                   help="judge spec (default: reference:chrf, each answer's chrF against the reference "
                   "answer, no model); a model spec (embedded, openai:MODEL...) asks that model; "
                   "several make a panel (majority verdict)")
    g.add_argument("--prompt", metavar="NAME", help="judge prompt (default: assignment_en); "
                   "see `harness prompts list`")
    g.add_argument("--judge-method", choices=JUDGE_METHODS,
                   help="read the verdict from a generated reply (generate), from label likelihoods "
                   "(likelihood, local models), or from the reply and the endpoint's log-probabilities "
                   "at the verdict position (logprobs: each verdict also gets P(better), P(equal), "
                   "P(worse), and the report a probability-weighted leaderboard; use a one-token prompt "
                   "such as verdict_token_en), or from a JSON reply that holds one label (json: the "
                   "endpoint's structured output; label parsing where it refuses it). "
                   "Default auto: likelihood for local models, else generate")
    g.add_argument("--judge-reasoning-effort", metavar="LEVEL",
                   help="how hard a reasoning judge thinks (low, medium, high...; default: its own)")
    add_turn_options(g)
    g.add_argument("--prompts-dir", type=Path, action="append", default=[], metavar="DIR",
                   help="extra folder of judge prompt files (repeatable)")
    g.add_argument("--require-healthy-judge", action="store_true",
                   help=f"exit {UNHEALTHY} (after writing everything) when a judge's health verdict is "
                   "'do not use' (see the report's Judge health line and its thresholds)")
    g.add_argument("--report", type=report_formats, metavar="LIST",
                   help="report formats written to RUN_DIR/report at the end: html,latex,md (default) "
                   "or none")
    g.add_argument("--prior-sd", metavar="auto|inf|X", help=PRIOR_HELP)
    g.add_argument("--stop-when-decided", action="store_true", default=None,
                   help="judge each model pair's questions in a seeded random order (the run's seed) and "
                   "stop the pair once a test that stays valid however often it is looked at (a mixture "
                   "sequential test on the decisive battles, ties uninformative) names its leader at "
                   "--stop-alpha; a pair it cannot decide is judged on every question. stopping.json and "
                   "the report say where each pair stopped and why")
    g.add_argument("--stop-alpha", type=float, metavar="A",
                   help="the level of --stop-when-decided's test (0.05): two equal models are told apart "
                   "with probability at most A")


def add_turn_options(g: Any) -> None:
    """How multi-turn questions are judged (``run``, ``judge`` and ``bias``)."""
    g.add_argument("--turns", choices=TURNS,
                   help="multi-turn questions: judge each turn (default; turn k with turns 1..k of both "
                   "conversations shown) or only the last turn (the whole conversation shown)")
    g.add_argument("--turn-prompt", metavar="NAME",
                   help="the prompt that judges multi-turn questions (default: the judge prompt if it "
                   "shows conversations, else multiturn_en/multiturn_zh in its language)")


def report_formats(value: str) -> tuple[str, ...]:
    """``--report``'s list, parsed (an argparse type: a bad list is argparse's one-line error)."""
    try:
        return parse_report_formats(value)
    except HarnessError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
