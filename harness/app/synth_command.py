"""``harness synth``: self-instruct or distilled training data for ``harness finetune --data``.

Writes ``OUT`` (Alpaca JSONL), ``OUT``'s ``.summary.json`` (kept, rejected by reason, calls,
tokens, cost, the commonest first words) and keeps every call in ``OUT``'s ``.cache.sqlite``, so a
killed run started again repeats no finished call (:mod:`harness.finetune.synth`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness import tasks as task_plugins
from harness.app.args import add_api_options, api_from_args, checked_flags
from harness.app.dryrun import PlanLine, render_plan
from harness.app.pipeline import progress_factory
from harness.core.errors import HarnessError
from harness.core.files import atomic_write, json_rows, read_text, write_jsonl
from harness.core.numbers import SEED_MAX, Bounds, check_number
from harness.core.text import terminal_text
from harness.core.types import DecodingParams, Task
from harness.finetune.contamination import THRESHOLD, Guard
from harness.finetune.data import task_train_file
from harness.finetune.selfinstruct import (
    LANGUAGES,
    Record,
    SynthPrompt,
    builtin_prompt,
    load_prompt_file,
    read_seed_rows,
)
from harness.finetune.synth import (
    ANSWER_KIND,
    TEACHER_KIND,
    Reject,
    SynthResult,
    SynthSettings,
    answer_request,
    first_words,
    synthesize,
    teacher_request,
)
from harness.models import endpoints
from harness.models.backends import check_spec
from harness.models.budget import estimate_tokens, load_prices
from harness.models.cache import CallCache
from harness.models.usage import cost_of, reply_budget, usage_lines

SUMMARY_SUFFIX = ".summary.json"
REJECTED_SUFFIX = ".rejected.jsonl"
CACHE_SUFFIX = ".cache.sqlite"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "synth", help="self-instruct / distilled training data for harness finetune",
        description="Generate training records with a teacher model and the self-instruct prompt (the "
        "assignment's Appendix B), keeping only blocks that pass every filter: well-formed, no control "
        "character (NUL, ESC...; tab and line feed are fine), instruction and output lengths, no "
        "request a text model cannot serve (image, file, draw...), no overlap with a test question "
        "(its text, its input, or both), and no near-duplicate (ROUGE-L F >= 0.7 against everything "
        "kept and the seeds). Writes Alpaca JSONL that harness finetune --data reads, a summary "
        "beside it, and a cache of every call (a killed run started again repeats no finished call).",
        epilog="example: harness synth --task en_law --teacher openai:gpt-4o-mini --n 500 --out law.jsonl")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--task", metavar="ID", help="seed examples: the task's built-in training set")
    src.add_argument("--seed-file", type=Path, metavar="FILE",
                     help="seed examples: Alpaca records (instruction, input, output) in .jsonl/.json")
    src.add_argument("--instructions", type=Path, metavar="FILE",
                     help="distil from these instructions (.jsonl/.json with instruction[, input]) "
                     "instead of generating them; needs --answers-from")
    p.add_argument("--teacher", metavar="SPEC", help="the model that writes tasks, e.g. openai:gpt-4o-mini")
    p.add_argument("--answers-from", metavar="SPEC",
                   help="distillation: this model answers every kept instruction (its answer is the output)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="output .jsonl")
    p.add_argument("--n", type=int, default=500, help="records to keep (500)")
    p.add_argument("--per-call", type=int, default=20, metavar="N", help="tasks asked for per call (20)")
    p.add_argument("--language", choices=LANGUAGES,
                   help="prompt language, length limits and blocked words (default: the task's, else en)")
    p.add_argument("--prompt", type=Path, metavar="FILE",
                   help="a prompt file replacing the built-in one; it must hold {{ count }} and "
                   "{{ examples }}, and may hold {{ shown }} and {{ start }} (replaced as plain text)")
    p.add_argument("--max-calls", type=int, metavar="N",
                   help="most teacher calls (default: ten times what --n needs if every task were kept)")
    p.add_argument("--calls-per-round", type=int, default=4, metavar="N",
                   help="teacher calls sent together (4); each round's prompts are drawn before its replies")
    p.add_argument("--examples", type=int, default=3, metavar="N", help="examples shown per prompt (3)")
    p.add_argument("--seed", type=int, default=0, help="which examples are drawn (0)")
    p.add_argument("--tasks", nargs="+", metavar="ID",
                   help="test questions no record may overlap (default: every task, with --tasks-dir's)")
    p.add_argument("--overlap-threshold", type=float, default=THRESHOLD,
                   help=f"n-gram overlap with a test question that rejects a record ({THRESHOLD})")
    p.add_argument("--tasks-dir", type=Path, action="append", default=[], metavar="DIR")
    p.add_argument("--blocked-words", type=Path, metavar="FILE",
                   help="more words or phrases an instruction may not contain, one per line (# starts a "
                   "comment), added to the built-in ones (image, file, draw... and their Chinese "
                   "equivalents)")
    p.add_argument("--max-new-tokens", type=int, metavar="N", help="teacher reply limit (3072)")
    p.add_argument("--temperature", type=float, metavar="T", help="teacher temperature (1.0)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_api_options(p, dry_run=True)
    return p


def _positive(value: int, flag: str, high: int | None = None) -> int:
    return int(check_number(value, bounds=Bounds(int, low=1, high=high), field=flag[2:], where=flag))


def settings_from_args(args: argparse.Namespace, language: str) -> SynthSettings:
    given = checked_flags(args, ("max-new-tokens", "temperature"))
    decoding = DecodingParams(**{"max_new_tokens": 3072, "temperature": 1.0, **given})
    seed = check_number(args.seed, bounds=Bounds(int, low=0, high=SEED_MAX), field="seed", where="--seed")
    return SynthSettings(
        teacher=args.teacher, n=_positive(args.n, "--n"),
        per_call=_positive(args.per_call, "--per-call", 100), language=language, seed=int(seed),
        max_calls=_positive(args.max_calls, "--max-calls") if args.max_calls is not None else 0,
        calls_per_round=_positive(args.calls_per_round, "--calls-per-round", 256),
        examples=_positive(args.examples, "--examples", 50), answers_from=args.answers_from,
        decoding=decoding, blocked_extra=read_blocked(args.blocked_words) if args.blocked_words else ())


def read_blocked(path: Path) -> tuple[str, ...]:
    """The words of a ``--blocked-words`` file; a line with no letter or digit is an error naming it."""
    out = []
    for number, line in enumerate(read_text(path, expected="a text file of words").splitlines(), 1):
        word = line.split("#", 1)[0].strip()
        if not word:
            continue
        if not any(c.isalnum() for c in word):
            raise HarnessError(f"{path}:{number}: {word!r} has no letter or digit to match")
        out.append(word)
    return tuple(out)


def _rows(path: Path) -> list[tuple[str, object]]:
    return [(where, row) for where, _, row in json_rows(path, expected="a .jsonl or .json file of records")]


def run(args: argparse.Namespace) -> int:
    if args.instructions is not None and args.answers_from is None:
        raise HarnessError("--instructions needs --answers-from SPEC (the model that answers them)")
    if args.instructions is None and args.teacher is None:
        raise HarnessError("--teacher SPEC is required (the model that writes the tasks), e.g. "
                           "--teacher openai:gpt-4o-mini")
    check_number(args.overlap_threshold, bounds=Bounds(float, low=0, high=1, low_open=True),
                 field="overlap_threshold", where="--overlap-threshold")
    for spec in (args.teacher, args.answers_from):
        if spec is not None:
            check_spec(spec)
    task: Task | None = task_plugins.load_task(args.task, args.tasks_dir) if args.task else None
    language = args.language or (task.language if task else "en")
    settings = settings_from_args(args, language)
    guarded = [task_plugins.load_task(t, args.tasks_dir) for t in args.tasks] if args.tasks else \
        task_plugins.load_tasks(None, args.tasks_dir)
    if task is not None and task.id not in {t.id for t in guarded}:
        guarded.append(task)
    prompt = load_prompt_file(args.prompt) if args.prompt else builtin_prompt(language)
    seeds: list[Record] = []
    instructions = None
    if args.instructions is not None:
        instructions = read_seed_rows(_rows(args.instructions), need_output=False)
        if not instructions:
            raise HarnessError(f"{args.instructions}: no instructions")
    else:
        seed_path = task_train_file(task.id) if task else args.seed_file
        seeds = read_seed_rows(_rows(seed_path))
        if not seeds:
            raise HarnessError(f"{seed_path}: no seed records")
    out: Path = args.out
    if out.is_dir():
        raise HarnessError(f"--out {out}: is a folder; give the .jsonl file to write")
    api = api_from_args(args)
    cache_path = out.with_suffix(CACHE_SUFFIX)
    if args.dry_run:
        print(render_plan(_plan(settings, prompt, seeds, instructions, api), 1, how=(
            f"The teacher is counted at --max-calls ({settings.call_limit}) calls, each reply at its token "
            "limit and each prompt with seed examples only; the loop stops sooner once --n records are "
            "kept, and calls already in the cache cost nothing.")))
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    guard = Guard(guarded, args.overlap_threshold)
    with endpoints.session(api) as sess, CallCache(cache_path) as cache:
        make_bar = progress_factory(not args.no_progress, unit="rec")
        tick = make_bar(settings.n, "synth kept") if make_bar else (lambda n: None)
        result = synthesize(settings=settings, prompt=prompt, seeds=seeds, guard=guard, cache=cache,
                            instructions=instructions, progress=tick)
        usage = usage_lines(cache, sess.prices)
        sent = sum(cache.calls.values())
    write_jsonl(out, [r.to_row() for r in result.records])
    write_jsonl(out.with_suffix(REJECTED_SUFFIX), [r.to_row() for r in result.rejections])
    summary = _summary(result, settings, prompt, usage, sent, out)
    atomic_write(out.with_suffix(SUMMARY_SUFFIX), json.dumps(summary, ensure_ascii=False, indent=1) + "\n")
    print(render(summary, out))
    return 0


def _summary(result: SynthResult, settings: SynthSettings, prompt: SynthPrompt, usage: list[Any],
             sent: int, out: Path) -> dict[str, Any]:
    mine = [u for u in usage if u.stage in (TEACHER_KIND, ANSWER_KIND)]
    costs = [u.cost for u in mine]
    return {
        "out": str(out), "kept": len(result.records), "target": result.target, "reached": result.reached,
        "rejected": {reason.value: result.rejected.get(reason, 0) for reason in Reject},
        "teacher": settings.teacher, "answers_from": settings.answers_from, "prompt": prompt.name,
        "prompt_hash": prompt.hash, "language": settings.language, "seed": settings.seed,
        "rounds": result.rounds, "teacher_calls": result.teacher_calls, "answer_calls": result.answer_calls,
        "calls_sent_now": sent,
        "prompt_tokens": sum(u.prompt_tokens for u in mine),
        "completion_tokens": sum(u.completion_tokens for u in mine),
        "cost_usd": None if any(c is None for c in costs) else round(sum(c or 0.0 for c in costs), 6),
        "first_words": [[w, c] for w, c in first_words(result.records, settings.language)],
    }


def render(summary: dict[str, Any], out: Path) -> str:
    rejected = ", ".join(f"{k} {v}" for k, v in summary["rejected"].items() if v) or "none"
    cost = summary["cost_usd"]
    words = ", ".join(f"{w} ({c})" for w, c in summary["first_words"]) or "none"
    lines = [
        f"kept {summary['kept']} of {summary['target']} records"
        + ("" if summary["reached"] else " (stopped at --max-calls or out of instructions)"),
        f"rejected: {rejected}",
        f"calls: {summary['teacher_calls']} teacher, {summary['answer_calls']} answer "
        f"({summary['calls_sent_now']} sent now, the rest from the cache); tokens: "
        f"{summary['prompt_tokens']:,} prompt, {summary['completion_tokens']:,} reply; cost: "
        + ("unknown price" if cost is None else f"${cost:.4f}"),
        f"commonest first words: {terminal_text(words, keep_newlines=False)}",
        f"records: {out}  (harness finetune --data {out})",
        f"summary: {out.with_suffix(SUMMARY_SUFFIX)}; rejected blocks: {out.with_suffix(REJECTED_SUFFIX)}",
    ]
    return "\n".join(lines)


def _plan(settings: SynthSettings, prompt: SynthPrompt, seeds: list[Record],
          instructions: list[Record] | None, api: endpoints.ApiConfig) -> list[PlanLine]:
    """At most ``call_limit`` teacher calls, each about as long as a prompt with seed examples, and
    at most ``n`` answer calls with distillation: an upper bound, calls already cached included."""
    prices = load_prices(api.prices)
    lines = []
    if instructions is None and settings.teacher is not None:
        shown = seeds[: settings.examples]
        text = prompt.render(count=settings.per_call + len(shown), examples=shown, start=len(shown) + 1)
        one = teacher_request(settings, prompt, text, 0, 0)
        calls = settings.call_limit
        tokens = estimate_tokens(one["messages"]) * calls
        each, reasoning = reply_budget(settings.teacher, settings.decoding.max_new_tokens, api)
        reply = each * calls
        lines.append(PlanLine("synth", "teacher", settings.teacher, calls, 0, tokens, reply,
                              cost_of(settings.teacher, tokens, reply, prices), reasoning))
    if settings.answers_from is not None:
        asked = (instructions or [Record("x" * 200, "", "")])[: settings.n]
        requests = [answer_request(settings, r) for r in asked]
        calls = settings.n
        tokens = max(estimate_tokens(r["messages"]) for r in requests) * calls
        each, reasoning = reply_budget(settings.answers_from, settings.answer_decoding.max_new_tokens, api)
        reply = each * calls
        lines.append(PlanLine("synth", "answers", settings.answers_from, calls, 0, tokens, reply,
                              cost_of(settings.answers_from, tokens, reply, prices), reasoning))
    return lines
