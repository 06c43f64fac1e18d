"""Parsed command-line arguments -> the library's config objects (options win over a YAML config)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from harness.app.config import RunConfig, check_effort, check_value, load_config, prior_sd, reasoning_tags
from harness.core.errors import HarnessError
from harness.core.types import DecodingParams, ModelConfig
from harness.judges.asking import JudgeSettings
from harness.models.endpoints import ApiConfig

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
    changes["progress"] = not args.no_progress
    changes["api"] = api_from_args(args, config.api)
    return dataclasses.replace(config, **changes)


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
