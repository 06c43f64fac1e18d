"""``harness recheck RUN_DIR [--judge SPEC] [--sample 0.05] [--seed N]``: ask a judge again.

Re-asks a seeded sample of the run's judge calls without the run's cache
(:mod:`harness.judges.recheck`), keeps the new replies in ``recheck.jsonl`` beside the stored
verdicts (never replacing them), and prints the flip rate with its interval, the agreement and
Cohen's kappa. Holds the run lock (it writes into the run directory).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from harness.app.config import RunConfig, parse_config
from harness.core import rundir, runlock
from harness.core.errors import HarnessError
from harness.core.numbers import SEED_MAX, Bounds, check_number, json_number
from harness.core.text import terminal_text
from harness.judges import prompts as prompt_plugins
from harness.judges.asking import BuiltJudge, JudgeSettings, load_judge
from harness.judges.conversation import load_turn_prompt
from harness.judges.recheck import RecheckResult, recheck, refuse_reference
from harness.models import endpoints
from harness.models.cache import CallCache
from harness.reports.numbers import coefficient, share_of
from harness.tasks import answered_tasks


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("recheck", help="re-ask a sample of a run's judge calls: has the judge changed?",
                       description="Re-asks a seeded sample of one judge's calls (same prompt, order and "
                       "conversation) without the run's cache, keeps the new replies in recheck.jsonl "
                       "beside the stored verdicts (never replacing them), and reports how many verdicts "
                       "flipped (95% Wilson interval), the agreement and Cohen's kappa. Re-running the "
                       "same seed repeats no call; a new seed draws a new sample.")
    p.add_argument("run", type=Path, metavar="RUN_DIR", help="a judged run directory")
    p.add_argument("--judge", metavar="SPEC", help="the judge to recheck (default: the run's only judge)")
    p.add_argument("--sample", type=float, default=0.05, metavar="FRACTION",
                   help="share of the judge's calls to re-ask, in (0, 1] (default 0.05; at least one)")
    p.add_argument("--seed", type=int, default=0, help="which sample (default 0)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--prompts-dir", type=Path, action="append", default=[], metavar="DIR")
    p.add_argument("--tasks-dir", type=Path, action="append", default=[], metavar="DIR")
    return p


def _settings(run_dir: Path, config: RunConfig | None, spec: str | None, judges_seen: list[str]
              ) -> JudgeSettings:
    """The judge as the run's config set it up (decoding, method, prompt), else its defaults."""
    if spec is None:
        if len(judges_seen) != 1:
            raise HarnessError(f"{run_dir}: judges {', '.join(judges_seen) or 'none'}; name one with --judge")
        spec = judges_seen[0]
    if spec not in judges_seen:
        raise HarnessError(f"--judge {spec!r}: no verdicts from it in {run_dir} (judges there: "
                           f"{', '.join(judges_seen) or 'none'})")
    found = [j for j in (config.judges if config else ()) if j.spec == spec]
    return found[0] if found else JudgeSettings(spec=spec)


def run(args: argparse.Namespace) -> int:
    fraction = check_number(args.sample, bounds=Bounds(float, low=0.0, high=1.0, low_open=True),
                            field="sample", where="--sample")
    seed = int(check_number(args.seed, bounds=Bounds(int, low=0, high=SEED_MAX), field="seed",
                            where="--seed"))
    run_dir: Path = args.run
    if not run_dir.is_dir():
        raise HarnessError(f"{run_dir}: no such run directory")
    with runlock.hold(run_dir, command="recheck"):
        judgments = rundir.read_judgments(run_dir)
        raw = rundir.read_config(run_dir)
        config = parse_config(raw, str(run_dir / rundir.CONFIG)) if raw is not None else None
        settings = _settings(run_dir, config, args.judge, list(dict.fromkeys(j.judge for j in judgments)))
        refuse_reference(settings.spec)
        mine = [j for j in judgments if j.judge == settings.spec]
        names = list(dict.fromkeys(j.prompt for j in mine))
        prompt = prompt_plugins.load_prompt(names[0], args.prompts_dir)
        turn_prompt = None
        if any(j.turn is not None for j in mine) and not prompt.turns:
            turn_name = next((n for n in names if n != prompt.name), "")
            turn_prompt = load_turn_prompt(dataclasses.replace(settings, turn_prompt=turn_name), prompt,
                                           args.prompts_dir)
        tasks = answered_tasks(run_dir, args.tasks_dir)
        api = config.api if config else None
        with endpoints.session(api) as sess:
            if (run_dir / rundir.CACHE).is_file():
                # Its calls go around the run's cache, but not what the run learned about the judge's
                # endpoint (refused parameters, the budget its replies need): that is not paid for again.
                with CallCache(run_dir / rundir.CACHE) as learned:
                    sess.adaptations.attach(learned)
            with CallCache(rundir.recheck_cache(run_dir, seed)) as cache:
                answers = rundir.read_answers(run_dir)
                judge = BuiltJudge(settings, load_judge(settings.spec), prompt, turn_prompt)
                result = recheck(judge, judgments, tasks=tasks, answers=answers, cache=cache,
                                 fraction=fraction, seed=seed)
                sent = sum(cache.calls.values())
        rundir.write_recheck(run_dir, seed, result.rows)
    if args.format == "json":
        print(json.dumps(_json(result, sent), indent=1, allow_nan=False, ensure_ascii=False))
    else:
        print(render(result, sent, run_dir))
    return 0


def _json(r: RecheckResult, sent: int) -> dict[str, Any]:
    return {"judge": r.judge, "seed": r.seed, "sample": r.fraction, "n": r.n, "flips": r.flips,
            "flip_rate": json_number(r.flip_rate), "lower": json_number(r.lower),
            "upper": json_number(r.upper), "agreement": json_number(r.agreement),
            "kappa": json_number(r.kappa), "calls": sent}


def render(r: RecheckResult, sent: int, run_dir: Path) -> str:
    return "\n".join([
        f"judge: {terminal_text(r.judge, keep_newlines=False)}",
        f"re-asked: {r.n} judgments (sample {r.fraction:g}, seed {r.seed}; {sent} calls sent now, the rest "
        f"from this seed's earlier recheck)",
        f"flipped: {r.flips} of {r.n} = {share_of(r.flip_rate)} "
        f"[95% CI {share_of(r.lower)}, {share_of(r.upper)}]; "
        f"agreement {share_of(r.agreement)}; Cohen's kappa {coefficient(r.kappa)}",
        f"new replies: {run_dir / rundir.RECHECK} (the stored verdicts are unchanged)"])
