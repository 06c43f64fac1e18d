"""``harness import KIND FILE --run DIR``: other tools' questions, answers, judgments and battles
merged into a run directory, which is then re-rated so ``rate``, ``report`` and ``bias`` work on it.

The format readers live in :mod:`harness.core.interop`; this module merges their records with what
the run holds (importing a file twice adds nothing; the same comparison with another verdict is an
error naming the file and line), writes through :mod:`harness.core.rundir` under the run's lock,
and re-rates. ``harness import labels`` in the generic format is ``harness human import``
(:func:`harness.app.human_command.import_labels`: one code path for labels).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from harness.app import human_command, pipeline
from harness.app.labels import labels_merged
from harness.core import interop, judge_sets, rundir, runlock
from harness.core.errors import HarnessError
from harness.core.interop import Row, TaskQuestion
from harness.core.text import terminal_text
from harness.core.types import Answer, HumanLabel, Judgment, Question, Task
from harness.tasks import formats as task_formats

T = TypeVar("T")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "import", help="merge other tools' questions, answers, judgments or battles into a run",
        description="Read FILE (or every .jsonl/.json file in a folder) in --format and merge its "
        "records into the run directory; judgments and battles re-rate the run (leaderboard.csv), so "
        "`harness report` works after it. Formats and field mappings: docs/interop.md.")
    p.add_argument("kind", choices=(*interop.KINDS, "labels"),
                   help="labels: human labels (generic format: the same as `harness human import`; a "
                   "judge-evaluation set: its own labels, with the questions and answers they label)")
    p.add_argument("file", type=Path)
    p.add_argument("--run", type=Path, required=True, metavar="DIR", help="the run directory (made if new)")
    p.add_argument("--format", default="generic", choices=(*interop.FORMATS, *judge_sets.names()),
                   help="generic (default): harness's field names; fastchat: FastChat llm_judge; "
                   "arena-hard: Arena-Hard-Auto; alpaca_eval: AlpacaEval; judge-evaluation sets, whose "
                   f"labels import as annotators: {judge_sets.helps()}")
    p.add_argument("--task", default="", metavar="ID",
                   help="task of the imported records (default: the benchmark folder above "
                   "model_answer/ or model_judgment/, else the format's name)")
    p.add_argument("--baseline", default=interop.ARENA_HARD_BASELINE, metavar="MODEL",
                   help=f"arena-hard: the baseline model, A in each row's first game "
                   f"({interop.ARENA_HARD_BASELINE}, as Arena-Hard v0.1)")
    p.add_argument("--weight", type=int, metavar="N",
                   help=f"arena-hard battles: battles a strong verdict (A>>B) counts as "
                   f"({interop.ARENA_HARD_WEIGHT}, as Arena-Hard)")
    p.add_argument("--judge", default="", metavar="NAME",
                   help="judge-evaluation sets: the judge of the imported verdicts (default: from the file "
                   "name or path, as each format says in docs/interop.md)")
    p.add_argument("--pairs", type=Path, metavar="FILE",
                   help="pandalm, autoj: the test set a judge's output file answers")
    p.add_argument("--swapped", type=Path, metavar="FILE",
                   help="autoj: the judge's outputs on the swapped pairs (Auto-J's exchange file)")
    return p


def run(args: argparse.Namespace) -> int:
    if args.kind == "labels" and args.format == "generic":  # one code path for labels
        return human_command.import_labels(args)
    if args.kind == "labels" and args.format not in judge_sets.names():
        raise HarnessError(f"harness import labels has no --format {args.format} (labels are read in the "
                           "generic format, task, question_id, model_a, model_b, winner[, annotator], or "
                           f"from a judge-evaluation set: --format {', '.join(judge_sets.names())})")
    weight = args.weight
    if weight is not None and (args.kind, args.format) != ("battles", "arena-hard"):
        raise HarnessError("--weight applies to `harness import battles --format arena-hard` only "
                           "(judgments keep each game's verdict; the run counts each comparison once)")
    if weight is not None and weight < 1:
        raise HarnessError(f"--weight must be a whole number of at least 1, got {weight}")
    judge_set = args.format in judge_sets.names()
    for flag, value in (("--pairs", args.pairs), ("--swapped", args.swapped), ("--judge", args.judge)):
        if value and not judge_set:
            raise HarnessError(f"{flag} applies to judge-evaluation sets only (--format "
                               f"{', '.join(judge_sets.names())})")
    opts = interop.Options(task=args.task, baseline=args.baseline,
                           weight=interop.ARENA_HARD_WEIGHT if weight is None else weight,
                           judge=args.judge, pairs=args.pairs, swapped=args.swapped)
    with _no_collector_pauses():
        return _import(args, opts, judge_set)


@contextlib.contextmanager
def _no_collector_pauses() -> Iterator[None]:
    """Python's cyclic garbage collector paused while an import builds and merges its records: a
    million judgments are millions of objects it would scan again and again (a quarter of the
    time), and records refer to no one, so there are no cycles for it to find."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _import(args: argparse.Namespace, opts: interop.Options, judge_set: bool) -> int:
    if args.kind == "questions":
        read = _questions_file(args)
    elif judge_set:
        read = judge_sets.read(args.kind, args.file, args.format, opts)
    else:
        read = interop.read(args.kind, args.file, args.format, opts)
    if read.self_rows:
        print(f"note: skipped {read.self_rows} rows where model_a == model_b ({args.file})", file=sys.stderr)
    if not read.rows:
        raise HarnessError(f"{args.file}: no {args.kind} in the file")
    with runlock.hold(args.run, command="import", create=True):
        return _merge(args, read.rows)


def _questions_file(args: argparse.Namespace) -> interop.Read[Any]:
    """A question file read exactly as ``--tasks-dir`` reads it (every format detected from its
    rows; ``harness.tasks.formats``), as one task named ``--task`` or the file's stem."""
    if args.format != "generic":
        raise HarnessError(f"harness import questions detects the format from the rows; drop --format "
                           f"{args.format}")
    task = task_formats.read_task_file(args.file, name=args.task or None)
    return interop.Read(tuple(Row(f"{args.file}: question {q.id}",
                                  TaskQuestion(task.id, q, task.language, task.domain))
                              for q in task.questions))


def _merge(args: argparse.Namespace, rows: Sequence[Row[Any]]) -> int:
    """All or nothing: every new file's content is worked out and checked against the run (and the
    config the re-rating reads) before the first write, and a failure after it (the re-rating, a
    full disk) puts every file back (``rundir.all_or_nothing``)."""
    run_dir: Path = args.run
    questions = [r for r in rows if isinstance(r.record, TaskQuestion)]
    answers = [r for r in rows if isinstance(r.record, Answer)]
    judgments = [_placed(r, args.task) for r in rows if isinstance(r.record, Judgment)]
    labels = [r.record for r in rows if isinstance(r.record, HumanLabel)]
    settings = _rating_settings(run_dir) if judgments else {}
    held_tasks = rundir.read_questions(run_dir)
    writes: list[Callable[[], object]] = []
    said = []
    tasks: Sequence[Task] | None = held_tasks
    if questions:
        tasks, line = _questions(run_dir, questions, held_tasks)
        if tasks is not held_tasks:
            writes.append(lambda: rundir.write_questions(run_dir, tasks or []))
        said.append(line)
    turns = rundir.question_turns(tasks)
    if tasks is not held_tasks:
        _check_held_turns(run_dir, questions, turns)
    if answers or judgments:  # a run's report reads answers.jsonl; judgments alone leave it empty
        merged_answers, line = _answers(run_dir, answers)
        if merged_answers is not None:
            writes.append(lambda: rundir.write_answers(run_dir, merged_answers))
        if answers:
            said.append(line)
    all_judgments: list[Judgment] = []
    if judgments:
        all_judgments, changed, line = _judgments(run_dir, judgments, turns)
        if changed:
            writes.append(lambda: rundir.write_judgments(run_dir, all_judgments))
        said.append(line)
        rundir.read_grades(run_dir)  # the re-rating reads them: a bad line is refused before writing
    if labels:
        merged_labels, line = labels_merged(run_dir, labels, source=str(args.file))
        writes.append(lambda: rundir.write_human(run_dir, merged_labels))
        said.append(line)
    with rundir.all_or_nothing(run_dir):
        for write in writes:
            write()
        if judgments:
            # The merged judgments are what judgments.jsonl now holds: rated as they are, not read
            # back (reading a million judgments again was a third of an import's time).
            judged = dict.fromkeys(m for j in all_judgments for m in (j.model_a, j.model_b))
            models = list(dict.fromkeys([*(a.model for a in rundir.read_answers(run_dir)), *judged]))
            rated = pipeline.rate(run_dir, models=models, bootstrap=settings.get("bootstrap", 1000),
                                  elo_rounds=settings.get("elo_rounds", 100), seed=settings.get("seed", 0),
                                  judgments=all_judgments)
            said.append(f"rated {len(rated.battles)} battles of {len(models)} models into "
                        f"{run_dir / rundir.LEADERBOARD_CSV}; `harness report {run_dir}` writes the report")
    for line in said:
        print(terminal_text(line, keep_newlines=False))
    return 0


def _placed(row: Row[Judgment], task: str) -> Row[Judgment]:
    """An imported event (a battle file's row: ``source`` set) is keyed by its file and line, so
    repeated rows are battles each and importing the file again finds the same keys. A published
    battle without a task or question id still needs a place in the run: the task given (or
    ``battles``), and its file and line as the id."""
    j = row.record
    if j.source is not None:
        j = replace(j, source=interop.event_source(row.where, j.source))
    if j.task and j.question_id:
        return Row(row.where, j)
    return Row(row.where, replace(j, task=j.task or task or "battles",
                                  question_id=j.question_id or Path(row.where).name))


def _merged(new: Sequence[Row[T]], held: Sequence[T], key: Callable[[T], Hashable],
            same: Callable[[T, T], bool], what: str, where_held: Path) -> tuple[list[T], int]:
    """``held`` plus the records of ``new`` it lacks; an equal record is skipped (importing twice
    adds nothing), another record under the same key is one error naming the line."""
    have = {key(h): h for h in held}
    first: dict[Hashable, str] = {}
    added: list[T] = []
    for row in new:
        k = key(row.record)
        before = have.get(k)
        if before is not None:
            if not same(before, row.record):
                origin = first.get(k)
                there = f"line {origin.rsplit(':', 1)[-1]} of the file" if origin else str(where_held)
                raise HarnessError(f"{row.where}: {what} {_show(k)} differs from the one {there} holds; "
                                   "nothing was imported")
            continue
        have[k] = row.record
        first[k] = row.where
        added.append(row.record)
    return [*held, *added], len(added)


def _show(key: Hashable) -> str:
    parts = key if isinstance(key, tuple) else (key,)
    return "(" + ", ".join(repr(p) if len(repr(p)) <= 60 else repr(p)[:57] + "..." for p in parts) + ")"


def _questions(run_dir: Path, rows: Sequence[Row[TaskQuestion]], held_tasks: Sequence[Task] | None
               ) -> tuple[Sequence[Task] | None, str]:
    """The run's tasks with the new questions added (``held_tasks`` itself when none is new), and
    the line to print."""
    held = [TaskQuestion(t.id, q, t.language, t.domain) for t in held_tasks or () for q in t.questions]
    merged, added = _merged(rows, held, lambda tq: (tq.task, tq.question.id),
                            lambda x, y: x.question.all_turns == y.question.all_turns,
                            "question (task, id)", run_dir / rundir.QUESTIONS)
    tasks: Sequence[Task] | None = held_tasks
    if added:
        grouped: dict[str, tuple[str, str, list[Question]]] = {}
        for tq in merged:
            grouped.setdefault(tq.task, (tq.language, tq.domain, []))[2].append(tq.question)
        tasks = [Task(t, lang, dom, "", tuple(qs)) for t, (lang, dom, qs) in grouped.items()]
    path = run_dir / rundir.QUESTIONS
    return tasks, f"imported {added} new questions ({len(rows) - added} already there) into {path}"


def _check_held_turns(run_dir: Path, rows: Sequence[Row[TaskQuestion]],
                      turns: dict[tuple[str, str], int]) -> None:
    """A new question must have every turn the run already judged of it (judgments imported before
    their questions), or the run's files would no longer read."""
    where = {(r.record.task, r.record.question.id): r.where for r in rows}
    for name, held in ((rundir.JUDGMENTS, rundir.read_judgments(run_dir)),
                       (rundir.GRADES, rundir.read_grades(run_dir))):
        for record in held:
            try:
                rundir.check_turn(record, turns)
            except ValueError:
                key = (record.task, record.question_id)
                raise HarnessError(f"{where.get(key, run_dir / rundir.QUESTIONS)}: question "
                                   f"{_show(key)} has {turns[key]} turns, but {run_dir / name} judges "
                                   f"its turn {record.turn}; nothing was imported") from None


def _answers(run_dir: Path, rows: Sequence[Row[Answer]]) -> tuple[list[Answer] | None, str]:
    """The run's answers with the new ones added (None: nothing to write), and the line to print."""
    path = run_dir / rundir.ANSWERS
    held = rundir.read_answers(run_dir) if path.is_file() else []
    merged, added = _merged(rows, held, lambda a: (a.model, a.task, a.question_id),
                            lambda x, y: x.all_turns == y.all_turns, "answer (model, task, question_id)",
                            path)
    line = f"imported {added} new answers ({len(rows) - added} already there) into {path}"
    return (merged if added or not path.is_file() else None), line


def _judgments(run_dir: Path, rows: Sequence[Row[Judgment]], turns: dict[tuple[str, str], int]
               ) -> tuple[list[Judgment], bool, str]:
    """The run's judgments with the new ones added, whether that is more than the run held, and the
    line to print; a turn the question does not have is an error naming the row."""
    path = run_dir / rundir.JUDGMENTS
    held = rundir.read_judgments(run_dir)
    rows = _single_turns(rows, turns)
    for row in rows:
        try:
            rundir.check_turn(row.record, turns)
        except ValueError as exc:
            raise HarnessError(f"{row.where}: {exc}; nothing was imported") from None
    merged, added = _merged(rows, held, rundir.judgment_key, lambda x, y: x == y,
                            rundir.JUDGMENT_KEY, path)
    _check_orders(rows, merged)
    line = f"imported {added} new judgments ({len(rows) - added} already there) into {path}"
    return merged, bool(added), line


def _single_turns(rows: Sequence[Row[Judgment]], turns: dict[tuple[str, str], int]) -> list[Row[Judgment]]:
    """FastChat numbers every judgment's turn, 1 for a single-turn question; harness judges that
    question as a whole (turn None), so turn 1 becomes None unless the question has later turns
    (in the run's ``questions.jsonl``, or judged at a later turn in the same file)."""
    multi = {key for key, count in turns.items() if count > 1}
    multi |= {(r.record.task, r.record.question_id) for r in rows if (r.record.turn or 0) > 1}
    return [replace(r, record=replace(r.record, turn=None))
            if r.record.turn == 1 and (r.record.task, r.record.question_id) not in multi else r
            for r in rows]


def _check_orders(rows: Sequence[Row[Judgment]], merged: Sequence[Judgment]) -> None:
    """A comparison is judged in both orders (``ab`` and ``ba``) or once: an ``ab`` without its
    ``ba`` would silently give no battle, and ``once`` beside ``ab``/``ba`` would count twice."""
    orders: dict[tuple[str | int | None, ...], set[str]] = {}
    for j in merged:
        orders.setdefault(rundir.judgment_key(j)[:-1], set()).add(j.order)
    for row in rows:
        have = orders[rundir.judgment_key(row.record)[:-1]]
        if "once" in have and len(have) > 1:
            raise HarnessError(f"{row.where}: field 'order': this comparison has both a verdict seen once "
                               "and a verdict in a given order; nothing was imported")
        if have in ({"ab"}, {"ba"}):
            other = "ba" if have == {"ab"} else "ab"
            raise HarnessError(f"{row.where}: field 'order': {row.record.order!r} without the {other!r} "
                               "judgment of the same comparison (leave order out for a judge that saw the "
                               "pair once); nothing was imported")


def _rating_settings(run_dir: Path) -> dict[str, int]:
    """The run config's bootstrap rounds, Elo rounds and seed, so a re-rate repeats the run's own."""
    config = rundir.read_config(run_dir) or {}
    return {k: v for k in ("bootstrap", "elo_rounds", "seed")
            if isinstance(v := config.get(k), int) and not isinstance(v, bool)}
