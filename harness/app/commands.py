"""What each CLI command does with its parsed arguments (printing included)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness import tasks as task_plugins
from harness.app import (
    agreement_command,
    alpaca_figures,
    compare_command,
    finetune_command,
    human_command,
    import_command,
    pipeline,
    recheck_command,
    synth_command,
)
from harness.app.args import api_from_args, config_from_args, judge_settings
from harness.app.config import parse_api, prior_sd
from harness.app.dryrun import plan_gold, plan_judging, plan_run, render_plan
from harness.app.labels import merge_labels, read_labels
from harness.core import files, rundir, runlock
from harness.core.errors import HarnessError
from harness.core.interop import read_battle_file
from harness.core.numbers import SEED_MAX, Bounds, check_number
from harness.core.text import csv_text, terminal_text
from harness.core.types import Battle
from harness.judges import prompts as prompt_plugins
from harness.judges.asking import Judge, JudgeSettings, load_judge, recorded_prompt
from harness.judges.bias import bias
from harness.judges.calibration import calibrate, gold_agreement, gold_asks, judge_gold, load_gold
from harness.judges.sanity import load_sanity_items
from harness.models import endpoints
from harness.models.budget import load_prices
from harness.models.cache import CallCache
from harness.models.endpoints import ApiConfig
from harness.reports.build import parse_report_formats, write_report
from harness.reports.markdown import bias_markdown
from harness.stats.bradley_terry import RatingResult
from harness.stats.health import Health
from harness.stats.ratings import baseline_scores, head_to_head, pair_records, rate_battles
from harness.stats.significance import pair_tests


def dispatch(args: argparse.Namespace) -> int:
    handler = {"run": cmd_run, "generate": cmd_generate, "judge": cmd_judge, "rate": cmd_rate,
               "bias": cmd_bias, "human": cmd_human, "report": cmd_report,
               "finetune": _finetune, "tasks": cmd_tasks, "prompts": cmd_prompts,
               "import": _import, "agreement": agreement_command.run,
               "compare-judges": compare_command.run, "recheck": recheck_command.run,
               "synth": synth_command.run}[args.command]
    return handler(args)


def _finetune(args: argparse.Namespace) -> int:
    return finetune_command.run(args)


def _import(args: argparse.Namespace) -> int:
    """``harness import``; ``import labels`` is ``human import`` (one code path for labels)."""
    if args.kind == "labels" and args.format == "generic":
        return cmd_human(args)
    return import_command.run(args)


UNHEALTHY = 3
"""Exit status of ``run`` / ``judge --require-healthy-judge`` when a judge is "do not use"."""


def _health_status(args: argparse.Namespace, result: pipeline.RunResult) -> int:
    """0, or :data:`UNHEALTHY` with one line per unusable judge when the user asked for healthy judges."""
    bad = [h for h in result.health if h.health is Health.AVOID]
    if not getattr(args, "require_healthy_judge", False) or not bad:
        return 0
    for h in bad:
        print(f"harness: judge health: {terminal_text(h.line())}", file=sys.stderr)
    print(f"harness: --require-healthy-judge: {len(bad)} judge(s) marked 'do not use'; everything was "
          f"written to {result.run_dir}", file=sys.stderr)
    return UNHEALTHY


def _summary(result: pipeline.RunResult | pipeline.Generated) -> None:
    calls = ", ".join(f"{k} {v}" for k, v in sorted(result.calls.items())) or "none"
    hits = sum(result.hits.values())
    print(f"\nmodel calls: {calls}; cached: {hits}; run directory: {result.run_dir}",
          file=sys.stderr)
    report = result.report if isinstance(result, pipeline.RunResult) else None
    if report is not None:
        written = [p for p in (report.html, report.latex, report.markdown, report.json) if p]
        print(f"report: {', '.join(str(p) for p in written)}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.dry_run:
        pipeline.check(config)
        print(render_plan(plan_run(config, pipeline.select_tasks(config)),
                          max(j.max_attempts for j in config.judges)))
        return 0
    result = pipeline.run(config)
    print(terminal_text(result.markdown))  # names in it are the user's text
    _summary(result)
    return _health_status(args, result)


def cmd_generate(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    result = pipeline.generate(config)
    print(f"wrote {config.run_dir / rundir.ANSWERS}")
    _summary(result)
    return 0


def cmd_judge(args: argparse.Namespace) -> int:
    task_list = pipeline.run_tasks(args.run_dir, args.tasks_dir)  # questions.jsonl, else the task files
    judges, api = judge_settings(args), api_from_args(args, _run_api(args.run_dir))
    if args.dry_run:
        lines = plan_judging(args.run_dir, judges, task_list, args.prompts_dir, load_prices(api.prices), api)
        print(render_plan(lines, max(j.max_attempts for j in judges)))
        return 0
    prior = None if args.prior_sd is None else prior_sd(args.prior_sd, where="--prior-sd")
    result = pipeline.judge(args.run_dir, judges=judges, tasks=task_list, prompts_dirs=args.prompts_dir,
                            progress=not args.no_progress, api=api, tasks_dirs=args.tasks_dir, prior_sd=prior,
                            **({} if args.report is None else {"report": args.report}))
    print(terminal_text(result.markdown))  # names in it are the user's text
    _summary(result)
    return _health_status(args, result)


def cmd_bias(args: argparse.Namespace) -> int:
    args.judge = [args.judge]
    settings = judge_settings(args)[0]
    task_list = pipeline.run_tasks(args.run, args.tasks_dir)
    result = bias(args.run, settings, task_list, args.probes,
                  args.prompts_dir, args.perturber, args.model, args.seed,
                  api_from_args(args, _run_api(args.run)))
    print(terminal_text("\n".join(bias_markdown(result))))
    print(f"\n{result.perturbations} altered answers in {args.run / rundir.PERTURBATIONS}; figures "
          f"in {args.run / rundir.BIAS_CSV}; `harness report {args.run}` puts them in the reports",
          file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    formats = parse_report_formats(args.format)
    files = write_report(args.run_dir, formats=formats, out=args.out, cjk=args.cjk, tasks_dirs=args.tasks_dir,
                         pdf=args.pdf)
    for path in (files.html, files.latex, files.markdown, files.json, files.pdf):
        if path is not None:
            print(f"wrote {path}")
    return 0


def cmd_human(args: argparse.Namespace) -> int:
    # No run lock for serve and export: the vote store's SQLite handles concurrent writers.
    if getattr(args, "action", "import") in ("serve", "export"):
        return human_command.serve(args) if args.action == "serve" else human_command.export(args)
    with runlock.hold(args.run, command="human import"):
        return _human_import(args)


def _human_import(args: argparse.Namespace) -> int:
    answers = rundir.read_answers(args.run)
    judged = [(j.task, j.question_id, m) for j in rundir.read_judgments(args.run)
              for m in (j.model_a, j.model_b)]
    labels = read_labels(args.file, answers, judged)
    print(merge_labels(args.run, labels, source=str(args.file)))
    return 0


def _run_api(run_dir: Path) -> ApiConfig | None:
    """The api section (keys' sources, limits, budget) of the run that wrote ``run_dir``."""
    data = rundir.read_config(run_dir)
    raw = data.get("api") if data is not None else None
    return parse_api(raw, f"{run_dir / rundir.CONFIG}: api") if raw is not None else None


def cmd_rate(args: argparse.Namespace) -> int:
    anchor = None
    if args.anchor:
        name, eq, value = args.anchor.rpartition("=")
        try:
            anchor = (name, check_number(float(value), bounds=Bounds(float), field="anchor",
                                         where=f"--anchor {args.anchor!r}"))
        except ValueError:
            eq = ""
        if not eq or not name:
            raise HarnessError(f"--anchor {args.anchor!r}: expected MODEL=RATING, e.g. gpt-4=1200")
    if args.bootstrap < 0:
        raise HarnessError(f"--bootstrap must be 0 or more, got {args.bootstrap}")
    if args.alpaca_gamed is not None and args.baseline is None:
        raise HarnessError("--alpaca-gamed goes with --baseline MODEL (the length-controlled win rate is "
                           "against a baseline)")
    if args.alpaca_gamed is not None and not args.alpaca_gamed.is_file():
        raise HarnessError(f"--alpaca-gamed {args.alpaca_gamed}: no such file")
    if args.baseline is not None:
        if anchor is not None:
            raise HarnessError("--baseline pins the baseline's rating at --initial (as Arena-Hard does); "
                               "give --anchor or --baseline, not both")
        anchor = (args.baseline, float(args.initial))
    for option, bounds in _RATE_BOUNDS.items():
        check_number(getattr(args, option), bounds=bounds, field=option, where=f"--{option}")
    # Published battle files (Arena-Hard's, Chatbot Arena's) hold rows where a model meets itself;
    # they say nothing about a rating, so they are skipped and counted, and the rest is rated.
    published = read_battle_file(args.battles)
    if published.self_rows:
        print(f"note: skipped {published.self_rows} rows where model_a == model_b ({args.battles})",
              file=sys.stderr)
    battles = [row.record for row in published.rows]
    if not battles:
        raise HarnessError(f"{args.battles}: no battles")
    if args.soft:
        hard = sum(b.soft is None for b in battles)
        if hard == len(battles):
            raise HarnessError(f"{args.battles}: --soft needs battles with probabilities (field 'soft'), "
                               "and none has them; judge with --judge-method logprobs")
        if hard:
            print(f"note: {hard} of {len(battles)} battles have no probabilities; --soft counts them by "
                  f"their winner ({args.battles})", file=sys.stderr)
    named = sorted({m for b in battles for m in (b.model_a, b.model_b)})
    if args.baseline is not None and args.baseline not in named:
        raise HarnessError(f"--baseline {args.baseline!r}: that model has no battles in {args.battles}; "
                           f"models: {', '.join(named)}")
    result = _rate(battles, args, anchor)
    if result.separation:  # on stderr: the table and the JSON stay as they are for scripts
        print(f"note: {terminal_text(result.note(), keep_newlines=False)}", file=sys.stderr)
    tests = pair_tests(pair_records(battles, list(result.models)))
    ranks = result.rank()
    order = sorted(range(len(result.models)), key=lambda k: -result.ratings[k])
    rows: list[dict[str, Any]] = [
        {"rank": ranks[k], "model": result.models[k], "rating": round(float(result.ratings[k]), 2),
         "lower": round(float(result.lower[k]), 2), "upper": round(float(result.upper[k]), 2)}
        for k in order]
    if args.baseline is not None:
        # Arena-Hard rounds its scores to two decimals (and prints one).
        scores = {s.model: s for s in baseline_scores(result, args.baseline, scale=args.scale,
                                                      base=args.base)}
        h2h = {h.model: h for h in head_to_head(battles, args.baseline)}
        lc = alpaca_figures.length_controlled_rates(battles, args.baseline, run_dir=args.battles.parent,
                                                    gamed=args.alpaca_gamed)
        print(f"note: {lc.line}", file=sys.stderr)
        for row in rows:
            got = scores[row["model"]]
            row.update(score=round(got.score, 2), score_lower=round(got.lower, 2),
                       score_upper=round(got.upper, 2))
            # AlpacaEval's head-to-head figures, unrounded as its leaderboards publish them.
            h = h2h.get(row["model"])
            row.update({k: (None if h is None else getattr(h, k)) for k in H2H_FIELDS})
            got_lc = lc.rates.get(row["model"])
            row.update(length_controlled_win_rate=None if got_lc is None else got_lc.win_rate,
                       lc_standard_error=None if got_lc is None else got_lc.standard_error)
    if args.format == "json":
        with np.errstate(over="ignore"):  # a win probability past float range is 0 or 1, as it should be
            wm = result.win_matrix(args.scale, args.base)
        # allow_nan=False: the ratings were checked finite, and JSON has no NaN or Infinity.
        print(json.dumps({"method": args.method, "soft": args.soft, "bootstrap": args.bootstrap,
                          **({"baseline": args.baseline, "lc_variant": lc.variant}
                             if args.baseline is not None else {}),
                          "ratings": rows,
                          "win_matrix": {a: {b: round(float(wm[i, j]), 4)
                                             for j, b in enumerate(result.models)}
                                         for i, a in enumerate(result.models)},
                          "pairs": [t.__dict__ | {"separable": t.separable} for t in tests]},
                         ensure_ascii=False, indent=2, allow_nan=False))
    elif args.format == "csv":
        sys.stdout.write(csv_text([tuple(rows[0]), *(tuple("" if v is None else v for v in row.values())
                                                      for row in rows)]))
    else:
        scored = args.baseline is not None
        _print_table(("rank", "model", "rating", "95% CI",
                      *((f"score vs {args.baseline} (%)", "95% CI", "win rate (%)", "SE", "discrete (%)",
                         "n", "LC win rate (%)") if scored else ())),
                     [(str(r["rank"]), str(r["model"]), f"{r['rating']:.1f}",
                       f"[{r['lower']:.1f}, {r['upper']:.1f}]",
                       *((f"{r['score']:.1f}", f"[{r['score_lower']:.1f}, {r['score_upper']:.1f}]",
                          *_h2h_cells(r)) if scored else ())) for r in rows])
        print()
        _print_table(("model", "opponent", "win", "tie", "lose", "p (sign test)", "separable"),
                     [(t.model, t.opponent, str(t.wins), str(t.ties), str(t.losses), f"{t.p_value:.3g}",
                       "yes" if t.separable else "no") for t in tests])
    return 0


H2H_FIELDS = ("win_rate", "standard_error", "discrete_win_rate", "n_wins", "n_wins_base", "n_draws",
              "n_total")
"""AlpacaEval's head-to-head figures against the baseline (``stats.ratings.head_to_head``)."""


def _h2h_cells(row: dict[str, Any]) -> tuple[str, ...]:
    if row["win_rate"] is None:  # the baseline itself
        return ("", "", "", "", "")
    se, lc = row["standard_error"], row["length_controlled_win_rate"]
    return (f"{row['win_rate']:.1f}", "n/a" if math.isnan(se) else f"{se:.1f}",
            f"{row['discrete_win_rate']:.1f}", str(row["n_total"]), "n/a" if lc is None else f"{lc:.1f}")


# base: 1 has no logarithm, and below 1 a stronger model would get a lower rating.
_RATE_BOUNDS = {"seed": Bounds(int, low=0, high=SEED_MAX), "k": Bounds(float, low=0, low_open=True),
                "base": Bounds(float, low=1, low_open=True), "scale": Bounds(float, low=0, low_open=True),
                "initial": Bounds(float)}


def _rate(battles: Sequence[Battle], args: argparse.Namespace, anchor: tuple[str, float] | None
          ) -> RatingResult:
    """``rate_battles`` with the command's options; ratings that leave float range (a huge --k or
    --initial, a tiny --scale) are one error naming the options, not an OverflowError or NaN."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # checked below, once, for the user
            result = rate_battles(battles, args.method, bootstrap=args.bootstrap, seed=args.seed,
                                  anchor=anchor, k=args.k, base=args.base, scale=args.scale,
                                  initial=args.initial, soft=args.soft,
                                  prior_sd=None if args.prior_sd is None else prior_sd(args.prior_sd,
                                                                                       where="--prior-sd"))
    except OverflowError:  # online Elo's base ** (difference / scale), in Python floats
        result = None
    if result is None or not all(np.isfinite(x).all() for x in (result.ratings, result.lower, result.upper)):
        used = " ".join(f"--{o} {float(getattr(args, o))!r}" for o in ("k", "base", "scale", "initial")
                        if o != "k" or args.method == "elo")
        raise HarnessError(f"--method {args.method}: the ratings overflow (not finite numbers) with {used}"
                           f"{f' --anchor {args.anchor!r}' if anchor else ''}; use smaller values")
    return result


def cmd_tasks(args: argparse.Namespace) -> int:
    if args.action == "list":
        rows = [(t.id, t.language, t.domain, str(len(t.questions)), t.description)
                for t in task_plugins.load_tasks(None, args.tasks_dir)]
        _print_table(("task", "lang", "domain", "questions", "description"), rows)
    elif args.action == "show":
        task = task_plugins.load_task(args.task, args.tasks_dir)
        print(f"{task.id} ({task.language}, {task.domain}): {task.description}\nsource: {task.source}\n")
        for q in task.questions:
            if not q.is_multi_turn:
                print(f"[{q.id}] ({q.category}) {q.question}")
                if q.input:
                    print(f"    input: {q.input}")
                print(f"    reference: {q.reference or '(none)'}\n")
                continue
            print(f"[{q.id}] ({q.category}) {len(q.all_turns)} turns")
            if q.input:
                print(f"    input: {q.input}")
            references = (q.reference, *(q.turn_references or [""] * len(q.turns)))
            for n, (turn, reference) in enumerate(zip(q.all_turns, references), 1):
                print(f"    turn {n}: {turn}\n    reference {n}: {reference or '(none)'}")
            print()
    else:
        for path in args.paths:
            spec = str(path)
            task = (task_plugins.load_task(spec) if spec.startswith(task_plugins.HUB_PREFIX)
                    else task_plugins.load_task_file(path))
            n = len(task.questions)
            print(f"{path}: ok ({n} question{'' if n == 1 else 's'})")
    return 0


def cmd_prompts(args: argparse.Namespace) -> int:
    if args.action == "new":
        return _prompts_new(args)
    if args.action == "test":
        return _prompts_test(args)
    if args.action == "list":
        rows = []
        for name in sorted(prompt_plugins.available(args.prompts_dir)):
            p = prompt_plugins.load_prompt(name, args.prompts_dir)
            rows.append((p.name, p.language, p.mode, p.description))
        _print_table(("prompt", "lang", "mode", "description"), rows)
    else:
        p = prompt_plugins.load_prompt(args.name, args.prompts_dir)
        print(f"# {p.name} ({p.language}, {p.mode}) from {p.source}\n# hash {p.hash}\n")
        if p.system:
            print(f"[system]\n{p.system}\n")
        print(f"[user]\n{p.user}\n[labels]")
        for label, meaning in p.labels.items():
            print(f"  {label!r} -> {meaning}")
    return 0


def _print_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    if not rows:
        raise HarnessError("nothing to list")
    # Cells hold the user's text (model names, descriptions): one line each, no terminal escapes.
    lines = [tuple(terminal_text(c, keep_newlines=False) for c in row) for row in [header, *rows]]
    widths = [max(len(r[i]) for r in lines) for i in range(len(header) - 1)]
    for row in lines:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])


def _prompts_new(args: argparse.Namespace) -> int:
    if not args.name.replace("_", "").replace("-", "").isalnum():
        raise HarnessError(f"prompt name {args.name!r}: use letters, digits, '_' and '-' only")
    target = args.dir / f"{args.name}.yaml"
    if target.exists():
        raise HarnessError(f"{target}: already exists; not overwritten")
    starter = Path(prompt_plugins.__file__).with_name("_starter.yaml").read_text(encoding="utf-8")
    args.dir.mkdir(parents=True, exist_ok=True)
    files.atomic_write(target, starter)
    prompt_plugins.load_prompt_file(target)  # the starter must be valid as written
    print(f"wrote {target}\ntry it: harness prompts test {args.name} --prompts-dir {args.dir} "
          "--judge SPEC")
    return 0


def _prompts_test(args: argparse.Namespace) -> int:
    prompt = prompt_plugins.load_prompt(args.name, args.prompts_dir)
    settings = JudgeSettings(spec=args.judge[0], prompt=prompt.name, method=args.judge_method or "auto")
    judge = load_judge(settings.spec)
    if args.gold is not None:
        return _prompts_gold(args, prompt, settings, judge)
    if args.dry_run or args.format != "table":
        raise HarnessError("--dry-run and --format go with --gold (the built-in sets are small and free "
                           "to re-run from the cache)")
    with runlock.hold(args.out, command="prompts test", create=True), \
            CallCache(args.out / rundir.CACHE) as cache:
        items = load_sanity_items() if args.item_set == "sanity" else None
        rows = calibrate(prompt, judge, settings, cache, items)
    name, _ = recorded_prompt(judge, prompt)
    what = (f"prompt {prompt.name} ({prompt.mode}) with judge {settings.spec}" if name == prompt.name
            else f"judge {settings.spec} (no prompt: each answer is scored against the reference answer)")
    print(f"{what} on the {args.item_set} set\n")
    _print_table(("items", "judgments", "parse rate", "accuracy", "swap consistency"),
                 [(r.group, str(r.judgments), _percent(r.parse_rate), _percent(r.accuracy),
                   _percent(r.consistency) if prompt.pairwise else "n/a (single)") for r in rows])
    return 0


def _prompts_gold(args: argparse.Namespace, prompt: prompt_plugins.JudgePrompt, settings: JudgeSettings,
                  judge: Judge) -> int:
    if args.item_set != "calibration":
        raise HarnessError("--set and --gold are two different item sets; give one")
    items = load_gold(args.gold)
    gold_asks(prompt, items)  # a single-grading prompt is refused before anything is sent
    api = api_from_args(args)
    if args.dry_run:
        print(render_plan(plan_gold(settings, prompt, items, args.out, load_prices(api.prices), api),
                          settings.max_attempts))
        return 0
    with runlock.hold(args.out, command="prompts test", create=True), endpoints.session(api), \
            CallCache(args.out / rundir.CACHE) as cache:
        verdicts = judge_gold(prompt, judge, settings, cache, items)
    if args.format == "table":
        print(f"prompt {prompt.name} with judge {settings.spec} on {len(items)} gold pairs from {args.gold}, "
              "each judged in both orders\n")
    agreement_command.show(gold_agreement(items, verdicts, judge=settings.spec), fmt=args.format,
                           source=str(args.gold))
    return 0


def _percent(x: float) -> str:
    """A share as '12.3%', or 'n/a' when undefined (NaN)."""
    return "n/a" if math.isnan(x) else f"{100 * x:.1f}%"
