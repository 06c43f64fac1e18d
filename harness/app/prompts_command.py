"""``harness prompts list | show | new | test``: judge prompts, and how well one works with a judge.

``test`` judges a calibration or sanity set (parse rate, accuracy, swap consistency), or a gold set
people labelled (scored as ``harness agreement`` scores a run). Not handled here: prompt files
(:mod:`harness.judges.prompts`) and the sets (:mod:`harness.judges.calibration`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.app import agreement_command
from harness.app.args import add_api_options, api_from_args
from harness.app.dryrun import plan_gold, render_plan
from harness.app.output import print_table
from harness.core import files, rundir, runlock
from harness.core.errors import HarnessError
from harness.judges import prompts as prompt_plugins
from harness.judges.asking import METHODS as JUDGE_METHODS
from harness.judges.asking import BuiltJudge, JudgeSettings, load_judge, recorded_prompt
from harness.judges.calibration import calibrate, gold_agreement, gold_asks, judge_gold, load_gold
from harness.judges.sanity import load_sanity_items
from harness.models import endpoints
from harness.models.budget import load_prices
from harness.models.cache import CallCache
from harness.reports.numbers import share_of


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("prompts", help="list or show judge prompts")
    pr = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    pr.add_parser("list").add_argument("--prompts-dir", type=Path, action="append", default=[])
    ps = pr.add_parser("show")
    ps.add_argument("name")
    ps.add_argument("--prompts-dir", type=Path, action="append", default=[])
    pn = pr.add_parser("new", help="write a commented starter prompt file")
    pn.add_argument("name")
    pn.add_argument("--dir", type=Path, default=Path("prompts"), help="folder to write to (./prompts)")
    pt = pr.add_parser("test", help="parse rate, accuracy and swap consistency on a calibration set")
    pt.add_argument("name")
    pt.add_argument("--judge", nargs=1, required=True, metavar="SPEC", help="the judge to test with")
    pt.add_argument("--judge-method", choices=JUDGE_METHODS)
    pt.add_argument("--prompts-dir", type=Path, action="append", default=[])
    pt.add_argument("--set", dest="item_set", choices=("calibration", "sanity"), default="calibration",
                    help="calibration: clear-cut and equal pairs (default); sanity: coherent answers against "
                    "gibberish, truncated, off-topic, wrong-language and question-only copies")
    pt.add_argument("--out", type=Path, default=Path("runs") / "prompt-tests",
                    help="folder for the call cache (runs/prompt-tests)")
    pt.add_argument("--gold", type=Path, metavar="FILE",
                    help="instead of --set, a pairwise set people labelled (JSONL: question, answer_1, "
                    "answer_2, label 1/2/tie; optional id, input, reference), judged in both orders and "
                    "scored as `harness agreement` scores a run (agreement, kappa, macro-F1, accuracy in "
                    "each order, positional agreement)")
    pt.add_argument("--format", choices=("table", "json", "csv"), default="table",
                    help="with --gold: how to print the figures (as `harness agreement`)")
    pt.add_argument("--dry-run", action="store_true",
                    help="with --gold: print the calls, tokens and cost it would take, and send nothing")
    add_api_options(pt)
    return p


def run(args: argparse.Namespace) -> int:
    if args.action == "new":
        return _new(args)
    if args.action == "test":
        return _test(args)
    if args.action == "list":
        rows = []
        for name in sorted(prompt_plugins.available(args.prompts_dir)):
            p = prompt_plugins.load_prompt(name, args.prompts_dir)
            rows.append((p.name, p.language, p.mode, p.description))
        print_table(("prompt", "lang", "mode", "description"), rows)
    else:
        p = prompt_plugins.load_prompt(args.name, args.prompts_dir)
        print(f"# {p.name} ({p.language}, {p.mode}) from {p.source}\n# hash {p.hash}\n")
        if p.system:
            print(f"[system]\n{p.system}\n")
        print(f"[user]\n{p.user}\n[labels]")
        for label, meaning in p.labels.items():
            print(f"  {label!r} -> {meaning}")
    return 0


def _new(args: argparse.Namespace) -> int:
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


def _test(args: argparse.Namespace) -> int:
    prompt = prompt_plugins.load_prompt(args.name, args.prompts_dir)
    settings = JudgeSettings(spec=args.judge[0], prompt=prompt.name, method=args.judge_method or "auto")
    # No turns prompt: the calibration, sanity and gold sets are single-turn.
    judge = BuiltJudge(settings, load_judge(settings.spec), prompt)
    if args.gold is not None:
        return _gold(args, judge)
    if args.dry_run or args.format != "table":
        raise HarnessError("--dry-run and --format go with --gold (the built-in sets are small and free "
                           "to re-run from the cache)")
    with runlock.hold(args.out, command="prompts test", create=True), \
            CallCache(args.out / rundir.CACHE) as cache:
        items = load_sanity_items() if args.item_set == "sanity" else None
        rows = calibrate(judge, cache=cache, items=items)
    name, _ = recorded_prompt(judge.backend, prompt)
    what = (f"prompt {prompt.name} ({prompt.mode}) with judge {settings.spec}" if name == prompt.name
            else f"judge {settings.spec} (no prompt: each answer is scored against the reference answer)")
    print(f"{what} on the {args.item_set} set\n")
    print_table(("items", "judgments", "parse rate", "accuracy", "swap consistency"),
                 [(r.group, str(r.judgments), share_of(r.parse_rate), share_of(r.accuracy),
                   share_of(r.consistency) if prompt.pairwise else "n/a (single)") for r in rows])
    return 0


def _gold(args: argparse.Namespace, judge: BuiltJudge) -> int:
    prompt, settings = judge.prompt, judge.settings
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
        verdicts = judge_gold(judge, items, cache=cache)
    if args.format == "table":
        print(f"prompt {prompt.name} with judge {settings.spec} on {len(items)} gold pairs from {args.gold}, "
              "each judged in both orders\n")
    agreement_command.show(gold_agreement(items, verdicts, judge=settings.spec), fmt=args.format,
                           source=str(args.gold))
    return 0


