"""``harness tasks list | show TASK | validate FILE...``: the built-in and the user's tasks.

Not handled here: reading task files (:mod:`harness.tasks`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness import tasks as task_plugins
from harness.app.output import print_table


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("tasks", help="list, show or validate tasks")
    t = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    t.add_parser("list", help="every task with its question count").add_argument(
        "--tasks-dir", type=Path, action="append", default=[])
    show = t.add_parser("show", help="a task's questions")
    show.add_argument("task")
    show.add_argument("--tasks-dir", type=Path, action="append", default=[])
    t.add_parser("validate", help="check task files (.yaml, .jsonl, .json, .csv) or hf:NAME").add_argument(
        "paths", nargs="+", type=Path, metavar="FILE")
    return p


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        rows = [(t.id, t.language, t.domain, str(len(t.questions)), t.description)
                for t in task_plugins.load_tasks(None, args.tasks_dir)]
        print_table(("task", "lang", "domain", "questions", "description"), rows)
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
