"""Parsed command-line arguments -> the library's config objects (options win over a YAML config)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from harness.app.config import RunConfig, check_decoding, load_config
from harness.core.errors import HarnessError
from harness.core.types import DecodingParams, ModelConfig
from harness.judges.asking import JudgeSettings
from harness.models.endpoints import ApiConfig


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Merge a YAML config (if any) with the command-line options; options win."""
    config = load_config(args.config) if args.config else RunConfig()
    changes: dict[str, Any] = {}
    if args.tasks:
        changes["tasks"] = tuple(args.tasks)
    if args.models:
        overrides = {k.replace("-", "_"): getattr(args, k.replace("-", "_"))
                     for k in ("max-new-tokens", "temperature", "top-k", "top-p", "num-beams", "seed")}
        params = dataclasses.replace(DecodingParams(),
                                     **{k: v for k, v in overrides.items() if v is not None})
        check_decoding(params, "command line")
        models = []
        for item in args.models:
            name, eq, spec = item.partition("=")
            if not eq:
                name, spec = item, item
            if not name or not spec:
                raise HarnessError(f"--models {item!r}: expected NAME=SPEC, e.g. base=embedded")
            models.append(ModelConfig(name, spec, params))
        changes["models"] = tuple(models)
    for key in ("limit", "out", "batch_size"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    if args.tasks_dir:
        changes["tasks_dirs"] = config.tasks_dirs + tuple(args.tasks_dir)
    if hasattr(args, "prompt"):
        changes["judges"] = judge_settings(args, config.judges)
    if getattr(args, "report", None) is not None:
        changes["report"] = args.report
    if getattr(args, "prompts_dir", None):
        changes["prompts_dirs"] = config.prompts_dirs + tuple(args.prompts_dir)
    changes["progress"] = not args.no_progress
    changes["api"] = api_from_args(args, config.api)
    return dataclasses.replace(config, **changes)


def judge_settings(args: argparse.Namespace, base: tuple[JudgeSettings, ...] = ()
                   ) -> tuple[JudgeSettings, ...]:
    """The judges named on the command line (or ``base``), with --prompt / --judge-method applied."""
    judges = tuple(JudgeSettings(spec=s) for s in args.judge) if args.judge else (base or (JudgeSettings(),))
    updates = {k: v for k, v in (("prompt", args.prompt), ("method", args.judge_method)) if v is not None}
    return tuple(dataclasses.replace(j, **updates) for j in judges)


def api_from_args(args: argparse.Namespace, base: ApiConfig | None = None) -> ApiConfig:
    """The run config's api section with the command-line options applied."""
    api = base or ApiConfig()
    limits = {k: getattr(args, k) for k in ("concurrency", "rpm", "tpm", "timeout", "max_retries")
              if getattr(args, k) is not None}
    changes: dict[str, Any] = {
        "default": dataclasses.replace(api.default, **limits),
        "endpoints": {u: dataclasses.replace(s, **limits) for u, s in api.endpoints.items()}}
    for key in ("max_cost", "max_tokens"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    if args.prices is not None:
        changes["prices"] = args.prices.resolve()
    return dataclasses.replace(api, **changes)
